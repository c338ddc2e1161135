"""The long-lived parts of a running playground, built once from ``Settings``.

Nothing here is module-level: ``make_services`` builds one ``Services`` and hands it to the API and
the UI. Per-user data (keys, history) never lives here; it travels with each request.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.catalog import Catalog, CatalogEntry, Credentials
from playground.checks.interception import (
    Hook,
    InterceptionRules,
    Interceptor,
    load_hook,
    load_interception_rules,
)
from playground.checks.moderation import LocalModerator, Moderator, ServiceModerator
from playground.checks.moderation_rules import ModerationRules, load_moderation_rules
from playground.checks.reply_checks import ReplyChecks
from playground.checks.streaming_guardrail import StreamingGuardrail
from playground.errors import ConfigError, MissingKeyError
from playground.notebook.access import Notebooks
from playground.notebook.store import NotebookStore
from playground.prompts.library import PromptLibrary, load_prompt_library
from playground.providers.base import LLMProvider, TTSProvider
from playground.providers.deepgram_tts import DeepgramTTS, FlushBudget
from playground.providers.local_llm import LocalLlamaModel, local_model_unavailable
from playground.providers.openai_llm import OpenAIChatModel, OpenAIClientPool
from playground.providers.openai_moderation import OpenAIModeration
from playground.providers.piper_tts import PiperTTS, local_voice_unavailable_reason
from playground.settings import PROJECT_ROOT, Settings

__all__ = ["Services", "make_services"]

log = logging.getLogger("playground")


@dataclass
class Services:
    settings: Settings
    prompts: PromptLibrary
    catalog: Catalog
    clients: OpenAIClientPool
    local_model: LocalLlamaModel
    local_voice: PiperTTS
    server_credentials: Credentials
    _deepgram: OrderedDict[str, DeepgramTTS] = field(default_factory=OrderedDict)
    moderation_rules: ModerationRules | None = None
    interception_rules: InterceptionRules | None = None
    interception_hooks: tuple[Hook, ...] = ()
    # Rule files or hooks that failed to load: those options are unavailable, with this reason.
    check_problems: dict[str, str] = field(default_factory=dict)
    # Keys Deepgram rejected (by hash), with the reason: their voices are listed unavailable.
    _rejected_voice_keys: dict[str, str] = field(default_factory=dict)
    notebooks: Notebooks | None = None  # None: runs are not recorded (no notebook file)
    # Shutdown steps of parts built later (the page's running turns), run before the clients go.
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _export_dir: Path | None = None

    def export_dir(self) -> Path:
        """A folder for files handed to the page (notebook exports), made on first use and
        removed at shutdown."""
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="sp-exports-"))
        return self._export_dir

    def voice_key_problem(self, key: str) -> str | None:
        return self._rejected_voice_keys.get(_fingerprint(key))

    def note_voice_key_rejected(self, key: str, reason: str) -> None:
        self._rejected_voice_keys[_fingerprint(key)] = reason

    async def check_voice_key(self, creds: Credentials) -> str | None:
        """Ask Deepgram whether the key works; a rejected key marks its voices unavailable."""
        key = creds.deepgram_api_key
        if not key:
            return None
        provider = self.tts_for(_DEEPGRAM_ENTRY, creds)
        assert isinstance(provider, DeepgramTTS)
        reason = await provider.check_key()
        if reason is not None:
            self.note_voice_key_rejected(key, reason)
        return reason

    def llm_for(self, entry: CatalogEntry, creds: Credentials) -> LLMProvider:
        s = self.settings
        if entry.engine == "local":
            return self.local_model
        if entry.engine == "openai":
            key = _require(creds.openai_api_key, "OPENAI_API_KEY")
            client = self.clients.openai(api_key=key, base_url=s.openai_base_url)
        elif entry.engine == "azure":
            key = _require(creds.azure_openai_api_key, "AZURE_OPENAI_API_KEY")
            client = self.clients.azure(
                api_key=key,
                endpoint=_require(s.azure_openai_endpoint, "AZURE_OPENAI_ENDPOINT"),
                api_version=_require(s.openai_api_version, "OPENAI_API_VERSION"),
            )
        else:
            # Local servers ignore the key, but the SDK insists on one.
            client = self.clients.openai(
                api_key=creds.openai_api_key or "not-needed",
                base_url=_require(s.openai_base_url, "OPENAI_BASE_URL"),
            )
        return OpenAIChatModel(client, entry.engine)

    def tts_for(self, entry: CatalogEntry, creds: Credentials) -> TTSProvider:
        if entry.engine == "local":
            return self.local_voice
        key = _require(creds.deepgram_api_key, "DEEPGRAM_API_KEY")
        cache_key = _fingerprint(key)
        provider = self._deepgram.get(cache_key)
        if provider is None:
            # One provider per key: Deepgram's Flush budget is per account, not per turn.
            provider = DeepgramTTS(
                api_key=key,
                base_url=self.settings.deepgram_base_url,
                flush_budget=FlushBudget(
                    limit=self.settings.playground_deepgram_flushes_per_minute
                ),
            )
            self._deepgram[cache_key] = provider
            if len(self._deepgram) > 32:
                self._deepgram.popitem(last=False)
        return provider

    def reply_checks(
        self, features: set[str], creds: Credentials, output_schema: dict[str, Any] | None
    ) -> ReplyChecks:
        """The complete-reply checks for the enabled ``features`` (already capability-filtered)."""
        moderator: Moderator | None = None
        if "guardrails" in features:
            if creds.openai_api_key:
                client = self.clients.openai(
                    api_key=creds.openai_api_key, base_url=self.settings.openai_base_url
                )
                moderator = ServiceModerator(OpenAIModeration(client))
            elif self.moderation_rules is not None:
                moderator = LocalModerator(self.moderation_rules)
        interceptor = (
            Interceptor(self.interception_rules, self.interception_hooks)
            if "interception" in features and self.interception_rules is not None
            else None
        )
        schema = output_schema if "post_processing" in features else None
        return ReplyChecks(moderator=moderator, interceptor=interceptor, output_schema=schema)

    def streaming_guardrail(self, features: set[str]) -> StreamingGuardrail | None:
        if "streaming_guardrail" not in features or self.moderation_rules is None:
            return None
        return StreamingGuardrail(LocalModerator(self.moderation_rules))

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for closer in closers:
            await closer()
        await self.clients.aclose()
        providers = list(self._deepgram.values())
        self._deepgram.clear()
        for provider in providers:
            await provider.aclose()
        self.local_voice.close()
        if self._export_dir is not None:
            shutil.rmtree(self._export_dir, ignore_errors=True)


def _once(check: Callable[[], str | None]) -> Callable[[], str | None]:
    result = check()
    return lambda: result


def _fingerprint(key: str) -> str:
    # Keys are held by hash so raw key material is not kept in long-lived dictionaries.
    return hashlib.sha256(key.encode()).hexdigest()


_DEEPGRAM_ENTRY = CatalogEntry("deepgram:key-check", "deepgram", "key-check", "", True)


def _require(value: str | None, name: str) -> str:
    if not value:
        raise MissingKeyError(f"{name} is not set")
    return value


def _load_checks(settings: Settings) -> dict[str, Any]:
    """Rule files and hooks; a broken one disables its option with the reason, never the app."""
    loaded: dict[str, Any] = {"check_problems": {}}
    steps: tuple[tuple[str, str, Callable[[], Any]], ...] = (
        (
            "guardrails",
            "moderation_rules",
            lambda: load_moderation_rules(_project_path(settings.playground_moderation_rules)),
        ),
        (
            "interception",
            "interception_rules",
            lambda: load_interception_rules(_project_path(settings.playground_interception_rules)),
        ),
        (
            "interception",
            "interception_hooks",
            lambda: tuple(load_hook(spec) for spec in settings.playground_interception_hooks),
        ),
    )
    for option, name, load in steps:
        try:
            loaded[name] = load()
        except ConfigError as exc:
            log.warning("%s unavailable: %s", option, exc.message)
            loaded["check_problems"][option] = exc.message
            if name == "interception_hooks":
                loaded["interception_rules"] = None
    return loaded


def make_services(settings: Settings) -> Services:
    rejected: dict[str, str] = {}
    return Services(
        **_load_checks(settings),
        settings=settings,
        prompts=load_prompt_library(_project_path(settings.playground_prompts_dir)),
        catalog=Catalog(
            settings,
            # Installed packages do not change while the app runs: look once, not per request.
            local_model_reason=_once(local_model_unavailable),
            local_voice_reason=_once(local_voice_unavailable_reason),
            voice_key_problem=lambda key: rejected.get(_fingerprint(key)),
        ),
        clients=OpenAIClientPool(timeout_s=settings.playground_upstream_timeout_s),
        local_model=LocalLlamaModel(max_tokens=settings.playground_local_max_tokens),
        local_voice=PiperTTS(),
        server_credentials=Credentials.from_settings(settings),
        _rejected_voice_keys=rejected,
        notebooks=_notebooks(settings),
    )


def _notebooks(settings: Settings) -> Notebooks | None:
    if not settings.playground_notebook_db.strip():
        return None
    path = _project_path(settings.playground_notebook_db)
    try:
        store = NotebookStore(path, max_cells=settings.playground_notebook_max_cells)
    except (OSError, sqlite3.Error) as exc:
        # A read-only disk must not stop the playground: it runs, without a notebook.
        log.warning("notebooks are off: %s cannot be used (%s)", path, exc)
        return None
    return Notebooks(store)


def _project_path(configured: str) -> Path:
    # Relative paths are relative to the project, so `python app.py` works from any directory.
    path = Path(configured)
    return path if path.is_absolute() else PROJECT_ROOT / path
