"""Who is asking, for the per-client limits the page shares with the HTTP API.

The key is the caller's address, never the page session: a script can mint sessions as fast as
it likes, but not addresses.
"""

from __future__ import annotations

import gradio as gr

__all__ = ["page_client"]


def page_client(request: gr.Request | None) -> str:
    client = request.client if request is not None else None
    host = getattr(client, "host", None) if client is not None else None
    return f"ip:{host or 'unknown'}"
