"""One run of the notebook: what it was asked to do (``RunConfig``) and what happened
(``RunCell``: the message, the history the model saw and the complete event log).

The log is kept in the public wire form (``playground.notebook.wire_log``), so the transcript,
tool calls, audio, timing summary and per-chunk plot can all be redrawn from it and a JSON
export is exactly what a client of ``POST /v1/interact/stream`` would have received. Text,
finish reason, timing, tool-call pairing and failure are derived from the log through the same
fold as a live turn (``TurnState.from_wire``), never stored twice.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from functools import cached_property
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from playground.notebook.wire_log import WireEvent
from playground.reasoning import Effort
from playground.turn.request import Features, HistoryMessage
from playground.turn.state import TurnState
from playground.turn.wire import event_payload

__all__ = ["RunCell", "RunConfig", "VoiceStage", "VoiceTiming"]

_CELL_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
_MAX_VOICE_MS: Final = 3_600_000.0  # an hour: anything longer is not a measurement
VoiceStageName = Literal[
    "transcript",
    "request",
    "first_token",
    "first_sentence",
    "tts_first_byte",
    "first_audible",
    "playback",
]


class VoiceStage(BaseModel):
    """One bar of a spoken turn's waterfall: ms since the end of the user's speech."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: VoiceStageName
    start_ms: float = Field(ge=0, le=_MAX_VOICE_MS)
    end_ms: float = Field(ge=0, le=_MAX_VOICE_MS)


class VoiceTiming(BaseModel):
    """A spoken turn's waterfall as the page measured it (playback starts in the browser, so
    only the page knows the whole of it): the stages in order, end of speech -> first audible
    sample playing, and how fast the voice went silent if the user spoke over it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stages: tuple[VoiceStage, ...] = Field(default=(), max_length=len(get_args(VoiceStageName)))
    voice_to_voice_ms: float | None = Field(default=None, ge=0, le=_MAX_VOICE_MS)
    barge_in_ms: float | None = Field(default=None, ge=0, le=_MAX_VOICE_MS)


class RunConfig(BaseModel):
    """What a run was asked to do, with the model, prompt and node the server resolved.

    ``temperature``, ``seed`` and ``max_tokens`` are what the request said (None: the prompt's
    defaults applied). ``system`` is the system text the model got, when it was known at record
    time; exports fall back to a prompt resolver without it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)  # e.g. "openai:gpt-4o-mini"
    prompt: str = Field(min_length=1)  # "id@version"
    node: Literal["prompt", "agent"]
    streaming: bool = True
    voice: str | None = None  # e.g. "deepgram:aura-2-thalia-en"
    features: Features = Features()
    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=32_768)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: tuple[str, ...] | None = None
    reasoning_effort: Effort | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    # A run of an unsaved draft keeps the draft's whole document (``prompt`` is then
    # ``id@draft:<hash>``), so the run can be rerun, exported and compared exactly.
    prompt_draft: dict[str, Any] | None = None
    disabled_features: tuple[str, ...] = ()  # names from completion-start
    system: str | None = None
    # A column of an arena run: "<arena run id>/<column>/<columns>", the cells of one arena
    # run sharing the id.
    arena: str | None = Field(default=None, pattern=r"^arena_[0-9a-f]{12}/[1-4]/[1-4]$")

    @property
    def engine(self) -> str:
        """``openai``, ``azure``, ``compatible`` or ``local``."""
        return self.model.partition(":")[0]

    @property
    def model_name(self) -> str:
        engine, sep, name = self.model.partition(":")
        return name if sep else engine

    @property
    def voice_engine(self) -> str | None:
        return self.voice.partition(":")[0] if self.voice else None

    @property
    def voice_name(self) -> str | None:
        if not self.voice:
            return None
        engine, sep, name = self.voice.partition(":")
        return name if sep else engine

    @property
    def prompt_id(self) -> str:
        return self.prompt.partition("@")[0]


