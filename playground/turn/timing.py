"""Per-chunk timing of a turn, on the monotonic clock.

Every chunk is stamped with the instant it left the provider (not when a renderer got round to
it), so the numbers are the upstream's, not ours. ``TimingRecorder`` is plain state: the runner
feeds it and any renderer reads ``chunks`` / ``audio`` / ``summary()``.

    >>> rec = TimingRecorder(started_at=100.0)
    >>> rec.stamp_text(100.25, "Hello").t_ms
    250.0
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.providers.base import Usage
from playground.turn.events import TimingSummary

__all__ = ["AudioTiming", "ChunkTiming", "TimingRecorder"]


@dataclass(frozen=True, slots=True)
class ChunkTiming:
    seq: int
    t_ms: float
    gap_ms: float
    chars: int


@dataclass(frozen=True, slots=True)
class AudioTiming:
    seq: int
    t_ms: float  # audio ready, since the request
    synth_ms: float
    duration_ms: float


class TimingRecorder:
    """Collects chunk and audio stamps for one turn; ``summary()`` derives the headline numbers."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.chunks: list[ChunkTiming] = []
        self.audio: list[AudioTiming] = []
        self._last_at = started_at
        self._characters = 0
        self._first_at: float | None = None
        self._last_text_at: float | None = None
        self._thinking_pieces = 0
        self._first_thinking_at: float | None = None
        self._last_thinking_at: float | None = None

    def ms_since_start(self, at: float) -> float:
        return round((at - self.started_at) * 1000.0, 3)

    def stamp_text(self, at: float, text: str) -> ChunkTiming:
        timing = ChunkTiming(
            seq=len(self.chunks),
            t_ms=self.ms_since_start(at),
            gap_ms=round((at - self._last_at) * 1000.0, 3),
            chars=len(text),
        )
        if self._first_at is None:
            self._first_at = at
        self._last_at = at
        self._last_text_at = at
        self._characters += len(text)
        self.chunks.append(timing)
        return timing

    def stamp_reasoning(self, at: float) -> tuple[int, float]:
        """Stamp a piece of thinking: its sequence number and ``t_ms``. Thinking is not a
        chunk of the answer, so it is kept out of ``chunks`` and the answer's rates."""
        if self._first_thinking_at is None:
            self._first_thinking_at = at
        self._last_thinking_at = at
        seq = self._thinking_pieces
        self._thinking_pieces += 1
        return seq, self.ms_since_start(at)

    def stamp_audio(self, at: float, synth_ms: float, duration_ms: float) -> AudioTiming:
        timing = AudioTiming(
            seq=len(self.audio),
            t_ms=self.ms_since_start(at),
            synth_ms=round(synth_ms, 3),
            duration_ms=round(duration_ms, 3),
        )
        self.audio.append(timing)
        return timing

    def summary(self, ended_at: float, usage: Usage | None = None) -> TimingSummary:
        total_ms = self.ms_since_start(ended_at)
        ttfat_ms = self.ms_since_start(self._first_at) if self._first_at is not None else None
        first_any = min(
            (at for at in (self._first_at, self._first_thinking_at) if at is not None),
            default=None,
        )
        ttft_ms = self.ms_since_start(first_any) if first_any is not None else None
        reasoning_ms = None
        if self._first_thinking_at is not None and self._last_thinking_at is not None:
            # Thinking lasts until the answer starts (or, with no answer, its last piece).
            thought_until = self._first_at or self._last_thinking_at
            reasoning_ms = round(max(0.0, thought_until - self._first_thinking_at) * 1000.0, 3)
        generating_s = (
            (self._last_text_at - self._first_at)
            if self._first_at is not None and self._last_text_at is not None
            else 0.0
        )
        # Rates over the generation window (first to last chunk) so queueing before the first
        # token does not dilute them; a single-chunk answer has no window, hence None.
        chars_per_s = round(self._characters / generating_s, 1) if generating_s > 0 else None
        tokens_per_s = (
            round(usage.completion_tokens / generating_s, 1)
            if usage is not None and usage.completion_tokens and generating_s > 0
            else None
        )
        return TimingSummary(
            ttft_ms=ttft_ms,
            ttfa_ms=self.audio[0].t_ms if self.audio else None,
            chunks=len(self.chunks),
            total_ms=total_ms,
            characters=self._characters,
            chars_per_s=chars_per_s,
            tokens_per_s=tokens_per_s,
            audio_pieces=len(self.audio),
            audio_ms=round(sum(a.duration_ms for a in self.audio), 3),
            ttfat_ms=ttfat_ms,
            reasoning_ms=reasoning_ms,
        )
