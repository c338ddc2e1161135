"""The registry of built-in tools an Agent Node may call, each with its OpenAI function schema.

Tools are plain functions from a JSON object to a string. They run off the event loop and never
raise into the turn: a failure becomes an error string returned to the model and shown.

Each family lives in its own module: ``calculator``, ``clock`` (``current_time``) and ``shop``
(``order_status`` and ``kb_search``, which read a fictional shop's data from ``assets/``:
``orders.json`` and the help articles in ``kb/*.md``). The names other modules used to import
from here are re-exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from playground.agent.calculator import CALCULATOR, calculate
from playground.agent.clock import CURRENT_TIME
from playground.agent.knowledge_base import KbHit, KbSection, KnowledgeBase
from playground.agent.orders import Order, OrderBook, OrderItem
from playground.agent.shop import ShopAssets, shop_tools
from playground.agent.tool_process import ToolProcesses
from playground.agent.tool_types import Tool, ToolError
from playground.settings import ASSETS_DIR

__all__ = [
    "ASSETS_DIR",
    "TOOLS",
    "TOOL_PROCESSES",
    "KbHit",
    "KbSection",
    "KnowledgeBase",
    "Order",
    "OrderBook",
    "OrderItem",
    "ShopAssets",
    "Tool",
    "ToolError",
    "calculate",
    "tool_schemas",
]


def _builtin_tools(shop: ShopAssets) -> dict[str, Tool]:
    tools = (CALCULATOR, CURRENT_TIME, *shop_tools(shop))
    return {tool.name: tool for tool in tools}


# Read-only: the registry is built once; nothing may add or swap a tool at run time.
TOOLS: Mapping[str, Tool] = MappingProxyType(_builtin_tools(ShopAssets(ASSETS_DIR)))
# The worker processes CPU-bound tools run in: one set for the server, like the registry itself.
TOOL_PROCESSES = ToolProcesses()


def tool_schemas(names: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(TOOLS[name].schema() for name in names if name in TOOLS)
