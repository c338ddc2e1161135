"""The utterance segmenter, driven by synthetic speech probabilities (no model).

Frames are 512 samples at 16 kHz (32 ms). Each frame's audio is its index repeated, so the
utterance audio shows exactly which frames it holds.
"""

from __future__ import annotations

import struct

import pytest

from playground.speech.utterances import (
    SegmentEvent,
    SpeechStarted,
    UtteranceEnded,
    UtteranceSegmenter,
)

FRAME = 512
FRAME_MS = 32.0


def frame(index: int) -> bytes:
    return struct.pack(f"<{FRAME}h", *([index] * FRAME))


def frame_indexes(pcm: bytes) -> list[int]:
    return [struct.unpack_from("<h", pcm, offset)[0] for offset in range(0, len(pcm), FRAME * 2)]


def feed(
    segmenter: UtteranceSegmenter, probabilities: list[float], first: int = 0
) -> list[tuple[int, SegmentEvent]]:
    """Push the probabilities as consecutive frames; return (frame index, event) pairs."""
    events = []
    for offset, probability in enumerate(probabilities):
        event = segmenter.push(probability, frame(first + offset))
        if event is not None:
            events.append((first + offset, event))
    return events


def segmenter(**overrides: float) -> UtteranceSegmenter:
    settings: dict[str, float] = {
        "end_of_utterance_ms": 320,  # 10 frames
        "min_speech_ms": 160,  # 5 frames
        "pre_roll_ms": 64,  # 2 frames
        "post_roll_ms": 64,  # 2 frames
    }
    settings.update(overrides)
    return UtteranceSegmenter(**settings)  # type: ignore[arg-type]


def test_speech_starts_after_min_speech_and_is_timed_at_the_onset() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 10 + [0.9] * 6)
    assert events == [(14, SpeechStarted(t_ms=10 * FRAME_MS))]
    assert seg.speaking
    assert seg.speech_ms == 6 * FRAME_MS


def test_a_pause_is_told_apart_from_words_while_speaking() -> None:
    seg = segmenter()
    seen = []
    for probabilities in ([0.9] * 8, [0.1] * 3, [0.9]):  # words, a pause, words again
        feed(seg, probabilities)
        seen.append((seg.speaking, seg.in_pause))
    assert seen == [(True, False), (True, True), (True, False)]


def test_a_cough_shorter_than_min_speech_is_not_speech() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 5 + [0.95] * 3 + [0.0] * 40)
    assert events == []
    assert not seg.speaking
    assert seg.force_end() is None


def test_utterance_ends_after_the_silence_and_is_timed_at_the_last_speech_frame() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 10 + [0.9] * 20 + [0.1] * 12)
    started, ended = events
    assert started == (14, SpeechStarted(t_ms=320.0))
    index, event = ended
    assert index == 30 + 10 - 1  # the 10th silent frame confirms the end
    assert isinstance(event, UtteranceEnded)
    assert event.start_ms == 10 * FRAME_MS
    assert event.t_ms == 30 * FRAME_MS  # end of frame 29, the last speech frame
    assert not event.forced
    assert not seg.speaking


def test_utterance_audio_has_pre_roll_speech_and_a_little_trailing_silence() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 10 + [0.9] * 20 + [0.1] * 12)
    ended = events[-1][1]
    assert isinstance(ended, UtteranceEnded)
    assert frame_indexes(ended.pcm) == list(range(8, 32))  # 2 pre-roll, 20 speech, 2 post-roll


def test_hysteresis_quiet_frames_above_stay_threshold_continue_speech() -> None:
    seg = segmenter()
    # 0.4 could not start speech (< 0.5) but keeps it going (>= 0.35).
    events = feed(seg, [0.4] * 10 + [0.9] * 6 + [0.4] * 30 + [0.0] * 10)
    assert [type(e) for _, e in events] == [SpeechStarted, UtteranceEnded]
    ended = events[-1][1]
    assert isinstance(ended, UtteranceEnded)
    assert ended.t_ms == 46 * FRAME_MS


def test_a_short_dip_at_the_onset_keeps_the_onset() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 4 + [0.9] * 3 + [0.1] * 2 + [0.9] * 3)
    assert events == [(10, SpeechStarted(t_ms=4 * FRAME_MS))]  # the 5th speech frame


def test_a_long_gap_drops_the_unconfirmed_onset() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 4 + [0.9] * 3 + [0.1] * 3 + [0.9] * 5)
    assert events == [(14, SpeechStarted(t_ms=10 * FRAME_MS))]


def test_force_end_finishes_the_utterance_at_once() -> None:
    seg = segmenter()
    feed(seg, [0.0] * 3 + [0.9] * 8 + [0.1] * 3)
    ended = seg.force_end()
    assert ended is not None
    assert ended.forced
    assert ended.start_ms == 3 * FRAME_MS
    assert ended.t_ms == 11 * FRAME_MS
    assert frame_indexes(ended.pcm) == list(range(1, 13))
    assert not seg.speaking
    assert seg.force_end() is None


def test_two_utterances() -> None:
    seg = segmenter()
    events = feed(seg, [0.0] * 5 + [0.9] * 10 + [0.0] * 31 + [0.8] * 12 + [0.0] * 10)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, UtteranceEnded, SpeechStarted, UtteranceEnded]
    first, second = events[1][1], events[3][1]
    assert isinstance(first, UtteranceEnded) and isinstance(second, UtteranceEnded)
    assert events[2][1] == SpeechStarted(t_ms=46 * FRAME_MS)
    assert frame_indexes(first.pcm) == list(range(3, 17))
    assert frame_indexes(second.pcm) == list(range(44, 60))


def test_current_pcm_grows_while_speaking() -> None:
    seg = segmenter()
    feed(seg, [0.0] * 5)
    assert seg.current_pcm() == b""
    feed(seg, [0.9] * 6, first=5)
    assert frame_indexes(seg.current_pcm()) == list(range(3, 11))
    feed(seg, [0.9] * 4, first=11)
    assert frame_indexes(seg.current_pcm()) == list(range(3, 15))


def test_a_very_long_utterance_is_cut_at_the_cap() -> None:
    seg = segmenter(max_utterance_ms=100 * FRAME_MS)
    events = feed(seg, [0.9] * 150)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, UtteranceEnded, SpeechStarted]
    ended = events[1][1]
    assert isinstance(ended, UtteranceEnded) and ended.forced
    assert ended.t_ms - ended.start_ms == 100 * FRAME_MS


def test_origin_shifts_every_time() -> None:
    seg = segmenter(origin_ms=1000)
    events = feed(seg, [0.9] * 5)
    assert events == [(4, SpeechStarted(t_ms=1000.0))]


def test_rejects_a_frame_of_the_wrong_size_and_bad_thresholds() -> None:
    seg = segmenter()
    with pytest.raises(ValueError, match="1024 bytes"):
        seg.push(0.9, b"\x00" * 10)
    with pytest.raises(ValueError, match="stay_threshold"):
        segmenter(start_threshold=0.3, stay_threshold=0.6)
