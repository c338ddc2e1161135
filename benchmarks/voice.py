"""``voice``: how soon speech follows text.

(a) Deepgram path: the fake Deepgram waits ``SYNTHESIS_S`` before each sentence's audio. For
    every sentence confirmed mid-stream, the time the app adds = its audio event's ``t_ms`` −
    the ``t_ms`` of the chunk that completed the sentence − the fake's synthesis time. Each
    sentence's final "." arrives in the same chunk as the next sentence's first word, so the
    sentence is complete at that chunk (with "." alone in a chunk, the aggregator's one-word
    look-ahead adds one more inter-chunk gap on top).
(b) A 20 tokens/s upstream (~60 chunks, 6 sentences) with the local voice: first audio must
    arrive before the text ends.
(c) Local model + local voice end to end: TTFA, and the voice's real-time factor (synthesis
    time / audio duration) against the same Piper provider driven directly in this process.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import httpx

from benchmarks.common import MODEL, BenchFakeOpenAI, Row, Turn, api_turn, openai_env, p50, served
from playground.providers.piper_tts import PiperTTS
from tests.fakes.deepgram_server import FakeDeepgram
from tests.fakes.openai_server import Reply

SYNTHESIS_S, ADDED_TARGET_MS, TTFA_TARGET_MS, DEEPGRAM_ROUNDS = 0.100, 30.0, 700.0, 4
LOCAL_PROMPTS = (
    "Explain in three short sentences why streaming feels faster.",
    "Say hello and describe the weather in two sentences.",
    "Give two tips for a clear voice answer.",
)
SENTENCES = (
    "Streaming sends the answer in small pieces as it is written.",
    "The client shows each piece the moment it arrives.",
    "Speech can start as soon as the first sentence is complete.",
    "That keeps the wait short for everyone who is listening.",
)
MORE = (
    "Tokens arrive about twenty times a second from a fast model.",
    "A sentence of twelve words therefore takes more than half a second.",
)


def _chunks(sentences: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """Word chunks, each sentence's last word + "." + the next first word in one chunk; and
    for every sentence but the last, the index of the chunk that completes it."""
    words = " ".join(sentences).split(" ")
    chunks: list[str] = []
    completes: list[int] = []
    for word in words:
        if chunks and chunks[-1].endswith("."):
            chunks[-1] += " " + word
            completes.append(len(chunks) - 1)
        else:
            chunks.append(word if not chunks else " " + word)
    return chunks, completes


def _voice_body(voice: str, **extra: Any) -> dict[str, Any]:
    return {"message": "Tell me about streaming.", "model": MODEL, "voice": voice, **extra}


async def _deepgram_added(http: httpx.AsyncClient, url: str) -> dict[str, list[float]]:
    """Per mid-stream sentence, in ms: ``added`` (also split into ``queued``: chunk stamp →
    sentence handed to the voice, and ``tts``: the voice's round trip beyond the fake's
    synthesis), and ``first``: the added time of each turn's first sentence."""
    _, completes = _chunks(SENTENCES)
    out: dict[str, list[float]] = {"added": [], "queued": [], "tts": [], "first": []}
    body = _voice_body("deepgram:aura-2-thalia-en")
    await api_turn(http, url, body)  # warm-up: clients, imports
    for _ in range(DEEPGRAM_ROUNDS):
        turn = await api_turn(http, url, body)
        for k, chunk in enumerate(completes):
            audio = turn.audio[k][1]
            complete_ms = turn.chunk_t_ms[chunk]
            out["added"].append(audio["t_ms"] - complete_ms - SYNTHESIS_S * 1000)
            out["queued"].append(audio["t_ms"] - audio["synth_ms"] - complete_ms)
            out["tts"].append(audio["synth_ms"] - SYNTHESIS_S * 1000)
        out["first"].append(out["added"][-len(completes)])
    return out


async def _ttfa_vs_text(http: httpx.AsyncClient, url: str) -> list[tuple[float, float, float]]:
    """(TTFA, last text chunk, total) in server ms, local voice, 20 tokens/s upstream."""
    out = []
    body = _voice_body("local:joe")
    await api_turn(http, url, body)  # loads the voice
    for _ in range(2):
        turn = await api_turn(http, url, body)
        timing = (turn.end or {})["timing"]
        out.append((timing["ttfa_ms"], turn.chunk_t_ms[-1], timing["total_ms"]))
    return out


