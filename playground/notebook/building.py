"""Building cells: from a finished run's events and its request, and back to a request to run
a cell again."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from playground.errors import ConfigError
from playground.notebook.cells import RunCell, RunConfig
from playground.notebook.wire_log import EventLike, to_wire_event
from playground.prompts.library import PromptLibrary
from playground.prompts.store import parse_document
from playground.turn.events import TurnStarted
from playground.turn.request import HistoryMessage, TurnRequest
from playground.turn.wire import event_payload

__all__ = [
    "cell_from_events",
    "cell_from_run",
    "config_from_request",
    "new_cell_id",
    "request_for_rerun",
]


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
    if request.prompt_draft is not None:
        draft = parse_document(request.prompt_draft, field="prompt_draft").as_draft()
        prompt_ref, node = draft.ref, node or draft.node
        if system is None:
            system = draft.render_system(request.variables)
    elif prompts is not None:
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
        top_p=request.top_p,
        stop=request.stop,
        reasoning_effort=request.reasoning_effort,
        variables=dict(request.variables),
        prompt_draft=request.prompt_draft,
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
        events=tuple(to_wire_event(e) for e in events),
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
    wire = [to_wire_event(e) for e in events]
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
        # A draft's run is rerun from its recorded document, not from a saved version.
        prompt=c.prompt if c.prompt_draft is None else None,
        prompt_draft=c.prompt_draft,
        node=c.node,
        streaming=c.streaming,
        voice=c.voice,
        history=cell.history,
        features=c.features,
        variables=dict(c.variables),
        temperature=c.temperature,
        seed=c.seed,
        max_tokens=c.max_tokens,
        top_p=c.top_p,
        stop=c.stop,
        reasoning_effort=c.reasoning_effort,
    )
