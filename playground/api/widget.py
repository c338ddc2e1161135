"""The embeddable chat widget: ``/widget.js`` (the embed script) and ``/widget`` (the chat page),
and what the widget's own credential may do.

The script adds an iframe of ``/widget`` to any page; the page is served from this app, so it
calls the public streaming API same-origin and no cookies or keys ever touch the host page.

With ``PLAYGROUND_API_TOKEN`` set the widget cannot use that token: it would sit in every host
page's source. ``PLAYGROUND_WIDGET_TOKEN`` is a *publishable* key instead (the embed tag's
``data-token``, handed to the iframe in the URL fragment, which is never sent to a server). It
can only start turns (``POST /v1/interact/stream``), only with the prompts and models listed in
``PLAYGROUND_WIDGET_PROMPTS`` / ``PLAYGROUND_WIDGET_MODELS``, and is not an identity: limits
count per visitor address. ``PLAYGROUND_WIDGET_ORIGINS`` names the sites that may embed the
widget at all (``frame-ancestors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from playground.api.errors import error_response
from playground.api.identity import presented_token, token_matches
from playground.settings import Settings
from playground.turn.prepare import PreparedTurn

__all__ = ["add_widget", "presents_widget_token", "widget_scope_problem"]

_FILES = Path(__file__).resolve().parent.parent / "widget"


def presents_widget_token(headers: Mapping[str, str], settings: Settings) -> bool:
    """The request carries the widget's publishable key (and only that key is accepted here:
    without ``PLAYGROUND_API_TOKEN`` nothing needs a key)."""
    widget = settings.playground_widget_token
    if widget is None or settings.playground_api_token is None:
        return False
    presented = presented_token(headers.get("authorization"))
    return token_matches(presented, widget.get_secret_value().strip())


def widget_scope_problem(turn: PreparedTurn, settings: Settings) -> JSONResponse | None:
    """403 when a widget-key turn asks for a prompt or model the widget may not use."""
    prompts, models = settings.playground_widget_prompts, settings.playground_widget_models
    if turn.prompt.draft_sha256 is not None:
        # A draft is any system text under any id: a publishable key runs saved prompts only.
        return error_response(
            403, "forbidden", "the widget key runs saved prompts only", "prompt_draft"
        )
    if prompts and turn.prompt.id not in prompts:
        allowed = ", ".join(prompts)
        return error_response(
            403, "forbidden", f"the widget key may run only these prompts: {allowed}", "prompt"
        )
    if models and turn.model.id not in models:
        allowed = ", ".join(models)
        return error_response(
            403, "forbidden", f"the widget key may use only these models: {allowed}", "model"
        )
    return None


def _frame_ancestors(origins: tuple[str, ...]) -> dict[str, str]:
    if not origins or "*" in origins:
        return {}
    # Browsers enforce every CSP header: this one beside the image policy every page gets.
    return {"Content-Security-Policy": "frame-ancestors 'self' " + " ".join(origins)}


def add_widget(app: FastAPI, settings: Settings) -> None:
    script = (_FILES / "embed.js").read_text(encoding="utf-8")
    page = (_FILES / "chat.html").read_text(encoding="utf-8")
    embedding = _frame_ancestors(settings.playground_widget_origins)

    @app.get("/widget.js", include_in_schema=False)
    async def widget_script() -> Response:
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    @app.get("/widget", include_in_schema=False)
    async def widget_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache", **embedding})
