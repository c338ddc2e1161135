"""The long-lived parts of a running playground, built once from ``Settings``.

Nothing here is module-level: ``make_services`` builds one ``Services`` and hands it to the API and
the UI. Per-user data (keys, history) never lives here; it travels with each request.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from playground.catalog import Catalog, CatalogEntry, Credentials
from playground.errors import MissingKeyError
from playground.prompts import PromptLibrary, load_prompt_library
from playground.providers.base import LLMProvider, TTSProvider
from playground.providers.deepgram_tts import DeepgramTTS, FlushBudget
from playground.providers.local_llm import LocalLlamaModel, local_model_unavailable
from playground.providers.openai_llm import OpenAIChatModel, OpenAIClientPool
from playground.providers.piper_tts import PiperTTS, local_voice_unavailable_reason
from playground.settings import Settings

__all__ = ["Services", "make_services"]


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
    # Keys Deepgram rejected (by hash), with the reason: their voices are listed unavailable.
    _rejected_voice_keys: dict[str, str] = field(default_factory=dict)

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

    async def aclose(self) -> None:
        await self.clients.aclose()
        providers = list(self._deepgram.values())
        self._deepgram.clear()
        for provider in providers:
            await provider.aclose()
        self.local_voice.close()


def _fingerprint(key: str) -> str:
    # Keys are held by hash so raw key material is not kept in long-lived dictionaries.
    return hashlib.sha256(key.encode()).hexdigest()


_DEEPGRAM_ENTRY = CatalogEntry("deepgram:key-check", "deepgram", "key-check", "", True)


def _require(value: str | None, name: str) -> str:
    if not value:
        raise MissingKeyError(f"{name} is not set")
    return value


def make_services(settings: Settings) -> Services:
    rejected: dict[str, str] = {}
    return Services(
        settings=settings,
        prompts=load_prompt_library(_project_path(settings.playground_prompts_dir)),
        catalog=Catalog(
            settings,
            local_model_reason=local_model_unavailable,
            local_voice_reason=local_voice_unavailable_reason,
            voice_key_problem=lambda key: rejected.get(_fingerprint(key)),
        ),
        clients=OpenAIClientPool(timeout_s=settings.playground_upstream_timeout_s),
        local_model=LocalLlamaModel(max_tokens=settings.playground_local_max_tokens),
        local_voice=PiperTTS(),
        server_credentials=Credentials.from_settings(settings),
        _rejected_voice_keys=rejected,
    )


def _project_path(configured: str) -> Path:
    # Relative paths are relative to the project, so `python app.py` works from any directory.
    path = Path(configured)
    return path if path.is_absolute() else Path(__file__).resolve().parent.parent / path
