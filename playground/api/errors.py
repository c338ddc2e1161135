"""The API's error bodies and the request parts every route reads before streaming.

Every 4xx is ``{"error": {"code", "message", "field"}}`` naming what to fix. Messages are ours:
exception text (a decoder's, pydantic's whole dump) is logged, never sent, so a response cannot
leak internals and clients get one stable shape.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

__all__ = [
    "ERROR_SCHEMA",
    "SSE_RESPONSES",
    "error_response",
    "last_event_id",
    "query_flag",
    "read_json",
    "validation_error",
]

log = logging.getLogger("playground.api")

ERROR_SCHEMA = {
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
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: completion-start, reasoning, completion-continue, "
        "tool-call, tool-result, audio, completion-replace, completion-end, error, end.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **{
        status: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status, text in (
            (400, "Unknown model, prompt, version or voice, invalid JSON or header"),
            (401, "Missing or wrong bearer token (when PLAYGROUND_API_TOKEN is set)"),
            (403, "The widget key may not use this prompt or model"),
            (404, "Unknown or expired turn / project"),
            (413, "Body too large"),
            (415, "Not JSON"),
            (422, "Invalid or unknown field"),
            (429, "Rate limit or concurrent-turn cap reached (see Retry-After)"),
            (503, "The local model's queue is full (model_busy; see Retry-After)"),
        )
    },
}

# An SSE id we hand out is a non-negative int; -1 means "from the start". Digits are bounded so
# a huge value is refused here rather than by int()'s own limit.
_EVENT_ID = re.compile(r"-?[0-9]{1,18}")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status)


def first_problem(exc: ValidationError, whole: str = "(body)") -> tuple[str, str]:
    """The first invalid field and pydantic's one-line message for it (not the dump, which
    echoes the input back); ``whole`` names a problem with no field."""
    first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or whole
    if first["type"] == "extra_forbidden":
        return field, f"unknown field {field!r}"
    return field, f"{field}: {first['msg']}"


def validation_error(exc: ValidationError) -> JSONResponse:
    """422 naming the first invalid field, with its one-line message."""
    field, message = first_problem(exc)
    log.info("invalid request: %d error(s), first at %s", exc.error_count(), field)
    return error_response(422, "invalid_request", message, field)


async def read_json(request: Request, limit: int) -> Any | JSONResponse:
    """The body as JSON, at most ``limit`` bytes; or the 413 / 415 / 400 answer."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return error_response(413, "body_too_large", f"the body exceeds {limit} bytes", "body")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            return error_response(413, "body_too_large", f"the body exceeds {limit} bytes", "body")
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        return error_response(
            415, "unsupported_media_type", "send Content-Type: application/json", "Content-Type"
        )
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})"
        return error_response(400, "invalid_json", f"the body is not valid JSON{where}", "body")
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        # RecursionError: nesting too deep to parse; ValueError: an integer past Python's digit
        # limit. Both are bodies we will not parse, not server faults.
        log.info("unparseable JSON body: %s", type(exc).__name__)
        return error_response(
            400,
            "invalid_json",
            "the body is not valid JSON (bad encoding, nesting too deep or a number too long)",
            "body",
        )


def last_event_id(request: Request) -> int | JSONResponse:
    """``Last-Event-ID`` (header, else ``last_event_id`` query): -1 (from the start) or an id."""
    raw = request.headers.get("last-event-id")
    field = "Last-Event-ID"
    if raw is None or raw.strip() == "":
        raw, field = request.query_params.get("last_event_id"), "last_event_id"
    if raw is None or raw.strip() == "":
        return -1
    raw = raw.strip()
    if not _EVENT_ID.fullmatch(raw) or int(raw) < -1:
        return error_response(
            400, "invalid_request", f"{field} must be an event id (an integer, -1 or more)", field
        )
    return int(raw)


def query_flag(request: Request, name: str) -> bool | JSONResponse:
    """A boolean query parameter, read here so a bad value gets our error shape, not FastAPI's
    validation dump."""
    raw = request.query_params.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    return error_response(422, "invalid_request", f"{name} must be true or false", name)
