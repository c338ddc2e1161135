"""The HTTP API: the streaming turn endpoint, resume and cancel, listings, the Voiceflow route.

Everything that can be wrong with a request is answered with a 4xx JSON error naming the field
before any stream starts; once streaming, failures travel as ``error`` events and the stream
still ends with ``end``. Turns run on their own tasks, logged in a ``turn.log.TurnLogs`` (their
frames encoded once, by ``turn_frames``) so a dropped connection can resume; with no follower
left a turn is stopped after a short grace period.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from playground.api.limits import ClientLimiter
from playground.api.sse import SSE_HEADERS, DisconnectAwareStreamingResponse
from playground.api.turn_frames import encode_event, follow_frames
from playground.api.voiceflow import ConversationStore, VoiceflowRequest, voiceflow_frames
from playground.catalog import CatalogEntry
from playground.errors import ConfigError
from playground.services import Services
from playground.turn.log import TurnLog, TurnLogs
from playground.turn.request import TurnRequest
from playground.turn.runner import PreparedTurn, TurnRunner

__all__ = ["add_health", "build_api_router", "error_response", "hoist_schema_defs"]

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    },
}
_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: completion-start, completion-continue, tool-call, "
        "tool-result, audio, completion-replace, completion-end, error, end.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **{
        status: {"description": text, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
        for status, text in (
            (400, "Unknown model, prompt, version or voice, or invalid JSON"),
            (401, "Missing or wrong bearer token (when PLAYGROUND_API_TOKEN is set)"),
            (404, "Unknown or expired turn / project"),
            (413, "Body too large"),
            (415, "Not JSON"),
            (422, "Invalid or unknown field"),
            (429, "Rate limit or concurrent-turn cap reached (see Retry-After)"),
        )
    },
}


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


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status)


def _entry(entry: CatalogEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "engine": entry.engine,
        "label": entry.label,
        "available": entry.available,
    }
    if not entry.available:
        item["reason"] = entry.reason
    return item


def _validation_error(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(body)"
    if first["type"] == "extra_forbidden":
        message = f"unknown field {field!r}"
    else:
        message = f"{field}: {first['msg']}"
    return error_response(422, "invalid_request", message, field)


def _sse(body: AsyncIterator[bytes]) -> DisconnectAwareStreamingResponse:
    return DisconnectAwareStreamingResponse(
        body, media_type="text/event-stream", headers=SSE_HEADERS
    )


class _Api:
    def __init__(self, services: Services, runner: TurnRunner) -> None:
        s = services.settings
        self.services = services
        self.runner = runner
        self.limiter = ClientLimiter(
            per_minute=s.playground_rate_limit_per_minute,
            max_concurrent=s.playground_max_concurrent_turns,
        )
        self.keepalive_s = s.playground_keepalive_s
        self.turns: TurnLogs[TurnLog] = TurnLogs(
            grace_s=s.playground_resume_grace_s,
            retention_s=s.playground_turn_retention_s,
            max_turns=s.playground_max_kept_turns,
            max_bytes=s.playground_max_kept_bytes,
            encode=encode_event,
            on_finished=self._released,
        )
        self.conversations = ConversationStore(max_messages=s.playground_max_history_messages)

    # -- checks shared by every endpoint --------------------------------------------------------

    def unauthorized(self, request: Request) -> JSONResponse | None:
        token = self.services.settings.playground_api_token
        if token is None:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
            response = error_response(
                401, "unauthorized", "send Authorization: Bearer <PLAYGROUND_API_TOKEN>"
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return None

    def client_id(self, request: Request) -> str:
        auth = request.headers.get("authorization")
        if auth:
            # Hashing keeps tokens out of the limiter's memory.
            return "token:" + str(hash(auth))
        forwarded = request.headers.get("x-forwarded-for")
        s = self.services.settings
        if forwarded and (s.playground_trust_forwarded_for or s.space_id):
            return "ip:" + forwarded.split(",")[0].strip()
        return "ip:" + (request.client.host if request.client else "unknown")

    def admit(self, client: str) -> JSONResponse | None:
        retry_after = self.limiter.admit(client)
        if retry_after is None:
            return None
        response = error_response(
            429, "rate_limited", "too many turns from this client; retry after a pause"
        )
        response.headers["Retry-After"] = str(int(retry_after))
        return response

    async def read_json(self, request: Request) -> Any | JSONResponse:
        limit = self.services.settings.playground_max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return error_response(413, "body_too_large", f"the body exceeds {limit} bytes")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > limit:
                return error_response(413, "body_too_large", f"the body exceeds {limit} bytes")
        content_type = request.headers.get("content-type", "application/json")
        if "json" not in content_type:
            return error_response(
                415, "unsupported_media_type", "send Content-Type: application/json"
            )
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error_response(400, "invalid_json", f"the body is not valid JSON: {exc}")

    # -- the streaming endpoint and its resume / cancel ----------------------------------------

    async def interact_stream(self, request: Request) -> Any:
        started_at = time.monotonic()
        if (denied := self.unauthorized(request)) is not None:
            return denied
        data = await self.read_json(request)
        if isinstance(data, JSONResponse):
            return data
        if not isinstance(data, dict):
            return error_response(422, "invalid_request", "the body must be a JSON object")
        try:
            turn_request = TurnRequest.model_validate(data)
            turn = self.runner.prepare(turn_request, self.services.server_credentials)
        except ValidationError as exc:
            return _validation_error(exc)
        except ConfigError as exc:
            return error_response(400, "invalid_request", exc.message, exc.field)
        client = self.client_id(request)
        if (limited := self.admit(client)) is not None:
            return limited
        log = TurnLog(turn_id=turn.turn_id, owner=client, turn=turn)
        self.turns.start(log, self.runner.stream(turn, started_at=started_at))
        return _sse(self.follow(log))

    async def follow(self, log: TurnLog, after: int = -1) -> AsyncIterator[bytes]:
        """Follow a log for one connection; leaving starts its grace period."""
        with self.turns.following(log):
            async for frames in follow_frames(log, after, self.keepalive_s):
                yield frames

    async def _released(self, log: TurnLog) -> None:
        if log.owner is not None:
            self.limiter.release(log.owner)

    def find_turn(self, request: Request, turn_id: str) -> TurnLog | JSONResponse:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        log = self.turns.get(turn_id)
        if log is None:
            return error_response(404, "unknown_turn", f"no turn {turn_id!r} (or it expired)")
        return log

    async def resume(self, request: Request, turn_id: str) -> Any:
        log = self.find_turn(request, turn_id)
        if isinstance(log, JSONResponse):
            return log
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        try:
            after = int(raw) if raw not in (None, "") else -1
        except ValueError:
            return error_response(
                400, "invalid_request", "Last-Event-ID must be an integer", "Last-Event-ID"
            )
        return _sse(self.follow(log, after))

    async def cancel(self, request: Request, turn_id: str) -> Any:
        log = self.find_turn(request, turn_id)
        if isinstance(log, JSONResponse):
            return log
        stopping = log.stop()
        return {"turn_id": turn_id, "status": "stopping" if stopping else "finished"}

    # -- Voiceflow-compatible route ------------------------------------------------------------

    async def voiceflow(
        self, request: Request, project_id: str, user_id: str, completion_events: bool = False
    ) -> Any:
        started_at = time.monotonic()
        if (denied := self.unauthorized(request)) is not None:
            return denied
        data = await self.read_json(request)
        if isinstance(data, JSONResponse):
            return data
        try:
            body = VoiceflowRequest.model_validate(data)
        except ValidationError as exc:
            return _validation_error(exc)
        if body.action.type == "launch":
            self.conversations.reset(project_id, user_id)
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
                    history=self.conversations.history(project_id, user_id),
                ),
                self.services.server_credentials,
            )
        except ConfigError as exc:
            return error_response(400, "invalid_request", exc.message, exc.field)
        client = self.client_id(request)
        if (limited := self.admit(client)) is not None:
            return limited
        return _sse(
            self._voiceflow_body(
                turn, started_at, project_id, user_id, message, completion_events, client
            )
        )

    async def _voiceflow_body(
        self,
        turn: PreparedTurn,
        started_at: float,
        project_id: str,
        user_id: str,
        message: str,
        completion_events: bool,
        client: str,
    ) -> AsyncIterator[bytes]:
        try:
            events = self.runner.stream(turn, started_at=started_at)
            async for frame, completed in voiceflow_frames(
                events, completion_events=completion_events
            ):
                if completed is not None and completed.finish_reason != "error":
                    self.conversations.record(project_id, user_id, message, completed.text)
                if frame is not None:
                    yield frame
        finally:
            self.limiter.release(client)

    # -- listings ---------------------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        creds = self.services.server_credentials
        catalog = self.services.catalog
        return {
            "data": [_entry(e) for e in catalog.models(creds)],
            "default": catalog.default_model(creds).id,
        }

    def voices(self) -> dict[str, Any]:
        creds = self.services.server_credentials
        return {"data": [_entry(e) for e in self.services.catalog.voices(creds)]}

    def prompts(self) -> dict[str, Any]:
        library = self.services.prompts
        return {
            "data": [
                {
                    "id": p.id,
                    "version": p.version,
                    "ref": p.ref,
                    "title": p.title,
                    "node": p.node,
                    "format": p.format,
                    "tools": list(p.tools),
                    "has_output_schema": p.output_schema is not None,
                    "default_for_node": p.default_for_node,
                    "available": True,
                }
                for p in library.all()
            ],
            "problems": [{"path": p.path, "message": p.message} for p in library.problems],
        }


def build_api_router(services: Services, runner: TurnRunner) -> tuple[APIRouter, TurnLogs[TurnLog]]:
    """The API routes, and their turn logs (the server stops the turns still running)."""
    api = _Api(services, runner)
    router = APIRouter()

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Any:
            if (denied := api.unauthorized(request)) is not None:
                return denied
            return handler()

        return endpoint

    router.add_api_route(
        "/v1/interact/stream",
        api.interact_stream,
        methods=["POST"],
        summary="Run one turn and stream its events as server-sent events",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _body_schema(TurnRequest)}},
            }
        },
        response_class=DisconnectAwareStreamingResponse,
        responses=_SSE_RESPONSES,
    )
    router.add_api_route(
        "/v1/turns/{turn_id}/events",
        api.resume,
        methods=["GET"],
        summary="Resume a turn's stream after Last-Event-ID (header or last_event_id query)",
        response_class=DisconnectAwareStreamingResponse,
        responses=_SSE_RESPONSES,
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
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": VoiceflowRequest.model_json_schema()}},
            }
        },
        response_class=DisconnectAwareStreamingResponse,
        responses=_SSE_RESPONSES,
    )
    router.add_api_route("/v1/models", guarded(api.models), methods=["GET"], summary="Models")
    router.add_api_route("/v1/voices", guarded(api.voices), methods=["GET"], summary="Voices")
    router.add_api_route("/v1/prompts", guarded(api.prompts), methods=["GET"], summary="Prompts")
    return router, api.turns


def add_health(app: FastAPI, services: Services) -> None:
    @app.get("/healthz", summary="Liveness and what is ready")
    async def healthz() -> dict[str, Any]:
        local = services.engines.local_model
        return {
            "status": "ok",
            "local_model": "loaded" if local.load_seconds is not None else "not loaded",
            "prompts": sum(len(v) for v in services.prompts.prompts.values()),
            "prompt_problems": len(services.prompts.problems),
        }
