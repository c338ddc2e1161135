from __future__ import annotations

import pytest

from playground.providers.base import Usage
from playground.turn.timing import TimingRecorder


def test_every_chunk_is_stamped_with_time_since_send_gap_and_size() -> None:
    rec = TimingRecorder(started_at=10.0)
    first = rec.stamp_text(10.2, "Hello")
    second = rec.stamp_text(10.25, " world")
    assert (first.seq, first.t_ms, first.gap_ms, first.chars) == (0, 200.0, 200.0, 5)
    assert (second.seq, second.t_ms, second.gap_ms, second.chars) == (1, 250.0, 50.0, 6)


def test_summary_derives_ttft_total_and_rates_over_the_generation_window() -> None:
    rec = TimingRecorder(started_at=0.0)
    rec.stamp_text(0.5, "a" * 10)
    rec.stamp_text(1.0, "b" * 10)
    rec.stamp_text(1.5, "c" * 10)
    summary = rec.summary(2.0, Usage(prompt_tokens=5, completion_tokens=20, total_tokens=25))
    assert summary.ttft_ms == 500.0
    assert summary.total_ms == 2000.0
    assert summary.chunks == 3
    assert summary.characters == 30
    assert summary.chars_per_s == pytest.approx(30.0)
    assert summary.tokens_per_s == pytest.approx(20.0)
    assert summary.ttfa_ms is None


def test_audio_marks_give_time_to_first_audio() -> None:
    rec = TimingRecorder(started_at=0.0)
    rec.stamp_text(0.1, "Hi.")
    rec.stamp_audio(0.4, synth_ms=120.0, duration_ms=800.0)
    rec.stamp_audio(0.9, synth_ms=100.0, duration_ms=600.0)
    summary = rec.summary(1.0)
    assert summary.ttfa_ms == 400.0
    assert summary.audio_pieces == 2
    assert summary.audio_ms == 1400.0


def test_a_turn_without_chunks_has_no_ttft_or_rates() -> None:
    summary = TimingRecorder(started_at=0.0).summary(0.3)
    assert summary.ttft_ms is None
    assert summary.chars_per_s is None
    assert summary.tokens_per_s is None
    assert summary.chunks == 0
