"""Who is calling: the token a request presents, whether it is the right one, and the key that
rate limits, conversations and idempotency keys are bound to.

Plain values in, plain values out (a header mapping, the peer address, the settings), so the
page can derive the same client key for its own limits without FastAPI or Starlette types.

The key is the *validated* token when there is one (hashed: the limiter never holds a token),
else the address. An ``Authorization`` header that is not the configured token never picks the
key: otherwise a client could get a fresh rate-limit bucket per request by sending a random one.
Behind a trusted proxy the address is the rightmost ``X-Forwarded-For`` entry, the one the proxy
appended; everything left of it is whatever the client sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from playground.settings import Settings

__all__ = ["client_key", "forwarded_client", "presented_token", "token_matches"]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Every value of header ``name`` (any case), comma-joined in order; None when absent.

    ``items()`` of a Starlette ``Headers`` yields repeated headers once each, so a proxy that
    adds its own ``X-Forwarded-For`` line (rather than appending to the client's) still ends up
    rightmost.
    """
    values = [v for k, v in headers.items() if k.lower() == name]
    return ",".join(values) if values else None


def presented_token(authorization: str | None, *, allow_raw: bool = False) -> str | None:
    """The token an ``Authorization`` value presents: ``Bearer <token>`` (scheme in any case,
    any spaces), or, with ``allow_raw``, the whole value (Voiceflow clients send the key bare).
    """
    if authorization is None:
        return None
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if allow_raw and value and " " not in value:
        return value
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much of a guess was
    right."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def forwarded_client(forwarded_for: str | None) -> str | None:
    """The rightmost non-empty ``X-Forwarded-For`` entry: the address our proxy saw."""
    if not forwarded_for:
        return None
    entries = [part.strip() for part in forwarded_for.split(",")]
    entries = [part for part in entries if part]
    return entries[-1] if entries else None


def _token_key(token: str) -> str:
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def client_key(
    headers: Mapping[str, str],
    peer: str | None,
    settings: Settings,
    *,
    allow_raw_token: bool = False,
) -> str:
    """``token:<hash>`` for a caller presenting the configured token, else ``ip:<address>``."""
    configured = settings.playground_api_token
    if configured is not None:
        expected = configured.get_secret_value().strip()
        presented = presented_token(_header(headers, "authorization"), allow_raw=allow_raw_token)
        if token_matches(presented, expected):
            return _token_key(expected)
    if settings.playground_trust_forwarded_for or settings.space_id:
        forwarded = forwarded_client(_header(headers, "x-forwarded-for"))
        if forwarded is not None:
            return "ip:" + forwarded
    return "ip:" + (peer or "unknown")
