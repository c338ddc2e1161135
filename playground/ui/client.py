"""Who is asking, for the per-client limits the page shares with the HTTP API.

The same derivation as the API's (``api.identity.client_key``): the validated access token,
else the caller's address (the rightmost forwarded entry behind a trusted proxy), never the
page session — a script can mint sessions as fast as it likes, but not addresses.
"""

from __future__ import annotations

import gradio as gr

from playground.api.identity import client_key
from playground.settings import Settings

__all__ = ["page_client"]


def page_client(request: gr.Request | None, settings: Settings) -> str:
    if request is None:
        return "ip:unknown"
    client = request.client
    host = getattr(client, "host", None) if client is not None else None
    headers = {str(k): str(v) for k, v in dict(request.headers).items()}
    return client_key(headers, host, settings)
