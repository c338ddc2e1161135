"""The SDK clients' connection pools: one while traffic is light, more beside it under load."""

from __future__ import annotations

import asyncio

from playground.providers.base import ChatMessage, ContentDelta, GenerationOptions
from playground.providers.openai_llm import OpenAIChatModel, OpenAIClientPool, _PooledTransport
from tests.fakes.openai_server import FakeOpenAI, Reply

_MESSAGES = [ChatMessage(role="user", content="hi")]


def _transport(pool: OpenAIClientPool, fake: FakeOpenAI) -> _PooledTransport:
    transport = pool.openai(api_key="k", base_url=fake.base_url)._client._transport
    assert isinstance(transport, _PooledTransport)
    return transport


async def _answer(model: OpenAIChatModel) -> str:
    deltas = [d async for d in model.stream("gpt-4o-mini", _MESSAGES, GenerationOptions())]
    return "".join(d.text for d in deltas if isinstance(d, ContentDelta))


async def test_turns_one_after_another_share_one_pool(fake_openai: FakeOpenAI) -> None:
    pool = OpenAIClientPool(timeout_s=10)
    model = OpenAIChatModel(pool.openai(api_key="k", base_url=fake_openai.base_url), "openai")
    for _ in range(3):
        assert await _answer(model) == "Hello from the fake."
    transport = _transport(pool, fake_openai)
    assert [p.in_flight for p in transport._pools] == [0]
    await pool.aclose()


async def test_concurrent_streams_spread_over_more_pools_and_all_give_their_slot_back(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.default_reply = Reply(chunks=["a", "b"], delay=0.05)
    pool = OpenAIClientPool(timeout_s=10)
    model = OpenAIChatModel(pool.openai(api_key="k", base_url=fake_openai.base_url), "openai")
    answers = await asyncio.gather(*(_answer(model) for _ in range(20)))
    assert answers == ["ab"] * 20
    transport = _transport(pool, fake_openai)
    assert len(transport._pools) == 3  # 8 + 8 + 4
    assert [p.in_flight for p in transport._pools] == [0, 0, 0]
    await pool.aclose()