async def _local_end_to_end(http: httpx.AsyncClient, url: str) -> list[Turn]:
    def body(prompt: str) -> dict[str, Any]:
        return {
            "message": prompt,
            "model": "local:smollm2-135m",
            "voice": "local:joe",
            "temperature": 0,
            "seed": 1,
            "max_tokens": 96,
        }

    await api_turn(http, url, body("Hi"))  # loads the model
    return [await api_turn(http, url, body(p)) for p in LOCAL_PROMPTS]


async def _bare_rtf(texts: list[str]) -> float:
    """Piper's real-time factor for the same sentences, without the app."""
    tts = PiperTTS()
    try:
        await tts.warm_up()
        session = tts.open_session("joe")
        synth = duration = 0.0
        for text in texts:
            loop = asyncio.get_running_loop()
            started = loop.time()
            audio = await session.synthesize(text)
            synth += loop.time() - started
            duration += len(audio.pcm) / 2 / audio.sample_rate
        await session.aclose()
        return synth / duration
    finally:
        tts.close()


def run() -> list[Row]:
    with (
        BenchFakeOpenAI() as fake,
        FakeDeepgram(synthesis_delay=SYNTHESIS_S) as deepgram,
        served(
            **openai_env(fake),
            DEEPGRAM_API_KEY=deepgram.api_key,
            DEEPGRAM_BASE_URL=deepgram.base_url,
        ) as url,
    ):

        async def measure() -> tuple[Any, Any, Any]:
            async with httpx.AsyncClient(timeout=120) as http:
                fake.default_reply = Reply(chunks=_chunks(SENTENCES)[0], delay=0.05)
                added = await _deepgram_added(http, url)
                fake.default_reply = Reply(chunks=_chunks(SENTENCES + MORE)[0], delay=0.05)
                ttfa = await _ttfa_vs_text(http, url)
                local = await _local_end_to_end(http, url)
            return added, ttfa, local

        added, ttfa, local = asyncio.run(measure())
    every, first = added["added"], added["first"]
    local_ttfa = [t.end["timing"]["ttfa_ms"] for t in local if t.end]
    synth = sum(d["synth_ms"] for t in local for _, d in t.audio)
    spoken = sum(d["duration_ms"] for t in local for _, d in t.audio)
    bare = asyncio.run(_bare_rtf([d["text"] for t in local for _, d in t.audio]))
    print(
        f"voice (a): added over the fake's {SYNTHESIS_S * 1000:.0f} ms synthesis, per sentence "
        + ", ".join(f"{a:.1f}" for a in every)
        + " ms\n"
        f"  p50: chunk → sentence queued for the voice {p50(added['queued']):.1f} ms, "
        f"voice round trip beyond synthesis {p50(added['tts']):.1f} ms\n"
        f"voice (b): TTFA / last text chunk / total (ms): "
        + "; ".join(f"{a:.0f} / {b:.0f} / {c:.0f}" for a, b, c in ttfa)
        + "\n"
        "voice (c): local model + voice TTFA "
        + ", ".join(f"{t:.0f}" for t in local_ttfa)
        + f" ms; RTF {synth / spoken:.3f} (bare Piper {bare:.3f})\n"
        + "\n".join(
            f"  TTFT {t.end['timing']['ttft_ms']:.0f} ms → first sentence ready "
            f"{t.audio[0][1]['t_ms'] - t.audio[0][1]['synth_ms']:.0f} ms → its audio "
            f"{t.audio[0][1]['t_ms']:.0f} ms ({t.audio[0][1]['duration_ms']:.0f} ms of speech, "
            f"{len(t.audio[0][1]['text'])} chars)"
            for t in local
            if t.end and t.audio
        )
    )
    ttfa_med = statistics.median(a for a, _, _ in ttfa)
    text_end = statistics.median(b for _, b, _ in ttfa)
    return [
        Row(
            "voice",
            "(a) Deepgram TTFA added per sentence, p50",
            p50(every),
            "ms",
            target=f"≤ {ADDED_TARGET_MS:.0f} ms",
            ok=p50(every) <= ADDED_TARGET_MS,
        ),
        Row("voice", "(a) … first sentence of a turn, p50", p50(first), "ms"),
        Row(
            "voice",
            "(b) 20 tok/s, local voice: TTFA vs text end",
            ttfa_med,
            "ms",
            text_end,
            "before the text ends",
            all(a < b for a, b, _ in ttfa),
        ),
        Row(
            "voice",
            "(c) local model + voice: TTFA, median",
            statistics.median(local_ttfa),
            "ms",
            target=f"≤ {TTFA_TARGET_MS:.0f} ms",
            ok=statistics.median(local_ttfa) <= TTFA_TARGET_MS,
        ),
        Row("voice", "(c) local voice real-time factor", synth / spoken, "", bare),
    ]
