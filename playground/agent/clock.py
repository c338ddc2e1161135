"""The ``current_time`` tool: the date and time in an IANA time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from playground.agent.tool_types import Tool, ToolError

__all__ = ["CURRENT_TIME"]


def _current_time(arguments: dict[str, Any]) -> str:
    zone_name = arguments.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(
            f"unknown time zone {zone_name!r} (use an IANA name such as Europe/Paris)"
        ) from exc
    now = datetime.now(zone)
    return f"{now:%A %d %B %Y, %H:%M} ({zone_name}, UTC{now:%z})"


CURRENT_TIME = Tool(
    "current_time",
    "The current date and time in an IANA time zone such as 'Europe/Paris'.",
    {
        "type": "object",
        "properties": {"timezone": {"type": "string"}},
        "additionalProperties": False,
    },
    _current_time,
)
