"""What every built-in tool is: a named function from a JSON object to a string, with a schema.

Kept apart from the registry so each tool family can build its ``Tool`` without importing the
others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Tool", "ToolError"]


class ToolError(Exception):
    """Raised by a tool for bad input; the message goes back to the model."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any]], str]
    # A tool that computes rather than looks up runs in a worker process that is killed at its
    # timeout: a thread cannot be stopped, and one long C-level operation holds the GIL.
    # ``run`` must then be a module-level function (the worker imports it by name).
    cpu_bound: bool = False

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }
