"""The long-lived parts of a running playground, built once from ``Settings``.

Nothing here is module-level: ``make_services`` builds one ``Services`` and hands it to the API and
the UI. Per-user data (keys, history) never lives here; it travels with each request. Each part
has one job: the prompt library, the catalog of models and voices, the ``Engines`` that serve
them, the compatible server's model list (``ModelDiscovery``), the ``CheckSuite`` of reply checks,
the notebooks, and the shutdown steps.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from playground.catalog import Catalog, Credentials
from playground.checks.suite import CheckSuite, load_check_suite
from playground.engines import Engines, VoiceKeyProblems
from playground.model_discovery import ModelDiscovery, ModelListing, is_openai
from playground.notebook.access import Notebooks
from playground.notebook.store import NotebookStore
from playground.pricing.table import PriceTable, parse_price_overrides
from playground.prompts.library import PromptLibrary
from playground.prompts.store import PromptStore
from playground.providers.local_llm import local_model_unavailable
from playground.providers.piper_tts import local_voice_unavailable_reason
from playground.settings import Settings, project_path

__all__ = ["Services", "make_services"]

log = logging.getLogger("playground")

# Long enough for a loaded local server, short enough that start-up and a click wait briefly.
_DISCOVERY_TIMEOUT_S = 5.0


@dataclass
class Services:
    settings: Settings
    prompt_store: PromptStore
    catalog: Catalog
    engines: Engines
    checks: CheckSuite
    server_credentials: Credentials
    notebooks: Notebooks | None = None  # None: runs are not recorded (no notebook file)
    prices: PriceTable = field(default_factory=PriceTable.shipped)
    # What the compatible server lists; None when OPENAI_BASE_URL is unset or OpenAI's own.
    discovery: ModelDiscovery | None = None
    # Shutdown steps of parts built later (the page's running turns), run before the engines go.
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _export_dir: Path | None = None

    @property
    def prompts(self) -> PromptLibrary:
        """The prompt library as it is now: a saved version is seen by the next reader."""
        return self.prompt_store.library

    def export_dir(self) -> Path:
        """A folder for files handed to the page (notebook exports), made on first use and
        removed at shutdown."""
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="sp-exports-"))
        return self._export_dir

    async def refresh_models(self) -> ModelListing | None:
        """Ask the compatible server for its models again (on a refresh action);
        never raises: a failure is kept as the listing's reason. None: there is no such server."""
        return await self.discovery.refresh() if self.discovery is not None else None

    def list_models_before_start(self) -> None:
        """Ask the compatible server for its models before the page is built (its pickers and
        their defaults are fixed then); waits at most the discovery's short timeout."""
        if self.discovery is not None:
            self.discovery.refresh_blocking()

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for closer in closers:
            await closer()
        if self.discovery is not None:
            await self.discovery.aclose()  # before the client pool it asks through
        await self.engines.aclose()
        if self._export_dir is not None:
            shutil.rmtree(self._export_dir, ignore_errors=True)


def make_services(settings: Settings) -> Services:
    voice_keys = VoiceKeyProblems()
    engines = Engines.from_settings(settings, voice_keys)
    server_credentials = Credentials.from_settings(settings)
    discovery = _model_discovery(settings, engines, server_credentials)
    services = Services(
        settings=settings,
        prompt_store=PromptStore(
            project_path(settings.playground_prompts_dir),
            writable=settings.playground_prompts_writable,
        ),
        catalog=Catalog(
            settings,
            # Installed packages do not change while the app runs: look once, not per request.
            local_model_reason=_once(local_model_unavailable),
            local_voice_reason=_once(local_voice_unavailable_reason),
            voice_key_problem=voice_keys.problem,
            discovery=discovery,
        ),
        engines=engines,
        checks=load_check_suite(settings),
        server_credentials=server_credentials,
        notebooks=_notebooks(settings),
        prices=PriceTable.shipped(parse_price_overrides(settings.playground_prices)),
        discovery=discovery,
    )
    if services.notebooks is not None:
        services.on_close(services.notebooks.aclose)
    return services


def _model_discovery(
    settings: Settings, engines: Engines, creds: Credentials
) -> ModelDiscovery | None:
    base_url = settings.openai_base_url
    # OpenAI's own list is not asked: it is long, mostly not chat models, and the configured
    # openai: names are the ones meant to be offered there.
    if base_url is None or is_openai(base_url):
        return None
    return ModelDiscovery(
        base_url=base_url,
        # The server's key, never a visitor's: the list is the server's, shared by every page.
        api_key=creds.openai_api_key,
        clients=engines.clients,
        timeout_s=min(_DISCOVERY_TIMEOUT_S, settings.playground_upstream_timeout_s),
    )


def _once(check: Callable[[], str | None]) -> Callable[[], str | None]:
    result = check()
    return lambda: result


def _notebooks(settings: Settings) -> Notebooks | None:
    if not settings.playground_notebook_db.strip():
        return None
    if settings.playground_redis_url:
        return _notebooks_in_redis(settings, settings.playground_redis_url)
    path = project_path(settings.playground_notebook_db)
    try:
        store = NotebookStore(
            path,
            max_cells=settings.playground_notebook_max_cells,
            max_owners=settings.playground_notebook_max_owners,
            max_total_bytes=settings.playground_notebook_max_total_bytes,
            expire_after_s=settings.playground_notebook_expire_days * 86_400,
        )
        return Notebooks.in_file(store)  # with its kept versions and eval runs, in the same file
    except (OSError, sqlite3.Error) as exc:
        # A read-only disk must not stop the playground: it runs, without a notebook.
        log.warning("notebooks are off: %s cannot be used (%s)", path, exc)
        return None


def _notebooks_in_redis(settings: Settings, url: str) -> Notebooks:
    """Every replica's browsers' notebooks, kept versions and eval runs, in Redis."""
    from redis.asyncio import Redis

    from playground.state.redis_browsers import (
        RedisEvalHistory,
        RedisKeptPrompts,
        RedisNotebookStore,
    )

    client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)
    expiry = settings.playground_notebook_expire_days * 86_400
    return Notebooks(
        RedisNotebookStore(
            client, max_cells=settings.playground_notebook_max_cells, expire_after_s=expiry
        ),
        RedisKeptPrompts(client, expire_after_s=expiry),
        RedisEvalHistory(client, expire_after_s=expiry),
        close=client.aclose,
    )
