"""The HTTP API: the streaming turn endpoint, resume and cancel, listings, the Voiceflow route.

Everything that can be wrong with a request is answered with a 4xx JSON error naming the field
before any stream starts; once streaming, failures travel as ``error`` events and the stream
still ends with ``end``. Turns run on their own tasks, logged in a ``turn.log.TurnLogs`` (their
frames encoded once, by ``turn_frames``) so a dropped connection can resume; with no follower
left a turn is stopped after a short grace period.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from playground.api import listings
from playground.api.errors import (
    SSE_RESPONSES,
    error_response,
    last_event_id,
    query_flag,
    read_json,
    validation_error,
)
from playground.api.eval_routes import EvalStore, add_eval_routes
from playground.api.idempotency import HEADER, IdempotencyKeys, valid_key
from playground.api.identity import client_key, presented_token, token_matches
from playground.api.limits import make_conversations, make_limiter, make_shared_evals
from playground.api.listings import add_health
from playground.api.prompt_routes import add_prompt_routes
from playground.api.sse import SSE_HEADERS, DisconnectAwareStreamingResponse, sse_frame
from playground.api.turn_frames import encode_event, follow_frames, retry_frame
from playground.api.voice_socket import VoiceConnection
from playground.api.voiceflow import VoiceflowRequest, voiceflow_frames
from playground.api.widget import presents_widget_token, widget_scope_problem
from playground.errors import BusyError, ConfigError, UnsupportedValueError
from playground.prompts.store import InvalidPromptError
from playground.services import Services
from playground.state.redis_turns import SharedTurns
from playground.turn.events import Event
from playground.turn.gate import Limiter, TurnGate
from playground.turn.log import TurnLog, TurnLogs
from playground.turn.request import TurnRequest
from playground.turn.runner import PreparedTurn, TurnRunner

__all__ = [
    "ApiRuns",
    "add_health",
    "build_api_router",
    "error_response",
    "hoist_schema_defs",
]

_COMPONENTS = "#/components/schemas/{model}"


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    # Nested models go to components (see hoist_schema_defs), where OpenAPI tools resolve them.
    return model.model_json_schema(ref_template=_COMPONENTS)


def hoist_schema_defs(openapi: dict[str, Any]) -> dict[str, Any]:
    """Move the ``$defs`` of hand-written request schemas into ``components.schemas``."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            components.update(node.pop("$defs", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi.get("paths", {}))
    return openapi


def _sse(body: AsyncIterator[bytes]) -> DisconnectAwareStreamingResponse:
    return DisconnectAwareStreamingResponse(
        body, media_type="text/event-stream", headers=SSE_HEADERS
    )


def _busy_response(busy: BusyError) -> JSONResponse:
    """The model cannot take the turn now (the in-process model's queue is full): 503 before
    any stream opens, with when to retry, rather than a stream that starts only to fail."""
    response = error_response(503, "model_busy", busy.message)
    response.headers["Retry-After"] = str(max(1, math.ceil(busy.retry_after_s)))
    return response


async def _retry_first(retry: bytes, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``frames`` with the ``retry:`` field in front of the first: the same bytes in one write
    fewer per stream (each write costs a system call and the loopback's delivery, measured as
    the largest single cost of a short turn: ``benchmarks/turn_cpu --profile``)."""
    first = True
    async for frame in frames:
        yield retry + frame if first else frame
        first = False
    if first:  # nothing followed: the field still goes, as it always did
        yield retry


def _read_to_the_end(log: TurnLog, after: int) -> bool:
    """The turn is over and the client has every frame, ``end`` included when there is one."""
    last_id = len(log.encoded) if log.complete else len(log.encoded) - 1
    return log.done and after >= last_id


class _Api:
    def __init__(
        self,
        services: Services,
        runner: TurnRunner,
        limiter: Limiter,
        shared: SharedTurns | None = None,
    ) -> None:
        s = services.settings
        self.services = services
        self.runner = runner
        self.shared = shared  # other replicas' turns, for a cancel sent through this one
        # Shared with the page: one client's turns count once, whichever surface starts them.
        self.limiter = limiter
        self.keepalive_s = s.playground_keepalive_s
        # A reconnecting EventSource must come back inside the grace, or the turn it wants is
        # stopped; browsers wait ~3 s, so with the default 5 s grace one failed retry is fatal.
        self.retry = retry_frame(s.playground_resume_grace_s)
        self.turns: TurnLogs[TurnLog] = TurnLogs(
            grace_s=s.playground_resume_grace_s,
            retention_s=s.playground_turn_retention_s,
            max_turns=s.playground_max_kept_turns,
            max_bytes=s.playground_max_kept_bytes,
            encode=encode_event,
            on_finished=self._released,
        )
        self.idempotent: IdempotencyKeys[TurnLog] = IdempotencyKeys(
            max_keys=s.playground_max_kept_turns, lookup=self.turns.get
        )
        self.conversations = make_conversations(s)

    # -- checks shared by every endpoint --------------------------------------------------------

    def unauthorized(
        self, request: HTTPConnection, *, allow_raw: bool = False
    ) -> JSONResponse | None:
        token = self.services.settings.playground_api_token
        if token is None:
            return None
        presented = presented_token(request.headers.get("authorization"), allow_raw=allow_raw)
        if token_matches(presented, token.get_secret_value().strip()):
            return None
        response = error_response(
            401,
            "unauthorized",
            "send Authorization: Bearer <PLAYGROUND_API_TOKEN>",
            "Authorization",
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def client_id(self, request: HTTPConnection, *, allow_raw: bool = False) -> str:
        peer = request.client.host if request.client else None
        settings = self.services.settings
        return client_key(request.headers, peer, settings, allow_raw_token=allow_raw)

    def admit(self, client: str) -> JSONResponse | None:
        retry_after = self.limiter.admit(client)
        if retry_after is None:
            return None
        response = error_response(
            429, "rate_limited", "too many turns from this client; retry after a pause"
        )
        response.headers["Retry-After"] = str(int(retry_after))
        return response

    # -- the streaming endpoint and its resume / cancel ----------------------------------------

    async def interact_stream(self, request: Request) -> Any:
        started_at = time.monotonic()
        settings = self.services.settings
        # The widget's publishable key opens this route only, for its prompts and models.
        widget = False
        if (denied := self.unauthorized(request)) is not None:
            if not presents_widget_token(request.headers, settings):
                return denied
            widget = True
        key = request.headers.get(HEADER)
        if key is not None and not valid_key(key := key.strip()):
            return error_response(
                400, "invalid_request", f"{HEADER} must be 1-255 printable ASCII", HEADER
            )
        data = await read_json(request, settings.playground_max_body_bytes)
        if isinstance(data, JSONResponse):
            return data
        client = self.client_id(request)
        if key is not None and (existing := self.idempotent.find(client, key)) is not None:
            # A retried POST: follow the turn it started rather than start (and pay for) another.
            return self.stream_from(request, existing)
        if not isinstance(data, dict):
            return error_response(
                422, "invalid_request", "the body must be a JSON object", "(body)"
            )
        try:
            turn_request = TurnRequest.model_validate(data)
            turn = self.runner.prepare(turn_request, self.services.server_credentials, client)
        except ValidationError as exc:
            return validation_error(exc)
        except InvalidPromptError as exc:  # a prompt_draft that is not a valid prompt file
            return error_response(422, "invalid_prompt", exc.message, exc.field)
        except UnsupportedValueError as exc:
            return error_response(422, "unsupported_value", exc.message, exc.field)
        except ConfigError as exc:
            return error_response(400, "invalid_request", exc.message, exc.field)
        if widget and (out_of_scope := widget_scope_problem(turn, settings)) is not None:
            return out_of_scope
        if (busy := turn.busy()) is not None:
            return _busy_response(busy)
        if (limited := self.admit(client)) is not None:
            return limited
        log = TurnLog(turn_id=turn.turn_id, owner=client, turn=turn)
        if self.shared is not None:
            bound = await self.shared.add(
                log.turn_id,
                log.stop,
                partial(self._followed_elsewhere, log),
                idempotency=(client, key) if key is not None else None,
            )
            if bound is not None:
                # The same retried POST reached another replica first: follow its turn.
                self.limiter.release(client)
                return self.stream_any(request, bound)
        events: AsyncIterator[Event] = self.runner.stream(turn, started_at=started_at)
        if self.shared is not None:
            events = self._mirrored(self.shared, log, events)
        self.turns.start(log, events)
        if key is not None:
            self.idempotent.remember(client, key, log.turn_id)
        return _sse(self.follow(log))

    def stream_from(self, request: Request, log: TurnLog) -> Response:
        """Follow ``log`` after the request's ``Last-Event-ID``; 204 when nothing is left, which
        is what makes a browser ``EventSource`` stop reconnecting."""
        after = last_event_id(request)
        if isinstance(after, JSONResponse):
            return after
        if _read_to_the_end(log, after):
            return Response(status_code=204)
        return _sse(self.follow(log, after))

    async def follow(self, log: TurnLog, after: int = -1) -> AsyncIterator[bytes]:
        """Follow a log for one connection; leaving starts its grace period."""
        with self.turns.following(log):
            async for frames in _retry_first(
                self.retry, follow_frames(log, after, self.keepalive_s)
            ):
                yield frames

    @staticmethod
    async def _mirrored(
        shared: SharedTurns, log: TurnLog, events: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
        """``events`` as the log records them, each one's frame mirrored once it is encoded (the
        log asks for the next event right after it appended this one)."""
        complete = False
        try:
            async for event in events:
                yield event
                shared.mirror(log.turn_id, len(log.encoded) - 1, log.encoded[-1])
            complete = True
        finally:
            if complete:  # as ``follow_frames`` closes a stream that ran to its end
                end = len(log.encoded)
                shared.mirror(log.turn_id, end, sse_frame("end", {}, end))
            shared.mirror(log.turn_id, -1, None)

    def _followed_elsewhere(self, log: TurnLog) -> None:
        """A client follows this turn through another replica: its grace starts again."""
        if log.followers == 0 and not log.done:
            log.schedule_stop(self.turns.grace_s)

    async def follow_shared(self, turn_id: str, after: int) -> AsyncIterator[bytes]:
        """Follow a turn another replica runs (or ran), from its mirrored frames."""
        assert self.shared is not None
        frames = self.shared.frames_after(turn_id, after, self.keepalive_s)
        async for frame in _retry_first(self.retry, frames):
            yield frame

    async def _released(self, log: TurnLog) -> None:
        if log.owner is not None:
            self.limiter.release(log.owner)
        if self.shared is not None:
            await self.shared.remove(log.turn_id)

    def find_turn(self, request: Request, turn_id: str) -> TurnLog | JSONResponse:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        log = self.turns.get(turn_id)
        if log is None:
            return error_response(
                404, "unknown_turn", f"no turn {turn_id[:64]!r} (or it expired)", "turn_id"
            )
        return log

    async def resume(self, request: Request, turn_id: str) -> Any:
        log = self.find_turn(request, turn_id)
        if isinstance(log, JSONResponse):
            shared = self.shared
            if log.status_code == 404 and shared is not None and await shared.known(turn_id):
                return self.stream_any(request, turn_id)
            return log
        return self.stream_from(request, log)

    def stream_any(self, request: Request, turn_id: str) -> Response:
        """Follow ``turn_id`` after the request's ``Last-Event-ID``: here, or from its frames
        mirrored in Redis when another replica runs (or ran) it."""
        if (log := self.turns.get(turn_id)) is not None:
            return self.stream_from(request, log)
        after = last_event_id(request)
        if isinstance(after, JSONResponse):
            return after
        return _sse(self.follow_shared(turn_id, after))

    async def cancel(self, request: Request, turn_id: str) -> Any:
        log = self.find_turn(request, turn_id)
        if isinstance(log, JSONResponse):
            # Not run here: the replica that runs it stops it, as it would its own cancel.
            shared = self.shared
            if log.status_code == 404 and shared is not None and await shared.cancel(turn_id):
                return {"turn_id": turn_id, "status": "stopping"}
            return log
        stopping = log.stop()
        return {"turn_id": turn_id, "status": "stopping" if stopping else "finished"}

    # -- Voiceflow-compatible route ------------------------------------------------------------

    async def voiceflow(self, request: Request, project_id: str, user_id: str) -> Any:
        started_at = time.monotonic()
        # Voiceflow clients send their key bare (``Authorization: VF.DM...``), no "Bearer".
        if (denied := self.unauthorized(request, allow_raw=True)) is not None:
            return denied
        completion_events = query_flag(request, "completion_events")
        if isinstance(completion_events, JSONResponse):
            return completion_events
        data = await read_json(request, self.services.settings.playground_max_body_bytes)
        if isinstance(data, JSONResponse):
            return data
        if not isinstance(data, dict):
            return error_response(
                422, "invalid_request", "the body must be a JSON object", "(body)"
            )
        try:
            body = VoiceflowRequest.model_validate(data)
        except ValidationError as exc:
            return validation_error(exc)
        caller = self.client_id(request, allow_raw=True)
        conversation = (caller, project_id, user_id)
        if body.action.type == "launch":
            self.conversations.reset(*conversation)
        message = body.message()
        if not message:
            return error_response(
                422, "invalid_request", "action.payload is empty", "action.payload"
            )
        try:
            prompt = self.services.prompts.resolve(project_id, None)
        except ConfigError as exc:
            return error_response(404, "unknown_project", exc.message, "projectID")
        try:
            turn = self.runner.prepare(
                TurnRequest(
                    message=message,
                    prompt=prompt.ref,
                    streaming=completion_events,
                    history=self.conversations.history(*conversation),
                ),
                self.services.server_credentials,
                caller,
            )
        except ConfigError as exc:
            return error_response(400, "invalid_request", exc.message, exc.field)
        if (busy := turn.busy()) is not None:
            return _busy_response(busy)
        if (limited := self.admit(caller)) is not None:
            return limited
        return _sse(
            self._voiceflow_body(turn, started_at, conversation, message, completion_events)
        )

    async def _voiceflow_body(
        self,
        turn: PreparedTurn,
        started_at: float,
        conversation: tuple[str, str, str],
        message: str,
        completion_events: bool,
    ) -> AsyncIterator[bytes]:
        try:
            events = self.runner.stream(turn, started_at=started_at)
            async for frame, completed in voiceflow_frames(
                events, completion_events=completion_events
            ):
                if completed is not None and completed.finish_reason != "error":
                    self.conversations.record(*conversation, message, completed.text)
                if frame is not None:
                    yield frame
        finally:
            self.limiter.release(conversation[0])


_VOICEFLOW_QUERY = {
    "name": "completion_events",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": False},
    "description": "true: stream completion traces (start, content, end); false: one text trace",
}
_RESUME_HEADERS = [
    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
    {"name": "last_event_id", "in": "query", "required": False, "schema": {"type": "string"}},
]


class ApiRuns:
    """What the API has running (turns and evals), for the server to stop at shutdown."""

    def __init__(self, turns: TurnLogs[TurnLog], evals: EvalStore) -> None:
        self.turns = turns
        self.evals = evals

    async def aclose(self) -> None:
        await asyncio.gather(self.evals.aclose(), self.turns.aclose())


def build_api_router(
    services: Services, runner: TurnRunner, limiter: Limiter, shared: SharedTurns | None = None
) -> tuple[APIRouter, ApiRuns]:
    """The API routes, and what they run (the server stops what is still running).
    ``limiter`` holds the per-client limits, shared with the page; ``shared``, the turns other
    replicas run (with Redis)."""
    api = _Api(services, runner, limiter, shared)
    router = APIRouter()

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Any:
            if (denied := api.unauthorized(request)) is not None:
                return denied
            return handler(services)

        return endpoint

    router.add_api_route(
        "/v1/interact/stream",
        api.interact_stream,
        methods=["POST"],
        summary="Run one turn and stream its events as server-sent events",
        description=f"A repeat with the same `{HEADER}` from the same caller attaches to the "
        "turn it started (from `Last-Event-ID`) instead of starting another.",
        openapi_extra={
            "parameters": [
                {"name": HEADER, "in": "header", "required": False, "schema": {"type": "string"}},
                *_RESUME_HEADERS,
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _body_schema(TurnRequest)}},
            },
        },
        response_class=DisconnectAwareStreamingResponse,
        responses={**SSE_RESPONSES, 204: {"description": "An attached turn has nothing left"}},
    )
    router.add_api_route(
        "/v1/turns/{turn_id}/events",
        api.resume,
        methods=["GET"],
        summary="Resume a turn's stream after Last-Event-ID (header or last_event_id query)",
        openapi_extra={"parameters": _RESUME_HEADERS},
        response_class=DisconnectAwareStreamingResponse,
        responses={**SSE_RESPONSES, 204: {"description": "The turn ended; nothing left to send"}},
    )
    router.add_api_route(
        "/v1/turns/{turn_id}/cancel",
        api.cancel,
        methods=["POST"],
        summary="Stop a turn now; its stream ends with completion-end (stopped) and end",
    )
    router.add_api_route(
        "/v2/project/{project_id}/user/{user_id}/interact/stream",
        api.voiceflow,
        methods=["POST"],
        summary="Voiceflow-compatible interact stream (projectID = prompt id)",
        openapi_extra={
            "parameters": [_VOICEFLOW_QUERY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": VoiceflowRequest.model_json_schema()}},
            },
        },
        response_class=DisconnectAwareStreamingResponse,
        responses=SSE_RESPONSES,
    )
    for path, handler, summary in (
        ("/v1/models", listings.models, "Models"),
        ("/v1/voices", listings.voices, "Voices"),
        ("/v1/prompts", listings.prompts, "Prompts"),
    ):
        router.add_api_route(path, guarded(handler), methods=["GET"], summary=summary)

    async def refresh_models(request: Request) -> Any:
        if (denied := api.unauthorized(request)) is not None:
            return denied
        return await listings.refresh_models(services)

    router.add_api_route(
        "/v1/models/refresh",
        refresh_models,
        methods=["POST"],
        summary="Ask the OpenAI-compatible server for its models again; answers as /v1/models",
    )

    # Listening sessions are counted apart from turns (a spoken turn is a turn as well, and a
    # socket holding a turn's slot would leave its own turns none), with the same limits.
    listening = TurnGate(make_limiter(services.settings, "listening"))

    async def voice(websocket: WebSocket) -> None:
        token = services.settings.playground_api_token
        # Without the header, the start frame must present the token (a browser cannot send
        # headers on a WebSocket); until it does, nothing is heard or run.
        needed = None
        if token is not None and api.unauthorized(websocket) is not None:
            needed = token.get_secret_value().strip()
        await websocket.accept()
        connection = VoiceConnection(
            socket=websocket,
            runner=runner,
            gate=TurnGate(limiter),
            listening=listening,
            creds=services.server_credentials,
            client=api.client_id(websocket),
            stt_for=services.engines.stt_for,
            max_history=services.settings.playground_max_history_messages,
            token_needed=needed,
        )
        await connection.run()

    router.add_api_websocket_route("/v1/voice", voice, name="voice")
    add_prompt_routes(router, services, api.unauthorized)
    evals = add_eval_routes(
        router,
        services,
        runner,
        TurnGate(limiter),
        api.unauthorized,
        api.client_id,
        make_shared_evals(services.settings, shared),
    )
    return router, ApiRuns(api.turns, evals)
