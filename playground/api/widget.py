"""The embeddable chat widget: ``/widget.js`` (the embed script) and ``/widget`` (the chat page).

The script adds an iframe of ``/widget`` to any page; the page is served from this app, so it
calls the public streaming API same-origin and no cookies or keys ever touch the host page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

__all__ = ["add_widget"]

_FILES = Path(__file__).resolve().parent.parent / "widget"


def add_widget(app: FastAPI) -> None:
    script = (_FILES / "embed.js").read_text(encoding="utf-8")
    page = (_FILES / "chat.html").read_text(encoding="utf-8")

    @app.get("/widget.js", include_in_schema=False)
    async def widget_script() -> Response:
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    @app.get("/widget", include_in_schema=False)
    async def widget_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})
