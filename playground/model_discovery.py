"""Which models the OpenAI-compatible server at ``OPENAI_BASE_URL`` has: its ``GET /v1/models``.

The catalog is synchronous and consulted on every request, so it cannot ask the server itself:
that would put a round trip, and its failures, in front of every turn. ``ModelDiscovery`` asks
at start and when someone refreshes, keeps the last good list (with when it arrived) and the
last failure's reason, and the catalog reads that snapshot. A failure never raises: it becomes
the reason shown beside the server's entries, and a stale list is kept rather than emptied, as
the server was most likely briefly away rather than stripped of its models.

The server is asked through the project's pooled OpenAI client (``client.models.list()``), so the
SDK's errors are translated at the provider boundary like a turn's.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from playground.errors import ErrorCategory, ProviderError
from playground.providers.openai_llm import OpenAIClientPool, translate_openai_error

__all__ = ["OPENAI_HOST", "ModelDiscovery", "ModelListing", "is_openai", "server_host"]

log = logging.getLogger("playground")

OPENAI_HOST = "api.openai.com"
# A listing is shown in a picker and sent in every /v1/models answer: a server that lists
# thousands of names (a large gateway), or absurd ones, must not swamp either.
_MAX_MODELS = 500
_MAX_NAME_CHARS = 200


def server_host(base_url: str) -> str:
    """The host (and port) a base URL points at, as shown in labels: ``127.0.0.1:8080``.
    Credentials written into the URL (``http://user:pass@host``) are never part of it."""
    parts = urlsplit(base_url if "//" in base_url else f"//{base_url}")
    return parts.netloc.rpartition("@")[2] or base_url


def is_openai(base_url: str) -> bool:
    """Whether a base URL is OpenAI's own API (whose ``openai:`` models are really OpenAI's)."""
    parts = urlsplit(base_url if "//" in base_url else f"//{base_url}")
    return (parts.hostname or "").lower() == OPENAI_HOST


@dataclass(frozen=True, slots=True)
class ModelListing:
    """What the server said about its models, as last asked."""

    host: str
    # The last good list, in the server's order; None until one has arrived.
    models: tuple[str, ...] | None = None
    fetched_at: datetime | None = None
    # Why the last attempt failed; None once one has succeeded (or none was made yet).
    error: str | None = None
    asked: bool = False

    @property
    def problem(self) -> str | None:
        """Why there is no list to offer: never asked yet, or asking failed. None with a list
        (even a stale one: ``error`` then says why it could not be renewed)."""
        if self.models is not None:
            return None
        if self.error is not None:
            return self.error
        return f"{self.host} has not listed its models yet"


class ModelDiscovery:
    """The compatible server's model list: refreshed on demand, read without waiting."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        clients: OpenAIClientPool,
        timeout_s: float = 5.0,
    ) -> None:
        self._base_url = base_url
        # Local servers ignore the key, but the SDK insists on one (as for a turn).
        self._api_key = api_key or "not-needed"
        self._clients = clients
        self._timeout_s = timeout_s
        self._listing = ModelListing(host=server_host(base_url))
        self._running: asyncio.Task[ModelListing] | None = None

    @property
    def host(self) -> str:
        return self._listing.host

    @property
    def listing(self) -> ModelListing:
        return self._listing

    async def refresh(self) -> ModelListing:
        """Ask the server now. Callers who ask while a request is out share it (a page full of
        refresh clicks makes one request), and one caller leaving does not cancel it for the
        others."""
        running = self._running
        if running is None or running.done():
            running = self._running = asyncio.create_task(self._fetch(self._clients))
        return await asyncio.shield(running)

    def refresh_blocking(self) -> ModelListing:
        """``refresh`` for a caller outside any coroutine: the page's config (its pickers'
        choices and defaults) is built once, before the server's loop runs, and should already
        hold what the server lists. Runs on a loop and a thread of its own (the caller may be
        inside a running loop), through a client pool of its own that is closed before
        returning: pooled connections belong to the loop that opened them."""

        async def once() -> ModelListing:
            clients = OpenAIClientPool(timeout_s=self._timeout_s)
            try:
                return await self._fetch(clients)
            finally:
                await clients.aclose()

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sp-models") as worker:
            return worker.submit(asyncio.run, once()).result()

    async def aclose(self) -> None:
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    async def _fetch(self, clients: OpenAIClientPool) -> ModelListing:
        client = clients.openai(api_key=self._api_key, base_url=self._base_url)
        # Short and without retries: someone is waiting for the answer (start-up, a click), and
        # a server that is down should say so in seconds, not after the turn timeout.
        quick = client.with_options(timeout=self._timeout_s, max_retries=0)
        try:
            names = [getattr(model, "id", None) async for model in quick.models.list()]
        except Exception as exc:  # noqa: BLE001 - any failure is the listing's reason, not a crash
            reason = f"{self.host} did not list its models: {self._why(exc)}"
            log.warning("%s", reason)
            self._listing = replace(self._listing, error=reason, asked=True)
            return self._listing
        self._listing = ModelListing(
            host=self.host,
            models=_clean(names),
            fetched_at=datetime.now(UTC),
            asked=True,
        )
        return self._listing

    def _why(self, exc: Exception) -> str:
        error: ProviderError = translate_openai_error(exc, self.host)
        if error.status_code == 404:
            return "it answered 404 (is OPENAI_BASE_URL right, ending in /v1?)"
        if error.status_code is not None:
            return f"it answered HTTP {error.status_code}"
        if error.category is ErrorCategory.CONNECTIVITY:
            return "could not connect (is the server running?)"
        if error.category is ErrorCategory.TIMEOUT:
            return f"no answer within {self._timeout_s:g} s"
        return error.message.removeprefix(f"{self.host}: ")[:200]


def _clean(names: list[object]) -> tuple[str, ...]:
    """The usable names, once each, in the server's order, within the limits."""
    kept = dict.fromkeys(
        name.strip()
        for name in names
        if isinstance(name, str) and name.strip() and len(name) <= _MAX_NAME_CHARS
    )
    return tuple(kept)[:_MAX_MODELS]
