"""Cut a stream of audio frames into utterances from per-frame speech probabilities.

A voice activity detector scores each fixed-size frame (512 samples = 32 ms at 16 kHz) with the
probability that it holds speech; ``UtteranceSegmenter`` turns those scores into two events:

* ``SpeechStarted`` once ``min_speech_ms`` of speech has been heard, so a cough or a click does
  not count (and does not interrupt the assistant). Its ``t_ms`` is the onset, not the moment the
  decision was made.
* ``UtteranceEnded`` after ``end_of_utterance_ms`` of silence (or on ``force_end()``, when
  push-to-talk is released). It carries the utterance's audio, including a short pre-roll before
  the onset (a detector reacts a frame or two late and the first consonant is quiet), and its
  ``t_ms`` is the end of the last speech frame, not the end of the silence that confirmed it.

Hysteresis: a frame must reach ``start_threshold`` to begin speech but only ``stay_threshold``
to continue it, so a word's quiet tail does not end the utterance. Times are milliseconds of
audio fed so far (frame count x frame length) plus ``origin_ms``. Pure, synchronous, no vendor
code: the detector lives in ``providers.voice_activity``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SegmentEvent", "SpeechStarted", "UtteranceEnded", "UtteranceSegmenter"]


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Someone started speaking at ``t_ms`` (the first speech frame's start)."""

    t_ms: float


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    """An utterance is over. ``pcm`` is its audio (pre-roll, speech, a little trailing silence);
    ``start_ms``/``t_ms`` are the onset and the end of the last speech frame; ``forced`` says it
    was ended by ``force_end()`` or the length cap rather than by silence."""

    pcm: bytes
    start_ms: float
    t_ms: float
    forced: bool = False


SegmentEvent = SpeechStarted | UtteranceEnded


