"""The shop tools, ``order_status`` and ``kb_search``, over the shop's data read on first use."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from playground.agent.knowledge_base import KnowledgeBase
from playground.agent.orders import OrderBook
from playground.agent.tool_types import Tool, ToolError

__all__ = ["ShopAssets", "shop_tools"]


class ShopAssets:
    """The shop's orders and help articles, read on the first call that needs them.

    Reading lazily keeps importing this module (and starting the app) cheap; the built objects
    are kept on this instance for the life of the process. Two threads racing on the first call
    would both build the same read-only object, which is harmless.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @cached_property
    def orders(self) -> OrderBook:
        return OrderBook.from_file(self._directory / "orders.json")

    @cached_property
    def knowledge_base(self) -> KnowledgeBase:
        return KnowledgeBase.from_directory(self._directory / "kb")

    def order_status(self, arguments: dict[str, Any]) -> str:
        number = arguments.get("order_number")
        if not isinstance(number, str) or not number.strip():
            raise ToolError("'order_number' (a string such as 'A1001') is required")
        email = arguments.get("email")
        if email is not None and not isinstance(email, str):
            raise ToolError("'email' must be a string")
        return self.orders.lookup(number, email or None).describe()

    def kb_search(self, arguments: dict[str, Any]) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("'query' (a few words about the customer's question) is required")
        if len(query) > 500:
            raise ToolError("query too long (500 characters at most)")
        top_k = arguments.get("top_k", 3)
        # bool is an int subclass; `true` is not a count.
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 10:
            raise ToolError("'top_k' must be a whole number from 1 to 10")
        hits = self.knowledge_base.search(query, top_k)
        if not hits:
            return f"No help articles match {query!r}. Try other words."
        return "\n\n".join(
            f"[{rank}] {hit.section.title} › {hit.section.heading} ({hit.section.source})\n"
            f"{hit.section.snippet()}"
            for rank, hit in enumerate(hits, start=1)
        )


def shop_tools(shop: ShopAssets) -> tuple[Tool, ...]:
    """``order_status`` and ``kb_search`` answered from ``shop``."""
    return (
        Tool(
            "order_status",
            "Look up an order: status, items, carrier, tracking number and delivery date. "
            "Pass the customer's email too, to check that the order is theirs.",
            {
                "type": "object",
                "properties": {
                    "order_number": {
                        "type": "string",
                        "description": "The order number, a letter and four digits, e.g. A1001.",
                    },
                    "email": {
                        "type": "string",
                        "description": "The customer's email address, checked against the order.",
                    },
                },
                "required": ["order_number"],
                "additionalProperties": False,
            },
            shop.order_status,
        ),
        Tool(
            "kb_search",
            "Search the shop's help articles (returns, shipping, warranty, account, payments) "
            "and return the best-matching sections.",
            {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "A few keywords or a question."},
                    "top_k": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 10,
                        "default": 3,
                        "description": "How many sections to return.",
                    },
                },
                "required": ["query"],
                "additionalProperties": False,
            },
            shop.kb_search,
        ),
    )
