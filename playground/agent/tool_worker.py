"""The child side of ``tool_process``: runs CPU-bound tool functions for the server process.

Started as ``python -m playground.agent.tool_worker``. Reads one JSON request per line on stdin
(``{"function": "module:name", "arguments": {...}}``) and answers one JSON line: ``{"output":
...}``, ``{"tool_error": ...}`` (bad input, for the model) or ``{"failure": ...}`` (a bug). It
exits when stdin closes, so it never outlives the server; the server kills it at a timeout.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TextIO

from playground.agent.tool_types import ToolError

__all__ = ["answer", "main"]


def _resolve(name: str) -> Callable[[dict[str, Any]], str]:
    module_name, _, attribute = name.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{name} is not callable")
    return target  # type: ignore[no-any-return]


def answer(line: str) -> dict[str, str]:
    """The reply to one request line; never raises."""
    try:
        request = json.loads(line)
        output = _resolve(str(request["function"]))(dict(request["arguments"]))
        return {"output": str(output)}
    except ToolError as exc:
        return {"tool_error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the server, which reports it
        return {"failure": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    # Ctrl-C in the server's terminal reaches the whole process group; the server decides when
    # this worker ends (it closes stdin or kills it), so no traceback is printed here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Replies go to the original stdout; anything a tool prints is sent to stderr instead, so it
    # cannot corrupt the one-line-per-reply protocol.
    replies: TextIO = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        replies.write(json.dumps(answer(line)) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
