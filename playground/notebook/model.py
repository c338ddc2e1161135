"""A notebook of runs: every finished turn becomes a cell that can be shown, rerun and compared.

A ``RunCell`` keeps the run's configuration (``RunConfig``), the user message and the history the
model saw, and the complete event log in the public wire form of ``playground.api.sse`` —
``{"event": "completion-continue", "data": {...}}`` — so the transcript, tool calls, audio, timing
summary and per-chunk plot can all be redrawn from it, and a JSON export is exactly what a client
of ``POST /v1/interact/stream`` would have received. Everything else (text, finish reason,
timing, tool calls, flags) is derived from the log, never stored twice.

A ``Notebook`` is an immutable value: ``appended``, ``without``, ``with_pinned`` return new
notebooks, so it can live in per-browser UI state without aliasing surprises. JSON import
(``notebook_from_json``) validates everything and names the offending field in a ``ConfigError``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from playground.errors import ConfigError
from playground.prompts.library import PromptLibrary
from playground.turn.events import (
    AudioReady,
    Event,
    StructuredOutput,
    TextChunk,
    TextReplaced,
    ToolCallDone,
    ToolResult,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from playground.turn.request import Features, HistoryMessage, TurnRequest
from playground.turn.similarity import similarity, word_diff
from playground.turn.wire import event_payload

__all__ = [
    "MAX_CELLS",
    "MAX_NOTEBOOK_BYTES",
    "NOTEBOOK_FORMAT",
    "NOTEBOOK_VERSION",
    "EventLike",
    "Notebook",
    "RunCell",
    "RunConfig",
    "WireEvent",
    "cell_from_events",
    "cell_from_run",
    "cell_json",
    "compare_cells",
    "config_from_request",
    "new_cell_id",
    "notebook_from_json",
    "notebook_to_json",
    "request_for_rerun",
]

NOTEBOOK_FORMAT: Final = "streaming-playground-notebook"
NOTEBOOK_VERSION: Final = 1
MAX_CELLS: Final = 200
MAX_NOTEBOOK_BYTES: Final = 20_000_000  # the JSON text, audio included

EventName = Literal[
    "completion-start",
    "completion-continue",
    "tool-call",
    "tool-result",
    "audio",
    "structured-output",
    "completion-replace",
    "error",
    "completion-end",
    "end",
]

_CELL_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
Number = StrictInt | StrictFloat


# -- what each event's data must hold (more keys are allowed: the wire form may grow) --------


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _DisabledData(_Data):
    name: StrictStr
    reason: StrictStr
    alternative: StrictStr | None = None


class _StartData(_Data):
    turn_id: StrictStr
    model: StrictStr
    prompt: StrictStr
    node: StrictStr
    streaming: StrictBool
    voice: StrictStr | None
    disabled_features: list[_DisabledData] = []


class _ContinueData(_Data):
    text: StrictStr
    seq: StrictInt
    t_ms: Number
    gap_ms: Number


class _ToolCallData(_Data):
    call_id: StrictStr
    name: StrictStr
    arguments: dict[str, Any]
    t_ms: Number


class _ToolResultData(_Data):
    call_id: StrictStr
    name: StrictStr
    output: StrictStr
    t_ms: Number
    duration_ms: Number
    is_error: StrictBool = False


class _AudioData(_Data):
    seq: StrictInt
    format: StrictStr
    sample_rate: StrictInt
    data: StrictStr | None = None  # absent when the export left the audio out
    text: StrictStr
    t_ms: Number


class _StructuredData(_Data):
    complete: StrictBool
    valid: StrictBool
    errors: list[StrictStr]
    pending: list[StrictStr]
    final: StrictBool = False


class _ReplaceData(_Data):
    text: StrictStr
    reason: StrictStr


class _ErrorData(_Data):
    code: StrictStr
    message: StrictStr
    retryable: StrictBool
    stage: StrictStr


class _TimingData(_Data):
    ttft_ms: Number | None
    ttfa_ms: Number | None
    chunks: StrictInt
    total_ms: Number


class _EndData(_Data):
    text: StrictStr
    finish_reason: StrictStr
    usage: dict[str, Any] | None
    timing: _TimingData


_DATA_SCHEMAS: Final[dict[str, type[_Data]]] = {
    "completion-start": _StartData,
    "completion-continue": _ContinueData,
    "tool-call": _ToolCallData,
    "tool-result": _ToolResultData,
    "audio": _AudioData,
    "structured-output": _StructuredData,
    "completion-replace": _ReplaceData,
    "error": _ErrorData,
    "completion-end": _EndData,
    "end": _Data,
}


class _NestedError(ValueError):
    """A validation error inside ``data``, carrying where, so the import error can name it."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(f"{_dotted(loc)}: {message}")
        self.loc = loc
        self.detail = message


