"""The REST fallback: one ``POST /v1/speak`` per sentence, for a session whose WebSocket could
not be opened (connection refused, a 404 or 5xx handshake, a server without WebSocket)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

import httpx
from deepgram.core.api_error import ApiError

from playground.providers.deepgram_voices import split_text

if TYPE_CHECKING:
    from playground.providers.deepgram_tts import DeepgramTTS

__all__ = ["rest_speak"]


async def rest_speak(
    provider: DeepgramTTS, voice: str, sample_rate: int, text: str
) -> tuple[bytes, float | None]:
    """The linear16 PCM of ``text`` and when its first byte arrived (``None``: no audio)."""
    chunks: list[bytes] = []
    first: float | None = None
    try:
        for piece in split_text(text):
            # An async generator: the request is sent on the first iteration.
            stream = provider.client.speak.v1.audio.generate(
                text=piece,
                model=voice,
                encoding="linear16",
                sample_rate=sample_rate,
                container="none",
                request_options={"timeout": provider.timeout, "max_retries": 0},
            )
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    if chunk and first is None:
                        first = time.monotonic()
                    chunks.append(chunk)
    except (ApiError, httpx.HTTPError, OSError) as exc:
        raise provider.translate(exc, voice=voice) from exc
    return b"".join(chunks), first
