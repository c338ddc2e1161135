"""Accumulated state of one turn, built only from events — what renderers draw from.

``TurnState.handle(event)`` folds each event in; the UI and saved transcripts read the fields.
``TurnState.from_wire`` folds a recorded wire log the same way (the notebook's cells).
It never touches the network, so it is tested with plain lists of events.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.turn.events import (
    AudioReady,
    Event,
    ReasoningChunk,
    TextChunk,
    TextReplaced,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.wire import events_from_wire

__all__ = ["ToolEntry", "TurnState"]


@dataclass
class ToolEntry:
    call: ToolCallDone
    result: ToolResult | None = None


@dataclass
class TurnState:
    started: TurnStarted | None = None
    text: str = ""
    chunks: list[TextChunk] = field(default_factory=list)
    # A reasoning model's thinking, apart from the answer (``text`` never includes it).
    reasoning: list[ReasoningChunk] = field(default_factory=list)
    tools: list[ToolEntry] = field(default_factory=list)
    audio: list[AudioReady] = field(default_factory=list)
    errors: list[TurnFailed] = field(default_factory=list)
    replaced: list[TextReplaced] = field(default_factory=list)
    completed: TurnCompleted | None = None
    stopped: bool = False
    # The user spoke over the answer (a barge-in): while it ran (the completion says so) or
    # while it was still being spoken (the page marks it).
    interrupted: bool = False
    # Not an event: the live view's place in line for a model that serves one turn at a time
    # (1 = next), set by whoever follows the turn; 0 when not waiting.
    queued: int = 0

    @classmethod
    def from_wire(cls, frames: Iterable[tuple[str, Mapping[str, Any]]]) -> TurnState:
        """The state of a recorded run, from its wire log (``(event name, data)`` pairs)."""
        state = cls()
        for event in events_from_wire(frames):
            state.handle(event)
        return state

    def handle(self, event: Event) -> None:
        match event:
            case TurnStarted():
                self.started = event
            case TextChunk():
                self.text = event.snapshot
                self.chunks.append(event)
            case ReasoningChunk():
                self.reasoning.append(event)
            case ToolCallDone():
                self.tools.append(ToolEntry(event))
            case ToolResult():
                for entry in self.tools:
                    if entry.call.call_id == event.call_id and entry.result is None:
                        entry.result = event
                        break
            case AudioReady():
                self.audio.append(event)
            case TextReplaced():
                self.text = event.text
                self.replaced.append(event)
            case TurnFailed():
                self.errors.append(event)
            case TurnCompleted():
                self.completed = event
                self.interrupted = self.interrupted or event.interrupted
                self.text = event.text if not self.replaced else self.text

    @property
    def finished(self) -> bool:
        return self.completed is not None or self.stopped

    def thinking_spells(self) -> list[list[ReasoningChunk]]:
        """The thinking in spells: a new one starts whenever answer text or a tool call came in
        between (an agent thinks again before each round)."""
        if not self.reasoning:  # most turns: no sorting on every redraw
            return []
        others = self._answer_times()
        spells: list[list[ReasoningChunk]] = []
        for piece in self.reasoning:
            if spells:
                # The first answer time after the spell's last piece, by bisection: a redraw
                # of a long answer stays O(pieces · log chunks).
                after = bisect_right(others, spells[-1][-1].t_ms)
                if after == len(others) or others[after] > piece.t_ms:
                    spells[-1].append(piece)
                    continue
            spells.append([piece])
        return spells

    def thinking_ended_at(self, spell: list[ReasoningChunk]) -> float | None:
        """When the answer text or tool call that ended ``spell`` came (None: not yet). Text
        split from the same chunk as the last thought (``…</think>Answer``) shares its time."""
        others = self._answer_times()
        at = bisect_left(others, spell[-1].t_ms)
        return others[at] if at < len(others) else None

    def thinking_bands(self) -> list[tuple[float, float]]:
        """Each spell of thinking as (start, end) in ms since the request: for charts."""
        return [
            (spell[0].t_ms, self.thinking_ended_at(spell) or spell[-1].t_ms)
            for spell in self.thinking_spells()
        ]

    def _answer_times(self) -> list[float]:
        return sorted([c.t_ms for c in self.chunks] + [e.call.t_ms for e in self.tools])

    @property
    def llm_error(self) -> TurnFailed | None:
        return next((e for e in self.errors if e.stage != "tts"), None)
