"""The HTTP streaming API: ``POST /v1/interact/stream`` and the listing endpoints.

Everything that can be wrong with a request is answered with a 4xx JSON error naming the field
before any stream starts; once streaming, failures travel as ``error`` events and the stream
still ends with ``end``. A client that disconnects cancels the turn (see ``sse``).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from playground.api.sse import (
    SSE_HEADERS,
    DisconnectAwareStreamingResponse,
    event_payload,
    sse_frame,
)
from playground.catalog import CatalogEntry
from playground.errors import ConfigError
from playground.requests import TurnRequest
from playground.runner import PreparedTurn, TurnRunner
from playground.services import Services

__all__ = ["build_api_router", "error_response"]


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


class _Api:
    def __init__(self, services: Services, runner: TurnRunner) -> None:
        self.services = services
        self.runner = runner

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
        except ValidationError as exc:
            return _validation_error(exc)
        try:
            turn = self.runner.prepare(turn_request, self.services.server_credentials)
        except ConfigError as exc:
            return error_response(400, "invalid_request", exc.message, exc.field)
        return DisconnectAwareStreamingResponse(
            self.frames(turn, started_at), media_type="text/event-stream", headers=SSE_HEADERS
        )

    async def frames(self, turn: PreparedTurn, started_at: float) -> AsyncIterator[bytes]:
        frame_id = 0
        async for event in self.runner.stream(turn, started_at=started_at):
            name, data = event_payload(event)
            yield sse_frame(name, data, frame_id)
            frame_id += 1
        yield sse_frame("end", {}, frame_id)

    def models(self) -> dict[str, Any]:
        creds = self.services.server_credentials
        catalog = self.services.catalog
        return {
            "data": [_entry(e) for e in catalog.models(creds)],
            "default": catalog.default_model(creds).id,
        }

    def voices(self) -> dict[str, Any]:
        return {
            "data": [
                _entry(e) for e in self.services.catalog.voices(self.services.server_credentials)
            ]
        }

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


def build_api_router(services: Services, runner: TurnRunner) -> APIRouter:
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
                "content": {"application/json": {"schema": TurnRequest.model_json_schema()}},
            }
        },
        response_class=DisconnectAwareStreamingResponse,
    )
    router.add_api_route("/v1/models", guarded(api.models), methods=["GET"], summary="Models")
    router.add_api_route("/v1/voices", guarded(api.voices), methods=["GET"], summary="Voices")
    router.add_api_route("/v1/prompts", guarded(api.prompts), methods=["GET"], summary="Prompts")
    return router


def add_health(app: FastAPI, services: Services) -> None:
    @app.get("/healthz", summary="Liveness and what is ready")
    async def healthz() -> dict[str, Any]:
        local = services.local_model
        return {
            "status": "ok",
            "local_model": "loaded" if local.load_seconds is not None else "not loaded",
            "prompts": sum(len(v) for v in services.prompts.prompts.values()),
            "prompt_problems": len(services.prompts.problems),
        }
