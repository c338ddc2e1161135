"""Side by side: both runs go at once, and the score is computed on known answers."""

from __future__ import annotations

import pytest

from playground.turn.compare import compare
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import make_test_services


async def run_compare(fake: FakeOpenAI, repeat: int = 1):
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    runner = TurnRunner(services)
    request = TurnRequest(message="Explain streaming.", model="openai:gpt-4o-mini")
    try:
        last = None
        seen_both_running = False
        async for progress in compare(runner, request, services.server_credentials, repeat=repeat):
            if (
                progress.streaming.chunks
                and progress.complete.completed is None
                and (progress.complete.started is not None)
            ):
                seen_both_running = True
            last = progress
        return last, seen_both_running
    finally:
        await services.aclose()


async def test_both_runs_go_at_once_with_temperature_zero_and_a_seed(fake_openai: FakeOpenAI):
    words = ["Streaming", "sends", "the", "answer", "piece", "by", "piece", "as", "written"]
    fake_openai.default_reply = Reply(chunks=[w + " " for w in words], delay=0.03, first_delay=0.1)
    progress, overlapped = await run_compare(fake_openai)
    assert overlapped, "the non-streaming run was in flight while the streamed text arrived"
    bodies = [r.body for r in fake_openai.chat_requests]
    assert sorted(bool(b.get("stream")) for b in bodies) == [False, True]
    assert all(b["temperature"] == 0 and b["seed"] == 7 for b in bodies)
    (result,) = progress.rounds
    assert result.similarity == 1.0
    assert result.gain_ms is not None and result.gain_ms > 0
    assert result.streaming_ttft_ms < result.complete_total_ms


async def test_the_score_reflects_a_changed_word(fake_openai: FakeOpenAI) -> None:
    ten = "one two three four five six seven eight nine ten"
    fake_openai.enqueue(Reply(chunks=[ten]), Reply(chunks=[ten.replace("five", "FIVE")]))
    progress, _ = await run_compare(fake_openai)
    (result,) = progress.rounds
    assert result.similarity == pytest.approx(0.9)
    changed = [t.strip().lower() for op, t in result.diff if op != "equal"]
    assert changed and all(t == "five" for t in changed)


async def test_repeat_n_gives_a_distribution(fake_openai: FakeOpenAI) -> None:
    fake_openai.default_reply = Reply(chunks=["same answer"])
    progress, _ = await run_compare(fake_openai, repeat=3)
    assert len(progress.rounds) == 3
    summary = progress.summary
    assert summary is not None and summary.n == 3 and summary.mean == 1.0


async def test_a_failed_run_is_reported_not_scored(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Reply(fault="status", status=400), Reply(fault="status", status=400))
    progress, _ = await run_compare(fake_openai)
    assert progress.rounds == [] and progress.error
