"""Speech beside text: sentences go through a bounded queue to a TTS session on their own task.

The text path only calls ``push_text`` (never awaits), so text is never held up by speech. The
worker speaks sentences in order; when the voice is rate-limited (Deepgram's Flush budget) it
batches whatever is queued into one request. ``interrupt`` drops the queue and tells the voice to
clear, so nothing of an old turn is heard after Stop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playground.errors import ErrorCategory, PlaygroundError, ProviderError
from playground.providers.base import SpeechAudio, SpeechSession
from playground.speech.sentences import SentenceAggregator, speakable

__all__ = ["SpeechFailure", "SpeechPiece", "SpeechStage"]


@dataclass(frozen=True, slots=True)
class SpeechPiece:
    audio: SpeechAudio
    ready_at: float  # monotonic: when the sentence was confirmed
    done_at: float  # monotonic: when its audio was ready


@dataclass(frozen=True, slots=True)
class SpeechFailure:
    error: PlaygroundError


class SpeechStage:
    """Feeds one turn's text to one ``SpeechSession``; results go to ``emit`` in sentence order.

    The pending queue is bounded by count: past ``max_pending`` sentences, new text is folded
    into the last pending one, so memory stays bounded and nothing is dropped or reordered.
    """

    def __init__(
        self,
        session: SpeechSession,
        emit: Callable[[SpeechPiece | SpeechFailure], Awaitable[None]],
        *,
        max_pending: int = 32,
        aggregator: SentenceAggregator | None = None,
    ) -> None:
        self._session = session
        self._emit = emit
        # A short first piece: time to first audio waits for it (a clause of ~60 characters
        # is about a second of speech, enough to start while the rest is synthesised), and an
        # opener as short as "Sure." goes alone rather than waiting for the next sentence.
        self._aggregator = aggregator or SentenceAggregator(first_max_chars=60, first_min_chars=2)
        self._max_pending = max_pending
        self._pending: deque[tuple[str, float]] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self._failed = False

    def push_text(self, text: str) -> None:
        for sentence in self._aggregator.push(text):
            self._enqueue(sentence)

    def finish(self) -> None:
        for sentence in self._aggregator.flush():
            self._enqueue(sentence)
        self._ended = True
        self._wakeup.set()

    def _enqueue(self, sentence: str) -> None:
        spoken = speakable(sentence)
        if not spoken or self._failed:
            return
        if len(self._pending) >= self._max_pending:
            text, ready_at = self._pending.pop()
            self._pending.append((f"{text} {spoken}", ready_at))
        else:
            self._pending.append((spoken, time.monotonic()))
        self._wakeup.set()

    async def run(self) -> None:
        try:
            await self._connect_early()
            while not self._failed:
                while not self._pending:
                    if self._ended:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                text, ready_at = self._pending.popleft()
                if not self._session.flush_available():
                    # Rate-limited voice: speak everything queued in one request.
                    while self._pending:
                        text = f"{text} {self._pending.popleft()[0]}"
                await self._speak(text, ready_at)
        finally:
            await self._session.aclose()

    async def _connect_early(self) -> None:
        try:
            await self._session.connect()
        except PlaygroundError as exc:
            self._failed = True
            await self._emit(SpeechFailure(exc))

    async def _speak(self, text: str, ready_at: float) -> None:
        try:
            audio = await self._session.synthesize(text)
        except PlaygroundError as exc:
            self._failed = True
            await self._emit(SpeechFailure(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a voice bug must not end the text stream
            self._failed = True
            error = ProviderError(
                f"speech failed: {type(exc).__name__}: {exc}",
                category=ErrorCategory.INTERNAL,
                provider="tts",
            )
            await self._emit(SpeechFailure(error))
            return
        if audio.pcm:
            await self._emit(SpeechPiece(audio, ready_at, time.monotonic()))

    async def interrupt(self) -> None:
        """Drop queued sentences and clear the voice; safe to call at any time."""
        self._aggregator.reset()
        self._pending.clear()
        self._failed = True  # nothing more is queued or spoken for this turn
        self._ended = True
        self._wakeup.set()
        await self._session.interrupt()
