"""Voiceflow-compatible conversations kept in Redis (``PLAYGROUND_REDIS_URL``), so a
conversation goes on through whichever replica the next request reaches; the in-process
default is ``api.voiceflow.ConversationStore``, with the same three methods.

One list per (caller, project, user) — its key a hash of the three, so no id a client picks is
stored as it was sent — trimmed to the last ``max_messages`` and forgotten ``expire_s`` after
its last turn. Redis being unreachable costs the conversation's memory for that turn (said in
the log), never the turn.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Final

from redis import Redis
from redis.exceptions import RedisError

from playground.turn.request import HistoryMessage

__all__ = ["RedisConversationStore"]

log = logging.getLogger(__name__)

DEFAULT_EXPIRE_S: Final = 7 * 86_400


class RedisConversationStore:
    def __init__(
        self, client: Redis, *, max_messages: int = 40, expire_s: int = DEFAULT_EXPIRE_S
    ) -> None:
        self._redis, self._max_messages, self._expire_s = client, max_messages, expire_s

    @staticmethod
    def _key(caller: str, project: str, user: str) -> str:
        digest = hashlib.sha256("\x1f".join((caller, project, user)).encode()).hexdigest()
        return f"sp:voiceflow:{digest}"

    def history(self, caller: str, project: str, user: str) -> tuple[HistoryMessage, ...]:
        try:
            items = self._redis.lrange(self._key(caller, project, user), 0, -1)
        except RedisError as exc:
            log.warning("a Voiceflow conversation could not be read from Redis: %s", exc)
            return ()
        out = []
        for item in items:
            try:
                out.append(HistoryMessage.model_validate(json.loads(item)))
            except ValueError:
                continue  # written by another version: skipped, not fatal
        return tuple(out)

    def reset(self, caller: str, project: str, user: str) -> None:
        try:
            self._redis.delete(self._key(caller, project, user))
        except RedisError as exc:
            log.warning("a Voiceflow conversation could not be reset in Redis: %s", exc)

    def record(self, caller: str, project: str, user: str, message: str, answer: str) -> None:
        added = [HistoryMessage(role="user", content=message)]
        if answer:
            added.append(HistoryMessage(role="assistant", content=answer))
        key = self._key(caller, project, user)
        try:
            with self._redis.pipeline() as pipe:
                pipe.rpush(key, *(m.model_dump_json() for m in added))
                pipe.ltrim(key, -self._max_messages, -1)
                pipe.expire(key, self._expire_s)
                pipe.execute()
        except RedisError as exc:
            log.warning("a Voiceflow turn was not added to its conversation in Redis: %s", exc)
