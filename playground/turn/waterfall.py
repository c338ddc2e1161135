"""Where the milliseconds of a spoken turn went, from the end of the user's speech.

A spoken turn passes through stages in order: the speech-to-text engine's final transcript, the
request to the model, its first token, the first sentence complete, the voice's first byte, the
first *audible* sample (the voice's leading silence measured, not counted as sound), and the
player starting it. Each stage is a bar from where the previous one ended to where it ended, so
the widest bar is the slowest stage. ``voice_to_voice_ms`` is end of speech -> first audible
sample playing: the number voice platforms publish.

``VoiceWaterfall`` is plain state on the monotonic clock: the voice surface sets the speech and
transcript instants, feeds the turn's events with ``observe`` and, when the player reports it,
``playback_started``; ``payload()`` is what the wire carries.

    >>> w = VoiceWaterfall(speech_ended_at=10.0)
    >>> w.transcript_at = 10.2
    >>> w.request_at = 10.25
    >>> [s.name for s in w.stages()]
    ['transcript', 'request']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playground.turn.events import AudioReady, Event, TextChunk

__all__ = ["STAGES", "Stage", "VoiceWaterfall"]

# (name, label), in the order a spoken turn passes through them.
STAGES: tuple[tuple[str, str], ...] = (
    ("transcript", "Transcript final"),
    ("request", "Request sent"),
    ("first_token", "First token"),
    ("first_sentence", "First sentence complete"),
    ("tts_first_byte", "Voice's first byte"),
    ("first_audible", "First audible sample"),
    ("playback", "Playback started"),
)


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    label: str
    start_ms: float  # since the end of the user's speech
    end_ms: float

    @property
    def ms(self) -> float:
        return round(self.end_ms - self.start_ms, 1)


@dataclass
class VoiceWaterfall:
    """One spoken turn's instants (``time.monotonic()``); None until reached."""

    speech_ended_at: float
    transcript_at: float | None = None
    request_at: float | None = None
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    tts_first_byte_at: float | None = None
    first_audible_at: float | None = None
    playback_at: float | None = None
    # The first audio's leading silence: playback of sound starts this much after playback.
    leading_silence_ms: float = 0.0

    def observe(self, event: Event) -> None:
        """Take the instants a turn's events carry (their ``t_ms`` count from the request)."""
        if self.request_at is None:
            return
        if isinstance(event, TextChunk) and self.first_token_at is None:
            self.first_token_at = self._at(event.t_ms)
        elif isinstance(event, AudioReady) and self.first_audible_at is None:
            ready = self._at(event.t_ms)
            self.first_sentence_at = self._at(event.t_ms - event.synth_ms)
            first_byte = event.first_byte_ms
            self.tts_first_byte_at = self._at(first_byte) if first_byte is not None else ready
            self.leading_silence_ms = event.leading_silence_ms or 0.0
            # Ready to play now; its first sound comes after its leading silence.
            self.first_audible_at = ready + self.leading_silence_ms / 1000.0

    def playback_started(self, at: float) -> None:
        """The player started the first audio (reported by the page or the client)."""
        if self.playback_at is None:
            self.playback_at = at

    def stages(self) -> list[Stage]:
        """The stages reached so far, each from the end of the one before it."""
        stages: list[Stage] = []
        previous = 0.0
        for name, label in STAGES:
            at = getattr(self, f"{name}_at")
            if at is None:
                continue
            end = self._ms(at)
            if name == "playback":
                # Sound starts after the audio's leading silence, not when the player starts.
                end = round(end + self.leading_silence_ms, 1)
            end = max(end, previous)  # stamps of a stage skipped by the turn never go back
            stages.append(Stage(name, label, previous, end))
            previous = end
        return stages

    @property
    def voice_to_voice_ms(self) -> float | None:
        """End of speech -> first audible sample playing: measured in the player when it
        reported, else when the server had it ready to play."""
        stages = {stage.name: stage for stage in self.stages()}
        last = stages.get("playback") or stages.get("first_audible")
        return last.end_ms if last is not None else None

    def payload(self) -> dict[str, Any]:
        return {
            "stages": [
                {
                    "stage": s.name,
                    "label": s.label,
                    "start_ms": s.start_ms,
                    "end_ms": s.end_ms,
                    "ms": s.ms,
                }
                for s in self.stages()
            ],
            "voice_to_voice_ms": self.voice_to_voice_ms,
        }

    def _at(self, t_ms: float) -> float:
        assert self.request_at is not None
        return self.request_at + t_ms / 1000.0

    def _ms(self, at: float) -> float:
        return round((at - self.speech_ended_at) * 1000.0, 1)
