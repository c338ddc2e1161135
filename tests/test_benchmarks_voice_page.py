"""The page benchmarks' measuring helpers on tiny inputs (the benchmarks themselves are not
tests: ``python -m benchmarks voice_page mic_transport`` runs them)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import mic_transport, voice_page
from benchmarks.mic_transport import BURSTS, Onsets, bursts, pair
from tests.speech_support import RATE


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768


def test_the_onset_detector_finds_and_tells_every_burst_however_the_stream_is_chunked() -> None:
    samples = _samples(bursts())
    for chunk in (320, 1600, 7919):  # 20 ms frames, 100 ms slices, and an odd size
        detector = Onsets(RATE)
        found = [
            found
            for i in range(0, len(samples), chunk)
            for found in detector.feed(samples[i : i + chunk], at=i / RATE)
        ]
        assert [k for k, _ in found] == list(range(BURSTS))
        # Each stamped with the arrival of the chunk its onset is in.
        onset = (mic_transport.FIRST_BURST_MS / 1000) * RATE
        assert found[0][1] == (onset // chunk) * chunk / RATE


def test_an_onset_needs_quiet_before_it() -> None:
    detector = Onsets(1000)  # 200 samples of quiet before a new onset
    tone = np.sin(2 * np.pi * 400 * np.arange(40) / 1000).astype(np.float32) * 0.5
    assert [k for k, _ in detector.feed(tone, 0.0)] == [0]
    assert detector.feed(np.zeros(100, dtype=np.float32), 1.0) == []
    assert detector.feed(tone, 2.0) == []  # 100 samples of quiet: the same burst
    assert detector.feed(np.zeros(250, dtype=np.float32), 3.0) == []
    assert detector.feed(tone, 4.0) == [(0, 4.0)]


def test_a_lost_burst_leaves_no_gap_in_the_pairing() -> None:
    page = [1.0, 2.0, 3.0]
    assert pair(page, [(0, 1.05), (2, 3.1)]) == pytest.approx([50.0, 100.0])
    assert pair(page, [(-1, 9.0), (5, 9.0)]) == []


def test_the_ws_page_runs_the_products_own_worklet() -> None:
    worklet = mic_transport._worklet()
    assert 'registerProcessor("sp-mic-frames"' in worklet
    assert "${" not in worklet and "new Int16Array(320)" in worklet


def test_the_recording_and_the_barge_in_split() -> None:
    seconds = len(voice_page.recording()) / (RATE * 2)
    assert 50 < seconds < 70  # the benchmark's run stays well inside its time limit
    barge = {"onset": 100.0, "silentAt": 160.0}
    events = [
        {"event": "speech-started", "at": 90.0},  # an earlier utterance's
        {"event": "transcript", "at": 110.0},
        {"event": "speech-started", "at": 125.0},
    ]
    assert voice_page.barge_split(barge, events) == (25.0, 35.0)
