"""The engines a turn runs on: which provider serves a catalog entry with the caller's keys.

``Engines`` owns every long-lived provider object (the OpenAI client pool, the in-process model
and voice, one Deepgram provider per key) and closes them at shutdown. ``VoiceKeyProblems``
remembers the Deepgram keys that were rejected, so the catalog can list their voices as
unavailable instead of failing again; it is shared with the catalog as an object, by design.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from playground.catalog import CatalogEntry, Credentials
from playground.errors import MissingKeyError
from playground.providers.base import LLMProvider, ModerationProvider, STTProvider, TTSProvider
from playground.providers.deepgram_stt import DeepgramSTT
from playground.providers.deepgram_tts import DeepgramTTS, FlushBudget
from playground.providers.local_llm import LocalLlamaModel
from playground.providers.openai_llm import OpenAIChatModel, OpenAIClientPool
from playground.providers.openai_moderation import OpenAIModeration
from playground.providers.openai_responses import OpenAIResponsesModel, uses_responses_api
from playground.providers.piper_tts import PiperTTS
from playground.providers.whisper_stt import LocalSTT
from playground.settings import Settings

__all__ = ["Engines", "VoiceKeyProblems", "fingerprint"]

_MAX_DEEPGRAM_KEYS = 32
_DEEPGRAM_KEY_CHECK = CatalogEntry("deepgram:key-check", "deepgram", "key-check", "", True)


def fingerprint(key: str) -> str:
    # Keys are held by hash so raw key material is not kept in long-lived dictionaries.
    return hashlib.sha256(key.encode()).hexdigest()


class VoiceKeyProblems:
    """Deepgram keys that were rejected (by hash), with the reason."""

    def __init__(self) -> None:
        self._rejected: dict[str, str] = {}

    def note(self, key: str, reason: str) -> None:
        self._rejected[fingerprint(key)] = reason

    def problem(self, key: str) -> str | None:
        return self._rejected.get(fingerprint(key))


@dataclass
class Engines:
    settings: Settings
    clients: OpenAIClientPool
    local_model: LocalLlamaModel
    local_voice: PiperTTS
    voice_keys: VoiceKeyProblems
    # Whisper, loaded on the first spoken turn (not at start: most visitors type).
    local_listener: LocalSTT = field(default_factory=LocalSTT)
    _deepgram: OrderedDict[str, DeepgramTTS] = field(default_factory=OrderedDict)
    _deepgram_listeners: OrderedDict[str, DeepgramSTT] = field(default_factory=OrderedDict)

    @classmethod
    def from_settings(cls, settings: Settings, voice_keys: VoiceKeyProblems) -> Engines:
        return cls(
            settings=settings,
            clients=OpenAIClientPool(timeout_s=settings.playground_upstream_timeout_s),
            local_model=LocalLlamaModel(
                max_tokens=settings.playground_local_max_tokens,
                max_queue=settings.playground_local_max_queue,
            ),
            local_voice=PiperTTS(),
            voice_keys=voice_keys,
        )

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
        if uses_responses_api(entry.engine, entry.name, s):
            return OpenAIResponsesModel(client, entry.engine)
        return OpenAIChatModel(client, entry.engine)

    def tts_for(self, entry: CatalogEntry, creds: Credentials) -> TTSProvider:
        if entry.engine == "local":
            return self.local_voice
        key = _require(creds.deepgram_api_key, "DEEPGRAM_API_KEY")
        cache_key = fingerprint(key)
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
            if len(self._deepgram) > _MAX_DEEPGRAM_KEYS:
                self._deepgram.popitem(last=False)
        return provider

    def stt_for(self, engine: Literal["local", "deepgram"], creds: Credentials) -> STTProvider:
        """The speech-to-text engine: the in-process Whisper, or Deepgram with the caller's key
        (one provider per key, like the voices)."""
        if engine == "local":
            return self.local_listener
        key = _require(creds.deepgram_api_key, "DEEPGRAM_API_KEY")
        cache_key = fingerprint(key)
        provider = self._deepgram_listeners.get(cache_key)
        if provider is None:
            provider = DeepgramSTT(api_key=key, base_url=self.settings.deepgram_base_url)
            self._deepgram_listeners[cache_key] = provider
            if len(self._deepgram_listeners) > _MAX_DEEPGRAM_KEYS:
                # Not closed here: a socket may still be listening through it.
                self._deepgram_listeners.popitem(last=False)
        return provider

    async def check_voice_key(self, creds: Credentials) -> str | None:
        """Ask Deepgram whether the key works; a rejected key marks its voices unavailable."""
        key = creds.deepgram_api_key
        if not key:
            return None
        provider = self.tts_for(_DEEPGRAM_KEY_CHECK, creds)
        assert isinstance(provider, DeepgramTTS)
        reason = await provider.check_key()
        if reason is not None:
            self.voice_keys.note(key, reason)
        return reason

    def moderation_for(self, creds: Credentials) -> ModerationProvider | None:
        """OpenAI's moderation endpoint when the caller has an OpenAI key, else None (the local
        rules moderate)."""
        if not creds.openai_api_key:
            return None
        client = self.clients.openai(
            api_key=creds.openai_api_key, base_url=self.settings.openai_base_url
        )
        return OpenAIModeration(client)

    async def aclose(self) -> None:
        await self.clients.aclose()
        providers = list(self._deepgram.values())
        self._deepgram.clear()
        for provider in providers:
            await provider.aclose()
        listeners = list(self._deepgram_listeners.values())
        self._deepgram_listeners.clear()
        for listener in listeners:
            await listener.aclose()
        self.local_voice.close()
        self.local_listener.close()


def _require(value: str | None, name: str) -> str:
    if not value:
        raise MissingKeyError(f"{name} is not set")
    return value