def _dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in loc)


# -- the models --------------------------------------------------------------------------------


class WireEvent(BaseModel):
    """One event of a run exactly as the streaming API sends it: SSE event name and JSON data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: EventName
    data: dict[str, Any]

    @model_validator(mode="after")
    def _data_matches_event(self) -> WireEvent:
        try:
            _DATA_SCHEMAS[self.event].model_validate(self.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise _NestedError(("data", *first["loc"]), first["msg"]) from None
        return self


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
    variables: dict[str, str] = Field(default_factory=dict)
    disabled_features: tuple[str, ...] = ()  # names from completion-start
    system: str | None = None

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

    # -- derived from the log --------------------------------------------------------------
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
        started = self.started
        return str(started["turn_id"]) if started else None

    @property
    def text(self) -> str:
        """The answer as the user saw it last (a retraction replaces it, as in ``TurnState``)."""
        text = ""
        replaced = False
        for e in self.events:
            if e.event == "completion-continue":
                text += e.data["text"]
            elif e.event == "completion-replace":
                text, replaced = e.data["text"], True
            elif e.event == "completion-end" and not replaced:
                text = e.data["text"]
        return text

    @property
    def finish_reason(self) -> str | None:
        ended = self.ended
        return str(ended["finish_reason"]) if ended else None

    @property
    def timing(self) -> dict[str, Any] | None:
        """``completion-end.timing``: ``ttft_ms``, ``ttfa_ms``, ``chunks``, ``total_ms``, …"""
        ended = self.ended
        return dict(ended["timing"]) if ended else None

    @property
    def usage(self) -> dict[str, Any] | None:
        ended = self.ended
        return ended.get("usage") if ended else None

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """``completion-continue`` data in order (``text``, ``seq``, ``t_ms``, ``gap_ms``)."""
        return self._of("completion-continue")

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Each call (``call_id``, ``name``, ``arguments``, ``t_ms``), ``result`` joined in."""
        results = self._of("tool-result")
        calls: list[dict[str, Any]] = []
        used: set[int] = set()
        for call in self._of("tool-call"):
            match = next(
                (
                    i
                    for i, r in enumerate(results)
                    if i not in used and r["call_id"] == call["call_id"]
                ),
                None,
            )
            if match is not None:
                used.add(match)
            calls.append({**call, "result": results[match] if match is not None else None})
        return calls

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
    def failed(self) -> bool:
        """The answer itself failed (an error outside speech); a voice error alone is not this."""
        return any(e.get("stage") != "tts" for e in self.errors) or self.finish_reason == "error"

    @property
    def has_error(self) -> bool:
        return bool(self.errors)

    def without_audio_data(self) -> RunCell:
        if not self.has_audio_data:
            return self
        events = tuple(
            WireEvent(event="audio", data={k: v for k, v in e.data.items() if k != "data"})
            if e.event == "audio"
            else e
            for e in self.events
        )
        return self.model_copy(update={"events": events})


