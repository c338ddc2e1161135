"""CORS for the public API only.

The API (``/v1/*``, ``/v2/*``) and the widget (``/widget``, ``/widget.js``) are meant to be
called from other origins. The page's own routes (``/gradio_api/*``, ``/config``...) are not:
with CORS there, any website a user visits could drive a playground running on their localhost
(spending their keys). Requests to other paths pass through untouched, preflights included.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CORS_PREFIXES", "ApiCORSMiddleware", "cors_applies"]

CORS_PREFIXES = ("/v1/", "/v2/", "/widget")


def cors_applies(path: str) -> bool:
    return path.startswith(CORS_PREFIXES)


class ApiCORSMiddleware:
    """Starlette's ``CORSMiddleware`` (same arguments), applied only where ``cors_applies``."""

    def __init__(self, app: ASGIApp, /, **cors: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and cors_applies(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
