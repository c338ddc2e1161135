"""What a reloaded page picks up: the runs a previous page left going, and its conversation.

A page that is refreshed while a run streams finds it again (the runs "orphaned" by the old
page) and follows it from its first event; the newest of each kind is resumed. Which chat the
page continues is the newest chat cell the server knows of, else the one the browser stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["Recovery", "plan_recovery"]


class Resumable(Protocol):
    @property
    def kind(self) -> str: ...


R = TypeVar("R", bound=Resumable)


@dataclass(frozen=True, slots=True)
class Recovery(Generic[R]):
    """``chat`` and ``rerun``: the runs to resume (newest of each kind), if any. ``chat_cell``:
    the cell whose conversation the page continues. ``restore_chat``: whether to show that
    conversation now (not when a chat run is resumed: it brings its own history)."""

    chat: R | None
    rerun: R | None
    chat_cell: str | None

    @property
    def restore_chat(self) -> bool:
        return self.chat is None


def plan_recovery(
    orphans: Sequence[R], *, known_chat_cell: str | None, stored_chat_cell: str | None
) -> Recovery[R]:
    """Pick what a reloaded page resumes from the runs its owner left (oldest first)."""
    return Recovery(
        chat=next((t for t in reversed(orphans) if t.kind == "chat"), None),
        rerun=next((t for t in reversed(orphans) if t.kind == "rerun"), None),
        chat_cell=known_chat_cell or stored_chat_cell,
    )
