"""Streamed outputs addressed by name, sent in one fixed order.

A streaming event's outputs are a list of components, and each frame a tuple of values in the
same order. Here both are one dataclass: the components are a ``Slots[Component]`` and a frame's
values a ``Slots[Any]`` of the same class, so a value is set by name (``values.plot = ...``) and
``ordered()`` lays the values out in the components' order. Reordering the fields reorders
both; nothing can shift by position. (Events that do not stream return ``{component: value}``
dicts, Gradio's own way of addressing outputs by name.)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, Generic, TypeVar

__all__ = ["TurnSlots"]

T = TypeVar("T")


@dataclass(slots=True)
class TurnSlots(Generic[T]):
    """The Chat tab's turn outputs, in the order ``/turn`` returns them."""

    chatbot: T
    summary: T
    plot: T
    gaps: T
    table: T
    audio_feed: T
    structured_json: T
    structured_status: T

    def ordered(self) -> tuple[T, ...]:
        # One C call, not ``astuple`` (which deep-copies): this runs on every streamed frame.
        return _TURN_ORDER(self)  # type: ignore[no-any-return]


def _order(cls: type[Any]) -> attrgetter[Any]:
    return attrgetter(*(f.name for f in fields(cls)))


_TURN_ORDER = _order(TurnSlots)
