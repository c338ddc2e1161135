"""Thinking that a model writes inline, between ``<think>`` tags, split from its answer.

Models served by llama.cpp, Ollama or vLLM without a reasoning parser (DeepSeek-R1 distills,
Qwen3, QwQ) put their thinking in the answer text as ``<think>…</think>``. ``split_thinking``
turns that text into ``ReasoningDelta``s so it takes the same path as ``reasoning_content``:
shown as thinking, never spoken, never part of the answer. Tags may be cut anywhere by the
stream's chunking, so a piece that could be the start of a tag is held until the next chunk.

The opening tag counts only before any answer text (after leading whitespace), so an answer
that merely mentions ``<think>`` is left alone.

    >>> splitter = ThinkSplitter()
    >>> splitter.feed("<thi") + splitter.feed("nk>hmm</think>\\n\\nHi") + splitter.finish()
    [(True, 'hmm'), (False, 'Hi')]
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from enum import Enum

from playground.providers.base import ContentDelta, ModelDelta, ReasoningDelta

__all__ = ["ThinkSplitter", "split_thinking"]

_OPEN = "<think>"
_CLOSE = "</think>"


class _State(Enum):
    START = "start"  # nothing but whitespace yet: the opening tag may still come
    THINKING = "thinking"  # inside <think>: looking for the closing tag
    AFTER_THINKING = "after"  # just closed: whitespace before the answer is dropped
    ANSWER = "answer"  # everything else passes through untouched


class ThinkSplitter:
    """Feeds content chunks; returns ``(is_thinking, text)`` pieces in order."""

    def __init__(self) -> None:
        self._state = _State.START
        self._pending = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        if self._state is _State.ANSWER:
            return [(False, text)] if text else []
        pieces: list[tuple[bool, str]] = []
        buffer = self._pending + text
        self._pending = ""
        while buffer:
            if self._state is _State.START:
                stripped = buffer.lstrip()
                if stripped.startswith(_OPEN):
                    self._state = _State.THINKING
                    buffer = stripped[len(_OPEN) :]
                elif _OPEN.startswith(stripped):
                    self._pending = buffer  # whitespace or a cut tag: wait for more
                    buffer = ""
                else:
                    self._state = _State.ANSWER
                    pieces.append((False, buffer))
                    buffer = ""
            elif self._state is _State.THINKING:
                end = buffer.find(_CLOSE)
                if end >= 0:
                    pieces.append((True, buffer[:end]))
                    self._state = _State.AFTER_THINKING
                    buffer = buffer[end + len(_CLOSE) :]
                else:
                    held = _cut_tag_length(buffer, _CLOSE)
                    pieces.append((True, buffer[: len(buffer) - held]))
                    self._pending = buffer[len(buffer) - held :]
                    buffer = ""
            elif self._state is _State.AFTER_THINKING:
                buffer = buffer.lstrip()
                if buffer:
                    self._state = _State.ANSWER
                    pieces.append((False, buffer))
                    buffer = ""
            else:  # pragma: no cover - ANSWER returned above
                pieces.append((False, buffer))
                buffer = ""
        return [(thinking, piece) for thinking, piece in pieces if piece]

    def finish(self) -> list[tuple[bool, str]]:
        """What is still held when the stream ends (an unclosed tag stays thinking)."""
        held, self._pending = self._pending, ""
        if not held or self._state is _State.AFTER_THINKING:
            return []
        return [(self._state is _State.THINKING, held)]


def _cut_tag_length(text: str, tag: str) -> int:
    """How many trailing characters of ``text`` could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


async def split_thinking(
    deltas: AsyncGenerator[ModelDelta, None],
) -> AsyncGenerator[ModelDelta, None]:
    """The same stream with inline ``<think>`` text turned into ``ReasoningDelta``s. Closing it
    closes ``deltas`` at once, so Stop still closes the upstream connection immediately."""
    splitter = ThinkSplitter()
    last_at = 0.0
    async with aclosing(deltas):
        async for delta in deltas:
            if isinstance(delta, ContentDelta):
                last_at = delta.at
                for thinking, text in splitter.feed(delta.text):
                    yield _piece(thinking, text, delta.at)
                continue
            if not isinstance(delta, ReasoningDelta):
                for thinking, text in splitter.finish():
                    yield _piece(thinking, text, last_at)
            yield delta


def _piece(thinking: bool, text: str, at: float) -> ModelDelta:
    return ReasoningDelta(text, at) if thinking else ContentDelta(text, at)