class Notebook(BaseModel):
    """All runs of one browser, oldest first, and the pair pinned side by side (if any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["streaming-playground-notebook"] = NOTEBOOK_FORMAT
    version: Literal[1] = NOTEBOOK_VERSION
    cells: tuple[RunCell, ...] = ()
    pinned: tuple[str, str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Notebook:
        seen: set[str] = set()
        for cell in self.cells:
            if cell.id in seen:
                raise ValueError(f"cells: two cells have the id {cell.id!r}")
            seen.add(cell.id)
        if self.pinned is not None:
            a, b = self.pinned
            if a == b:
                raise ValueError("pinned: a cell cannot be pinned beside itself")
            for cell_id in self.pinned:
                if cell_id not in seen:
                    raise ValueError(f"pinned: there is no cell {cell_id!r}")
        return self

    def cell(self, cell_id: str) -> RunCell:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise ConfigError(f"there is no cell {cell_id!r} in this notebook", field="cell_id")

    def appended(self, cell: RunCell, *, max_cells: int = MAX_CELLS) -> Notebook:
        """This notebook with ``cell`` added last; the oldest cells go beyond ``max_cells``."""
        return Notebook(cells=(*self.cells, cell), pinned=self.pinned).trimmed(max_cells)

    def without(self, cell_id: str) -> Notebook:
        """This notebook with the cell deleted (unpinning it); unknown ids are a ``ConfigError``."""
        self.cell(cell_id)
        pinned = self.pinned if self.pinned and cell_id not in self.pinned else None
        return Notebook(cells=tuple(c for c in self.cells if c.id != cell_id), pinned=pinned)

    def with_pinned(self, a: str, b: str) -> Notebook:
        """Pin two different cells side by side for comparison."""
        self.cell(a)
        self.cell(b)
        if a == b:
            raise ConfigError("pick two different runs to compare", field="pinned")
        return Notebook(cells=self.cells, pinned=(a, b))

    def unpinned(self) -> Notebook:
        return Notebook(cells=self.cells)

    def pinned_cells(self) -> tuple[RunCell, RunCell] | None:
        if self.pinned is None:
            return None
        return self.cell(self.pinned[0]), self.cell(self.pinned[1])

    def trimmed(self, max_cells: int) -> Notebook:
        """The newest ``max_cells`` cells (a pinned pair losing a cell is unpinned)."""
        if len(self.cells) <= max_cells:
            return self
        kept = self.cells[len(self.cells) - max_cells :] if max_cells > 0 else ()
        ids = {c.id for c in kept}
        pinned = self.pinned if self.pinned and all(p in ids for p in self.pinned) else None
        return Notebook(cells=kept, pinned=pinned)

    def without_audio_data(self) -> Notebook:
        return Notebook(cells=tuple(c.without_audio_data() for c in self.cells), pinned=self.pinned)


# -- building cells ----------------------------------------------------------------------------

EventLike: TypeAlias = Event | WireEvent | tuple[str, Mapping[str, Any]] | Mapping[str, Any]
"""A turn event (``playground.turn.events``), a ``WireEvent``, an SSE ``(name, data)`` pair, or a
``{"event": name, "data": {...}}`` mapping."""

_EVENT_TYPES: Final = (
    TurnStarted,
    TextChunk,
    ToolCallDone,
    ToolResult,
    AudioReady,
    TextReplaced,
    StructuredOutput,
    TurnFailed,
    TurnCompleted,
)


def _wire(event: EventLike) -> WireEvent:
    if isinstance(event, WireEvent):
        return event
    if isinstance(event, _EVENT_TYPES):
        name, data = event_payload(event)
        return WireEvent.model_validate({"event": name, "data": data})
    if isinstance(event, tuple):
        return WireEvent.model_validate({"event": event[0], "data": dict(event[1])})
    return WireEvent.model_validate(dict(event))


def new_cell_id() -> str:
    return f"cell_{secrets.token_hex(8)}"


def config_from_request(
    request: TurnRequest,
    started: TurnStarted | Mapping[str, Any] | None = None,
    *,
    system: str | None = None,
    prompts: PromptLibrary | None = None,
) -> RunConfig:
    """The ``RunConfig`` of ``request``, with model/prompt/node/voice as the server resolved them.

    ``started`` is the run's ``completion-start`` (event or data). Without it (the composer's
    current configuration, not yet run) the request's own values are used and ``prompts``
    resolves a missing prompt or node. With ``prompts`` the system text is filled in too, unless
    ``system`` is given. Raises ``ConfigError`` naming the field that cannot be determined.
    """
    data: dict[str, Any]
    if isinstance(started, TurnStarted):
        data = event_payload(started)[1]
    else:
        data = dict(started) if started is not None else {}
    model = data.get("model") or request.model
    if not model:
        raise ConfigError("no model: pick a model first", field="model")
    prompt_ref: str | None = data.get("prompt") or request.prompt
    node: str | None = data.get("node") or request.node
    resolved = None
    if prompts is not None:
        try:
            resolved = prompts.resolve(prompt_ref, request.node)
        except ConfigError as exc:
            raise ConfigError(exc.message, field="prompt") from exc
        prompt_ref = resolved.ref
        node = node or resolved.node
        if system is None:
            system = resolved.render_system(request.variables)
    if not prompt_ref:
        raise ConfigError("no prompt: pick a prompt version first", field="prompt")
    if node not in ("prompt", "agent"):
        raise ConfigError("no node type: pick the prompt or agent node", field="node")
    voice = data.get("voice", request.voice)
    if voice in ("", "none", "off"):
        voice = None
    return RunConfig(
        model=model,
        prompt=prompt_ref,
        node=node,
        streaming=data.get("streaming", request.streaming),
        voice=voice,
        features=request.features,
        temperature=request.temperature,
        seed=request.seed,
        max_tokens=request.max_tokens,
        variables=dict(request.variables),
        disabled_features=tuple(d["name"] for d in data.get("disabled_features", ())),
        system=system,
    )


def cell_from_events(
    config: RunConfig,
    message: str,
    events: Iterable[EventLike],
    *,
    history: Iterable[HistoryMessage] = (),
    cell_id: str | None = None,
    created_at: datetime | None = None,
) -> RunCell:
    """A cell for one run from its events (turn events, SSE pairs or wire dicts), in order."""
    return RunCell(
        id=cell_id or new_cell_id(),
        created_at=created_at or datetime.now(UTC),
        config=config,
        message=message,
        history=tuple(history),
        events=tuple(_wire(e) for e in events),
    )


def cell_from_run(
    request: TurnRequest,
    events: Iterable[EventLike],
    *,
    system: str | None = None,
    prompts: PromptLibrary | None = None,
    cell_id: str | None = None,
    created_at: datetime | None = None,
) -> RunCell:
    """``config_from_request`` + ``cell_from_events`` for a finished run of ``request``."""
    wire = [_wire(e) for e in events]
    started = next((e.data for e in wire if e.event == "completion-start"), None)
    if started is None:
        raise ConfigError("the run has no completion-start event", field="events")
    config = config_from_request(request, started, system=system, prompts=prompts)
    return cell_from_events(
        config,
        request.message,
        wire,
        history=request.history,
        cell_id=cell_id,
        created_at=created_at,
    )


def request_for_rerun(cell: RunCell) -> TurnRequest:
    """The ``TurnRequest`` that runs ``cell`` again (as a new cell), or fills the composer."""
    c = cell.config
    return TurnRequest(
        message=cell.message,
        model=c.model,
        prompt=c.prompt,
        node=c.node,
        streaming=c.streaming,
        voice=c.voice,
        history=cell.history,
        features=c.features,
        variables=dict(c.variables),
        temperature=c.temperature,
        seed=c.seed,
        max_tokens=c.max_tokens,
    )


# -- JSON --------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def notebook_to_json(nb: Notebook, *, include_audio: bool) -> str:
    """The notebook as JSON; without ``include_audio`` the audio events lose their ``data``."""
    dumped = nb.model_dump(mode="json")
    if not include_audio:
        for cell in dumped["cells"]:
            for event in cell["events"]:
                if event["event"] == "audio":
                    event["data"].pop("data", None)
    return _dumps(dumped)


def cell_json(cell: RunCell) -> str:
    """One cell as it appears inside ``notebook_to_json(..., include_audio=True)``."""
    return _dumps(cell.model_dump(mode="json"))


def _import_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    message = first["msg"]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, _NestedError):
        loc, message = (*loc, *cause.loc), cause.detail
    elif isinstance(cause, ValueError) and ": " in str(cause):
        # The notebook's own checks say "field: problem".
        head, _, message = str(cause).partition(": ")
        loc = (*loc, head)
    path = _dotted(loc) or "notebook"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return ConfigError(f"notebook JSON: {path}: {message}{more}", field=path)


def notebook_from_json(
    text: str | bytes, *, max_bytes: int = MAX_NOTEBOOK_BYTES, max_cells: int = MAX_CELLS
) -> Notebook:
    """Load a ``notebook_to_json`` export. Bad input is a ``ConfigError`` naming the field
    (``field`` is the dotted path, e.g. ``cells.0.events.3.data.text``)."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise ConfigError(
            f"notebook JSON is {size:,} bytes; the limit is {max_bytes:,}", field="notebook"
        )
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"notebook JSON is not valid JSON: {exc}", field="notebook") from None
    if not isinstance(raw, dict):
        raise ConfigError("notebook JSON must be an object", field="notebook")
    if raw.get("format") != NOTEBOOK_FORMAT:
        raise ConfigError(
            f"not a notebook export: format must be {NOTEBOOK_FORMAT!r}", field="format"
        )
    cells = raw.get("cells")
    if isinstance(cells, list) and len(cells) > max_cells:
        raise ConfigError(
            f"the notebook has {len(cells)} cells; the limit is {max_cells}", field="cells"
        )
    try:
        return Notebook.model_validate(raw)
    except ValidationError as exc:
        raise _import_error(exc) from None


