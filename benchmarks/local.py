"""``local``: the embedded SmolLM2-135M (llama.cpp): load time, TTFT and tokens/s via the API.

Baseline: the same model, loaded here by the app's own ``LocalLlamaModel`` (same file, context
and threads), driven directly through ``llama_cpp`` with the same messages as the runner builds,
greedy decoding and the same token limit. The API runs in its own process; both sides are warmed
up with the same system prompt first (llama.cpp reuses a cached prompt prefix), and runs alternate.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx

from benchmarks.common import Row, api_turn, served
from playground.catalog import Credentials
from playground.providers.local_llm import LOCAL_MODEL_NAME, LocalLlamaModel
from playground.services import make_services
from playground.settings import Settings
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner

PROMPTS = (
    "What is response streaming, in two sentences?",
    "Give three tips for writing a good prompt.",
    "Why does time to first token matter for a voice assistant?",
)
WARM_UP, ROUNDS, MAX_TOKENS = "Hi", 2, 96


def _body(prompt: str) -> dict[str, Any]:
    return {
        "message": prompt,
        "model": f"local:{LOCAL_MODEL_NAME}",
        "temperature": 0,
        "seed": 1,
        "max_tokens": MAX_TOKENS,
    }


def _bare_run(llama: Any, messages: list[dict[str, str]]) -> tuple[float, float]:
    """(TTFT ms, tokens/s from the first to the last token) straight from llama.cpp."""
    started = time.monotonic()
    stamps = [
        time.monotonic()
        for chunk in llama.create_chat_completion(
            messages=messages, stream=True, max_tokens=MAX_TOKENS, temperature=0, seed=1
        )
        if chunk["choices"][0]["delta"].get("content")
    ]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return (stamps[0] - started) * 1000, rate


async def _api_run(http: httpx.AsyncClient, url: str, prompt: str) -> tuple[float, float]:
    """(client-side TTFT ms, tokens/s as completion-end reports it)."""
    turn = await api_turn(http, url, _body(prompt))
    rate = ((turn.end or {}).get("timing") or {}).get("tokens_per_s")
    return turn.chunks[0], float(rate or "nan")


async def _measure(
    url: str, llama: Any
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    runner = TurnRunner(make_services(Settings(_env_file=None)))

    def messages(prompt: str) -> list[dict[str, str]]:
        turn = runner.prepare(TurnRequest.model_validate(_body(prompt)), Credentials())
        return [{"role": m.role, "content": m.content or ""} for m in turn.messages]

    api: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    async with httpx.AsyncClient(timeout=120) as http:
        await _api_run(http, url, WARM_UP)  # loads the model in the app
        _bare_run(llama, messages(WARM_UP))
        for _ in range(ROUNDS):
            for prompt in PROMPTS:
                bare.append(_bare_run(llama, messages(prompt)))
                api.append(await _api_run(http, url, prompt))
    return api, bare


def run() -> list[Row]:
    model = LocalLlamaModel(max_tokens=MAX_TOKENS)
    asyncio.run(model.warm_up())
    load_s = model.load_seconds or float("nan")
    with served() as url:
        api, bare = asyncio.run(_measure(url, model._load()))  # the loaded llama_cpp.Llama
    med = statistics.median
    print(
        f"local: load {load_s:.2f} s; {ROUNDS} rounds × {len(PROMPTS)} prompts\n"
        f"  API  TTFT "
        + ", ".join(f"{a[0]:.0f}" for a in api)
        + " ms; tok/s "
        + ", ".join(f"{a[1]:.0f}" for a in api)
        + "\n"
        "  bare TTFT "
        + ", ".join(f"{b[0]:.0f}" for b in bare)
        + " ms; tok/s "
        + ", ".join(f"{b[1]:.0f}" for b in bare)
    )
    return [
        Row("local", "model load (SmolLM2-135M, llama.cpp)", load_s, "s"),
        Row("local", "TTFT, median", med(a[0] for a in api), "ms", med(b[0] for b in bare)),
        Row("local", "tokens/s, median", med(a[1] for a in api), "tok/s", med(b[1] for b in bare)),
    ]
