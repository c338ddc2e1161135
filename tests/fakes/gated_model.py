"""The real ``LocalLlamaModel`` (its fair queue, worker thread and stream) with only the decoding
replaced: each turn says it has started, then holds the model until the test opens its gate.
Tests of the queue, and of how the API and the page show it, need a model that is busy exactly
as long as they say."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    ModelDelta,
    StreamEnd,
)
from playground.providers.local_llm import LocalLlamaModel

__all__ = ["GatedModel"]


class GatedModel(LocalLlamaModel):
    def __init__(self, max_queue: int) -> None:
        super().__init__(max_tokens=16, max_queue=max_queue)
        self.gates: dict[str, threading.Event] = {}
        self.served: list[str] = []
        self._all_open = False
        self._lock = threading.Lock()

    def gate(self, turn_id: str) -> threading.Event:
        with self._lock:
            gate = self.gates.setdefault(turn_id, threading.Event())
            if self._all_open:
                gate.set()
            return gate

    def _generate(
        self, messages: list[ChatMessage], options: GenerationOptions, stop: threading.Event
    ) -> Generator[ModelDelta, None, None]:
        self.served.append(options.turn_id)
        yield ContentDelta(text=f"{options.turn_id} started", at=time.monotonic())
        gate = self.gate(options.turn_id)
        while not gate.wait(0.01):  # the stand-in's "decoding": hold the model until let go
            if stop.is_set():
                return
        yield StreamEnd(finish_reason="stop", at=time.monotonic())

    def open_all(self) -> None:
        """Let every turn, present and future, finish (for teardown)."""
        with self._lock:
            self._all_open = True
            for gate in self.gates.values():
                gate.set()
