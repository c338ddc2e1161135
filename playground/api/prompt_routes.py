"""Prompt versions over HTTP: a prompt's history, one version's document, and saving the next.

``GET /v1/prompts/{id}``, ``GET /v1/prompts/{id}/versions/{n}``, ``POST /v1/prompts/{id}/versions``
— behind the same token as the rest of the API. A saved version is seen by the next request
(the store reloads its library), so the pickers and the turn endpoint use it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from playground.api.errors import error_response, read_json
from playground.errors import ConfigError
from playground.prompts.library import VERSION_TEXT, PromptFile
from playground.prompts.store import ReadOnlyPromptsError
from playground.services import Services

__all__ = ["add_prompt_routes"]

Guard = Callable[[Request], JSONResponse | None]


def _summary(prompt: PromptFile, sha256: str | None) -> dict[str, Any]:
    return {
        "version": prompt.version,
        "ref": prompt.ref,
        "title": prompt.title,
        "note": prompt.note,
        "created": prompt.created.isoformat() if prompt.created else None,
        "sha256": sha256,
    }


def _unknown(prompt_id: str) -> JSONResponse:
    return error_response(404, "unknown_prompt", f"no prompt {prompt_id[:64]!r}", "id")


class _PromptRoutes:
    def __init__(self, services: Services, unauthorized: Guard) -> None:
        self.services, self.unauthorized = services, unauthorized

    async def history(self, request: Request, prompt_id: str) -> Any:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        library = self.services.prompts
        versions = library.prompts.get(prompt_id)
        if not versions:
            return _unknown(prompt_id)
        return {
            "id": prompt_id,
            "versions": [
                _summary(versions[n], library.sha256.get(versions[n].ref)) for n in sorted(versions)
            ],
        }

    async def version(self, request: Request, prompt_id: str, version: str) -> Any:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        library = self.services.prompts
        versions = library.prompts.get(prompt_id)
        if not versions:
            return _unknown(prompt_id)
        if not VERSION_TEXT.fullmatch(version) or int(version) not in versions:
            known = ", ".join(str(v) for v in sorted(versions))
            return error_response(
                404,
                "unknown_version",
                f"prompt {prompt_id!r} has no version {version[:16]!r} (has {known})",
                "version",
            )
        prompt = versions[int(version)]
        return {**prompt.document(), "sha256": library.sha256.get(prompt.ref)}

    async def save(self, request: Request, prompt_id: str) -> Any:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        store = self.services.prompt_store
        if not store.writable:
            return error_response(403, "read_only", f"{store.read_only_reason}", None)
        data = await read_json(request, self.services.settings.playground_max_body_bytes)
        if isinstance(data, JSONResponse):
            return data
        if not isinstance(data, dict):
            return error_response(
                422, "invalid_request", "the body must be a prompt document (a JSON object)", None
            )
        try:
            # A file write and a reload of the folder: off the event loop.
            prompt = await asyncio.to_thread(store.save, prompt_id, data)
        except ReadOnlyPromptsError as exc:
            return error_response(403, "read_only", exc.message, None)
        except ConfigError as exc:
            return error_response(422, "invalid_prompt", exc.message, exc.field)
        sha256 = self.services.prompts.sha256.get(prompt.ref)
        return JSONResponse(
            {"id": prompt.id, "version": prompt.version, "ref": prompt.ref, "sha256": sha256},
            status_code=201,
            headers={"Location": f"/v1/prompts/{prompt.id}/versions/{prompt.version}"},
        )


def add_prompt_routes(router: APIRouter, services: Services, unauthorized: Guard) -> None:
    routes = _PromptRoutes(services, unauthorized)
    router.add_api_route(
        "/v1/prompts/{prompt_id}",
        routes.history,
        methods=["GET"],
        summary="A prompt's versions: number, ref, title, note, created, sha256",
    )
    router.add_api_route(
        "/v1/prompts/{prompt_id}/versions/{version}",
        routes.version,
        methods=["GET"],
        summary="One version of a prompt: the whole prompt document",
    )
    router.add_api_route(
        "/v1/prompts/{prompt_id}/versions",
        routes.save,
        methods=["POST"],
        summary="Save a prompt document (no version) as the prompt's next version",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
