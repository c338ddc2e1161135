"""The fictional shop's orders (``assets/orders.json``), looked up by number for order_status."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from playground.agent.tool_types import ToolError

__all__ = ["Order", "OrderBook", "OrderItem", "OrderStatus"]

OrderStatus = Literal[
    "processing", "shipped", "out_for_delivery", "delayed", "delivered", "cancelled", "returned"
]
_ORDER_NUMBER = re.compile(r"^[A-Z]\d{4}$")


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    quantity: int = Field(gt=0)


class Order(BaseModel):
    """One order as stored in ``assets/orders.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(pattern=_ORDER_NUMBER.pattern)
    email: str
    placed: date
    status: OrderStatus
    items: tuple[OrderItem, ...] = Field(min_length=1)
    carrier: str | None = None
    tracking: str | None = None
    eta: date | None = None
    note: str = ""

    def describe(self) -> str:
        """Compact facts for the model; the email is left out so it is never read back."""
        lines = [
            f"Order {self.number} (placed {self.placed:%d %b %Y}): {self.status.replace('_', ' ')}",
            "Items: " + "; ".join(f"{item.quantity} × {item.name}" for item in self.items),
        ]
        if self.carrier:
            tracking = f", tracking {self.tracking}" if self.tracking else ""
            lines.append(f"Carrier: {self.carrier}{tracking}")
        if self.eta:
            done = self.status in ("delivered", "returned")
            lines.append(f"{'Delivered' if done else 'Estimated delivery'}: {self.eta:%a %d %b %Y}")
        if self.note:
            lines.append(f"Note: {self.note}")
        return "\n".join(lines)


class _OrderFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    orders: tuple[Order, ...]


class OrderBook:
    """Orders by number; read-only once built."""

    def __init__(self, orders: Iterable[Order]) -> None:
        self._by_number = MappingProxyType({order.number: order for order in orders})

    @classmethod
    def from_file(cls, path: Path) -> OrderBook:
        return cls(_OrderFile.model_validate_json(path.read_bytes()).orders)

    def lookup(self, order_number: str, email: str | None = None) -> Order:
        """The order, if the number exists and ``email`` (when given) is the one it was placed with.

        Messages are written for the model: they say what to ask the customer next.
        """
        # Customers type "#a1001" or "A-1001"; all mean A1001.
        number = re.sub(r"[\s#-]", "", order_number).upper()
        if not _ORDER_NUMBER.match(number):
            raise ToolError(
                f"{order_number!r} is not an order number: they are a letter and four digits, "
                "like A1001, and appear in the order confirmation email"
            )
        order = self._by_number.get(number)
        if order is None:
            raise ToolError(
                f"there is no order {number}; ask the customer to check the number in their "
                "order confirmation email"
            )
        if email is not None and email.strip().lower() != order.email.lower():
            raise ToolError(
                f"that email address does not match order {number}; ask the customer for the "
                "address they ordered with (do not reveal it)"
            )
        return order
