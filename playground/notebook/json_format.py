"""The notebook as JSON: export (with or without the audio bytes) and a validating import that
names the offending field of bad input in a ``ConfigError``."""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import ValidationError

from playground.errors import ConfigError
from playground.notebook.book import MAX_CELLS, NOTEBOOK_FORMAT, Notebook
from playground.notebook.cells import RunCell
from playground.notebook.wire_log import NestedError, dotted

__all__ = ["MAX_NOTEBOOK_BYTES", "cell_json", "notebook_from_json", "notebook_to_json"]

MAX_NOTEBOOK_BYTES: Final = 20_000_000  # the JSON text, audio included


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def notebook_to_json(nb: Notebook, *, include_audio: bool) -> str:
    """The notebook as JSON; without ``include_audio`` the audio events lose their ``data``."""
    dumped = nb.model_dump(mode="json")
    if not include_audio:
        for cell in dumped["cells"]:
            for event in cell["events"]:
                if event["event"] == "audio":
                    event["data"].pop("data", None)
    return _dumps(dumped)


def cell_json(cell: RunCell) -> str:
    """One cell as it appears inside ``notebook_to_json(..., include_audio=True)``."""
    return _dumps(cell.model_dump(mode="json"))


def _import_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    message = first["msg"]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, NestedError):
        loc, message = (*loc, *cause.loc), cause.detail
    elif isinstance(cause, ValueError) and ": " in str(cause):
        # The notebook's own checks say "field: problem".
        head, _, message = str(cause).partition(": ")
        loc = (*loc, head)
    path = dotted(loc) or "notebook"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return ConfigError(f"notebook JSON: {path}: {message}{more}", field=path)


def notebook_from_json(
    text: str | bytes, *, max_bytes: int = MAX_NOTEBOOK_BYTES, max_cells: int = MAX_CELLS
) -> Notebook:
    """Load a ``notebook_to_json`` export. Bad input is a ``ConfigError`` naming the field
    (``field`` is the dotted path, e.g. ``cells.0.events.3.data.text``)."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise ConfigError(
            f"notebook JSON is {size:,} bytes; the limit is {max_bytes:,}", field="notebook"
        )
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"notebook JSON is not valid JSON: {exc}", field="notebook") from None
    if not isinstance(raw, dict):
        raise ConfigError("notebook JSON must be an object", field="notebook")
    if raw.get("format") != NOTEBOOK_FORMAT:
        raise ConfigError(
            f"not a notebook export: format must be {NOTEBOOK_FORMAT!r}", field="format"
        )
    cells = raw.get("cells")
    if isinstance(cells, list) and len(cells) > max_cells:
        raise ConfigError(
            f"the notebook has {len(cells)} cells; the limit is {max_cells}", field="cells"
        )
    try:
        return Notebook.model_validate(raw)
    except ValidationError as exc:
        raise _import_error(exc) from None