class UtteranceSegmenter:
    """Feed ``push(probability, frame)`` once per frame; it returns an event or None."""

    def __init__(
        self,
        *,
        end_of_utterance_ms: float,
        frame_samples: int = 512,
        sample_rate: int = 16000,
        min_speech_ms: float = 200.0,
        pre_roll_ms: float = 200.0,
        post_roll_ms: float = 200.0,
        onset_gap_ms: float = 100.0,
        max_utterance_ms: float = 28000.0,
        start_threshold: float = 0.5,
        stay_threshold: float = 0.35,
        origin_ms: float = 0.0,
    ) -> None:
        if not 0.0 <= stay_threshold <= start_threshold <= 1.0:
            raise ValueError("need 0 <= stay_threshold <= start_threshold <= 1")
        if end_of_utterance_ms <= 0 or frame_samples <= 0 or sample_rate <= 0:
            raise ValueError("end_of_utterance_ms, frame_samples and sample_rate must be positive")
        self.frame_ms = frame_samples * 1000.0 / sample_rate
        self._frame_bytes = frame_samples * 2
        self._start = start_threshold
        self._stay = stay_threshold
        self._origin = origin_ms
        # Durations become whole frames; at least one, so tiny settings still mean "one frame".
        self._min_speech = self._frames(min_speech_ms)
        self._end_silence = self._frames(end_of_utterance_ms)
        self._pre_roll = self._frames(pre_roll_ms, at_least=0)
        self._post_roll = self._frames(post_roll_ms, at_least=0)
        self._onset_gap = self._frames(onset_gap_ms)
        self._max_frames = self._frames(max_utterance_ms)
        self._index = 0  # frames pushed so far
        # Recent frames while waiting for speech (pre-roll and an unconfirmed onset), then the
        # whole utterance while speaking. Each entry is (frame index, audio).
        self._frames_kept: list[tuple[int, bytes]] = []
        self._onset: int | None = None  # first speech frame of the candidate or the utterance
        self._speaking = False  # the onset has been confirmed (SpeechStarted was returned)
        self._speech_frames = 0  # speech frames since the candidate onset
        self._last_speech = -1  # index of the latest speech frame
        self._silence = 0  # consecutive non-speech frames since the latest speech frame

    @property
    def speaking(self) -> bool:
        """True between ``SpeechStarted`` and ``UtteranceEnded``."""
        return self._speaking

    @property
    def in_pause(self) -> bool:
        """Speaking, but the latest frame was not speech: perhaps the end of the utterance."""
        return self._speaking and self._silence > 0

    @property
    def speech_ms(self) -> float:
        """Milliseconds from the onset to the end of the latest speech frame (0 when idle)."""
        if not self._speaking or self._onset is None:
            return 0.0
        return (self._last_speech + 1 - self._onset) * self.frame_ms

    @property
    def speech_end_ms(self) -> float:
        """End of the latest speech frame, in stream time (``origin_ms`` if there was none)."""
        return self._time(self._last_speech + 1)

    def current_pcm(self) -> bytes:
        """The utterance so far (pre-roll included), for an interim decode; b"" when idle."""
        return b"".join(frame for _, frame in self._frames_kept) if self._speaking else b""

    def push(self, probability: float, frame: bytes) -> SegmentEvent | None:
        """Take one frame and its speech probability; return what it decided, if anything."""
        if len(frame) != self._frame_bytes:
            raise ValueError(f"a frame is {self._frame_bytes} bytes, got {len(frame)}")
        index = self._index
        self._index += 1
        self._frames_kept.append((index, frame))
        if self._speaking:
            return self._while_speaking(index, probability)
        return self._while_waiting(index, probability)

    def force_end(self) -> UtteranceEnded | None:
        """End the current utterance now (push-to-talk released). An onset not yet confirmed is
        dropped: too short to be speech."""
        if not self._speaking:
            self._reset()
            return None
        return self._finish(forced=True)

    def _while_waiting(self, index: int, probability: float) -> SpeechStarted | None:
        if self._onset is None:
            if probability >= self._start:
                self._onset, self._speech_frames, self._silence = index, 1, 0
                self._last_speech = index
            else:
                self._trim_pre_roll(index + 1)
                return None
        elif probability >= self._stay:
            self._speech_frames += 1
            self._last_speech, self._silence = index, 0
        else:
            self._silence += 1
            if self._silence >= self._onset_gap:  # a short noise, not the start of speech
                self._onset = None
                self._trim_pre_roll(index + 1)
                return None
        if self._speech_frames < self._min_speech:
            return None
        self._speaking = True
        self._trim_pre_roll(self._onset)
        return SpeechStarted(self._time(self._onset))

    def _while_speaking(self, index: int, probability: float) -> UtteranceEnded | None:
        if probability >= self._stay:
            self._last_speech, self._silence = index, 0
        else:
            self._silence += 1
            if self._silence >= self._end_silence:
                return self._finish(forced=False)
        assert self._onset is not None
        if index + 1 - self._onset >= self._max_frames:  # Whisper hears at most 30 s at once
            return self._finish(forced=True)
        return None

    def _finish(self, *, forced: bool) -> UtteranceEnded:
        assert self._onset is not None
        last_kept = self._last_speech + self._post_roll
        pcm = b"".join(frame for i, frame in self._frames_kept if i <= last_kept)
        ended = UtteranceEnded(
            pcm=pcm,
            start_ms=self._time(self._onset),
            t_ms=self._time(self._last_speech + 1),
            forced=forced,
        )
        self._reset()
        return ended

    def _reset(self) -> None:
        self._speaking = False
        self._onset = None
        self._speech_frames = self._silence = 0
        self._frames_kept = []

    def _trim_pre_roll(self, first_wanted: int) -> None:
        """Keep only the pre-roll before frame ``first_wanted`` (and anything after it)."""
        keep_from = first_wanted - self._pre_roll
        if self._frames_kept and self._frames_kept[0][0] < keep_from:
            self._frames_kept = [(i, f) for i, f in self._frames_kept if i >= keep_from]

    def _frames(self, ms: float, *, at_least: int = 1) -> int:
        return max(at_least, round(ms / self.frame_ms))

    def _time(self, frame_index: int) -> float:
        return self._origin + frame_index * self.frame_ms