# -- comparison --------------------------------------------------------------------------------

_METRICS: Final = (
    ("ttft_ms", "time to first token (ms)"),
    ("ttfa_ms", "time to first audio (ms)"),
    ("total_ms", "total (ms)"),
    ("chunks", "chunks"),
    ("characters", "characters"),
    ("chars_per_s", "characters / s"),
    ("tokens_per_s", "tokens / s"),
    ("audio_pieces", "audio pieces"),
    ("audio_ms", "audio length (ms)"),
)
_CONFIG_FIELDS: Final = (
    "model",
    "prompt",
    "node",
    "streaming",
    "voice",
    "temperature",
    "seed",
    "max_tokens",
)


def _metrics(cell: RunCell) -> dict[str, Any]:
    timing = cell.timing or {}
    usage = cell.usage or {}
    values: dict[str, Any] = {name: timing.get(name) for name, _ in _METRICS}
    values["completion_tokens"] = usage.get("completion_tokens")
    values["tool_calls"] = len(cell.tool_calls)
    values["words"] = len(cell.text.split())
    return values


def _delta(a: Any, b: Any) -> float | None:
    numbers = (int, float)
    if (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return float(b) - float(a)
    return None


def compare_cells(a: RunCell, b: RunCell) -> dict[str, Any]:
    """Two runs side by side: the same metrics for both, configuration differences, and how
    alike the answers are (word similarity in [0, 1] and a word diff from ``a`` to ``b``).

    Returns JSON-ready data::

        {"a": {"id", "config", "text", "finish_reason", "stopped", "failed"}, "b": {...},
         "metrics": [{"name", "label", "a", "b", "delta"}, ...],   # delta = b - a, or None
         "config": [{"field", "a", "b", "same"}, ...],
         "similarity": 0.83, "diff": [{"op": "equal"|"insert"|"delete", "text"}, ...]}
    """
    ma, mb = _metrics(a), _metrics(b)
    labels = dict(_METRICS) | {
        "completion_tokens": "completion tokens",
        "tool_calls": "tool calls",
        "words": "words",
    }
    metrics = [
        {
            "name": name,
            "label": label,
            "a": ma[name],
            "b": mb[name],
            "delta": _delta(ma[name], mb[name]),
        }
        for name, label in labels.items()
    ]
    ca, cb = a.config.model_dump(mode="json"), b.config.model_dump(mode="json")
    config = [
        {"field": name, "a": ca[name], "b": cb[name], "same": ca[name] == cb[name]}
        for name in (*_CONFIG_FIELDS, "features")
    ]

    def side(cell: RunCell) -> dict[str, Any]:
        return {
            "id": cell.id,
            "config": cell.config.model_dump(mode="json", exclude={"system"}),
            "text": cell.text,
            "finish_reason": cell.finish_reason,
            "stopped": cell.stopped,
            "failed": cell.failed,
        }

    return {
        "a": side(a),
        "b": side(b),
        "metrics": metrics,
        "config": config,
        "similarity": similarity(a.text, b.text),
        "diff": [{"op": op, "text": text} for op, text in word_diff(a.text, b.text)],
    }