class RunCell(BaseModel):
    """One run: its configuration, what was sent, and the complete event log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_CELL_ID_PATTERN)
    created_at: datetime
    config: RunConfig
    message: str = Field(min_length=1)
    history: tuple[HistoryMessage, ...] = ()
    events: tuple[WireEvent, ...] = ()
    # The user spoke over the answer: set by the turn's own completion when it was still
    # running, or here when it had finished but was still being spoken.
    interrupted: bool = False
    voice: VoiceTiming | None = None  # a spoken turn's waterfall, reported by the page

    # -- derived from the log, through the same fold as the live view ---------------------
    @cached_property
    def turn_state(self) -> TurnState:
        """The run folded into a ``TurnState`` exactly as the page folds a live turn (computed
        once per cell; treat it as read-only). The audio bytes stay out of it: the cell's
        ``audio`` serves them from the log."""
        state = TurnState.from_wire(
            (e.event, _without_audio_bytes(e.data) if e.event == "audio" else e.data)
            for e in self.events
        )
        state.interrupted = state.interrupted or self.interrupted
        return state

    def _of(self, name: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.event == name]

    def _first(self, name: str) -> dict[str, Any] | None:
        return next((e.data for e in self.events if e.event == name), None)

    @property
    def history_length(self) -> int:
        return len(self.history)

    @property
    def started(self) -> dict[str, Any] | None:
        """The ``completion-start`` data, if the run got that far."""
        return self._first("completion-start")

    @property
    def ended(self) -> dict[str, Any] | None:
        """The ``completion-end`` data, if the run finished (a stopped run finishes too)."""
        return self._first("completion-end")

    @property
    def turn_id(self) -> str | None:
        started = self.turn_state.started
        return started.turn_id if started else None

    @property
    def text(self) -> str:
        """The answer as the user saw it last (a retraction replaces it)."""
        return self.turn_state.text

    @property
    def finish_reason(self) -> str | None:
        completed = self.turn_state.completed
        return completed.finish_reason if completed else None

    @property
    def timing(self) -> dict[str, Any] | None:
        """``completion-end.timing``: ``ttft_ms``, ``ttfa_ms``, ``chunks``, ``total_ms``, …"""
        completed, ended = self.turn_state.completed, self.ended
        if completed is None or ended is None:
            return None
        # Only what the record holds: runs saved before a summary field existed lack it, and
        # a comparison shows such a field as unknown rather than as zero.
        recorded = ended["timing"]
        return {k: v for k, v in asdict(completed.timing).items() if k in recorded}

    @property
    def usage(self) -> dict[str, Any] | None:
        ended = self.ended
        return ended.get("usage") if ended else None

    @property
    def cost_usd(self) -> float | None:
        """What the run cost (None: unknown price, or a run recorded before costs were)."""
        ended = self.ended
        cost = ended.get("cost") if ended else None
        usd = cost.get("usd") if isinstance(cost, dict) else None
        return float(usd) if isinstance(usd, int | float) else None

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """``completion-continue`` data in order (``text``, ``seq``, ``t_ms``, ``gap_ms``)."""
        return self._of("completion-continue")

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Each call (``call_id``, ``name``, ``arguments``, ``t_ms``), ``result`` joined in."""
        return [
            {
                **event_payload(entry.call)[1],
                "result": event_payload(entry.result)[1] if entry.result is not None else None,
            }
            for entry in self.turn_state.tools
        ]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return self._of("tool-result")

    @property
    def audio(self) -> list[dict[str, Any]]:
        """``audio`` data in order; ``data`` (base64 WAV) is missing when it was not kept."""
        return self._of("audio")

    @property
    def has_audio_data(self) -> bool:
        return any("data" in a for a in self.audio)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self._of("error")

    @property
    def stopped(self) -> bool:
        return self.finish_reason == "stopped"

    @property
    def was_interrupted(self) -> bool:
        """The user spoke over the answer (while it ran, or while it was being spoken)."""
        return self.turn_state.interrupted

    @property
    def failed(self) -> bool:
        """The answer itself failed (an error outside speech); a voice error alone is not this."""
        return self.turn_state.llm_error is not None or self.finish_reason == "error"

    @property
    def has_error(self) -> bool:
        return bool(self.errors)

    def without_audio_data(self) -> RunCell:
        if not self.has_audio_data:
            return self
        events = tuple(
            WireEvent(event="audio", data=_without_audio_bytes(e.data)) if e.event == "audio" else e
            for e in self.events
        )
        return self._rebuilt(events=events)

    def spoken_over(self) -> RunCell:
        """This cell marked interrupted: its answer had finished, but not being spoken."""
        return self if self.interrupted else self._rebuilt(interrupted=True)

    def with_voice(self, voice: VoiceTiming) -> RunCell:
        return self._rebuilt(voice=voice)

    def _rebuilt(self, **changes: Any) -> RunCell:
        # Built anew rather than model_copy'd, which would carry the cached fold along.
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return RunCell(**(fields | changes))


def _without_audio_bytes(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "data"}
