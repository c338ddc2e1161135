"""``Idempotency-Key`` for ``POST /v1/interact/stream``: a retried POST attaches to its turn.

Client libraries retry a dropped POST (``@microsoft/fetch-event-source`` does by default); with
a key, the retry follows the turn already running instead of starting (and paying for) a second
one. Keys are per caller (the identity key), so another caller's identical key is just a
different key. Memory is bounded by count, and an entry lives only as long as its turn's log:
once the log has expired the key starts a new turn. Across replicas sharing Redis the key is
bound to its turn there too (``state.redis_turns.SharedTurns.add``), so a retry that reaches
another replica follows the same turn.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["HEADER", "IdempotencyKeys", "valid_key"]

HEADER = "Idempotency-Key"
# Printable ASCII, as the IETF draft's examples and every client library send (UUIDs mostly).
_KEY = re.compile(r"[\x21-\x7e]{1,255}")

T = TypeVar("T")


def valid_key(raw: str) -> bool:
    return _KEY.fullmatch(raw) is not None


class IdempotencyKeys(Generic[T]):
    """(caller, key) -> turn, for turns ``lookup`` still finds."""

    def __init__(self, *, max_keys: int, lookup: Callable[[str], T | None]) -> None:
        self._max_keys = max_keys
        self._lookup = lookup
        self._turns: OrderedDict[tuple[str, str], str] = OrderedDict()

    def find(self, caller: str, key: str) -> T | None:
        turn_id = self._turns.get((caller, key))
        if turn_id is None:
            return None
        turn = self._lookup(turn_id)
        if turn is None:  # its log expired: the key is free again
            del self._turns[(caller, key)]
        return turn

    def remember(self, caller: str, key: str, turn_id: str) -> None:
        self._turns[(caller, key)] = turn_id
        self._turns.move_to_end((caller, key))
        while len(self._turns) > self._max_keys:
            self._turns.popitem(last=False)
