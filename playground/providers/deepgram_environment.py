"""Where the Deepgram SDK connects: production, or ``DEEPGRAM_BASE_URL`` (a proxy, a fake).

The SDK takes one base per protocol; both the voice (``speak``) and the speech input
(``listen``) derive their WebSocket base from the one http(s) base the user configures.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from deepgram import DeepgramClientEnvironment

from playground.errors import ConfigError

__all__ = ["deepgram_environment"]


def deepgram_environment(base_url: str | None) -> DeepgramClientEnvironment:
    if not base_url:
        return DeepgramClientEnvironment.PRODUCTION
    http_base, ws_base = _http_base(base_url), _ws_base(base_url)
    return DeepgramClientEnvironment(
        base=http_base, production=ws_base, agent=ws_base, agent_rest=http_base
    )


def _ws_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ConfigError(f"DEEPGRAM_BASE_URL must be an http(s) URL, got {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _http_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
