"""The notebook tab's small helpers around the browser and files: whose notebook a browser's
stored value names, the app's URL as the browser reached it, reading an import, writing an
export for Gradio to serve."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from playground.errors import ConfigError
from playground.notebook.store import validate_owner_id

__all__ = [
    "EXPORT_KEEP_S",
    "IMPORT_MAX_BYTES",
    "app_url_of",
    "owner_of",
    "UPLOAD_REFUSED",
    "read_upload",
    "write_export",
]

IMPORT_MAX_BYTES = 20_000_000
EXPORT_KEEP_S = 60.0  # long enough for Gradio to copy an export into its cache


def owner_of(value: Any) -> str | None:
    """The notebook id in the browser's stored value, if it is a well-formed one."""
    owner = value.get("owner") if isinstance(value, dict) else None
    try:
        return validate_owner_id(owner)
    except ConfigError:
        return None


def app_url_of(request: gr.Request | None) -> str:
    """This app's base URL as the browser reached it (for exported code and curl)."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    proto = headers.get("x-forwarded-proto") or "http"
    return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}"


# One answer for every file that is not a readable upload (elsewhere, missing, a folder, gone):
# different texts would tell a client which paths exist on the server.
UPLOAD_REFUSED = "the file is not one uploaded to this page (or could not be read); upload it again"


def read_upload(path: str | Path, upload_folder: str | Path | None = None) -> bytes:
    """The bytes of a file the page uploaded: it must resolve (symlinks followed) to a regular
    file inside Gradio's upload folder; anything else is ``ConfigError(UPLOAD_REFUSED)``."""
    folder = Path(upload_folder or get_upload_folder()).resolve()
    try:
        resolved = Path(path).resolve(strict=True)
        if not resolved.is_relative_to(folder) or not resolved.is_file():
            raise ConfigError(UPLOAD_REFUSED, field="file")
        size = resolved.stat().st_size
        if size > IMPORT_MAX_BYTES:
            raise ConfigError(
                f"the file is {size:,} bytes; the limit is {IMPORT_MAX_BYTES:,}", field="file"
            )
        return resolved.read_bytes()
    except (OSError, ValueError, RuntimeError):  # missing, unreadable, a NUL in the name, a loop
        raise ConfigError(UPLOAD_REFUSED, field="file") from None


async def write_export(
    root: Path, name: str, text: str | bytes, keep_s: float = EXPORT_KEEP_S
) -> Path:
    """``text`` in a folder of its own under ``root``, removed after ``keep_s`` seconds: Gradio
    copies a returned file into its own cache as the event ends, so ours is only needed until
    then (and ``root`` goes at shutdown, should the server stop first)."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="export-", dir=root))
    path = folder / name
    if isinstance(text, bytes):
        await asyncio.to_thread(path.write_bytes, text)
    else:
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    asyncio.get_running_loop().call_later(keep_s, shutil.rmtree, folder, True)
    return path
