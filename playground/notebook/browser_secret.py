"""The key the page's ``gr.BrowserState`` encrypts a browser's notebook id with.

Gradio draws a random one per process when given none, so after a restart no browser could read
its stored id back: it would get a new, empty notebook, and its old one would sit unreachable
until it expired. The key must therefore outlive the process: the configured one
(``PLAYGROUND_BROWSER_SECRET``), else a random one kept in a file beside the notebook file,
created once, readable by its owner only.

It is not a credential (Gradio sends it to the page in its config): it only keeps the stored
value opaque. What protects a notebook is that its id is a 256-bit random value.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

__all__ = ["SECRET_FILE", "browser_secret"]

log = logging.getLogger(__name__)

SECRET_FILE: Final = "browser-secret"
_MIN_CHARS: Final = 16


def browser_secret(configured: str | None, folder: Path | None) -> str | None:
    """``configured`` if set; else the secret kept in ``folder`` (made there on first use).
    None when there is neither (no notebook file: nothing outlives the process anyway) or the
    folder cannot be used, and Gradio then draws one per process."""
    if configured and configured.strip():
        return configured.strip()
    if folder is None:
        return None
    try:
        return _kept_secret(folder / SECRET_FILE)
    except OSError as exc:
        log.warning(
            "no lasting browser secret (%s): browsers get a new notebook after a restart", exc
        )
        return None


def _kept_secret(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked into place: a second process starting
    # at the same moment either links first or reads the finished file, never a partial one.
    fd, temp = tempfile.mkstemp(prefix=".browser-secret-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)
    return _read(path)


def _read(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        with contextlib.suppress(OSError):
            path.chmod(0o600)  # it opens stored notebook ids: the owner's alone
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < _MIN_CHARS:
        raise OSError(f"{path.name} holds no usable secret (fewer than {_MIN_CHARS} characters)")
    return secret
