"""What models and voices exist here, which are usable with the current keys, and why not.

Model ids are ``openai:<model>``, ``azure:<deployment>``, ``compatible:<model>`` and
``local:<name>``; voice ids are ``deepgram:<voice>`` and ``local:<voice>``. A missing key makes an
entry unavailable with a reason — it never raises at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from playground.errors import ConfigError, MissingKeyError
from playground.providers.deepgram_tts import DEEPGRAM_VOICES
from playground.providers.local_llm import LOCAL_MODEL_NAME
from playground.providers.piper_tts import LOCAL_VOICES
from playground.settings import Settings

__all__ = ["Catalog", "CatalogEntry", "Credentials", "Engine"]

TOKEN_NEEDED = "enter the access token in Session keys (this server requires one)"

Engine = Literal["openai", "azure", "compatible", "local", "deepgram"]
"""Which engine serves a catalog entry: the part of its id before the colon."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """The keys one request may use: the server's, or the ones a user pasted into their session."""

    openai_api_key: str | None = None
    azure_openai_api_key: str | None = None
    deepgram_api_key: str | None = None
    # False for an anonymous page visitor when PLAYGROUND_API_TOKEN is set: the server's own
    # endpoints (a compatible server it points at) are not theirs to use; their own keys are.
    server_endpoints: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        def reveal(secret: object) -> str | None:
            value = getattr(secret, "get_secret_value", lambda: None)()
            return value if isinstance(value, str) and value else None

        return cls(
            openai_api_key=reveal(settings.openai_api_key),
            azure_openai_api_key=reveal(settings.azure_openai_api_key),
            deepgram_api_key=reveal(settings.deepgram_api_key),
        )

    def overridden_by(
        self,
        *,
        openai_api_key: str | None = None,
        azure_openai_api_key: str | None = None,
        deepgram_api_key: str | None = None,
    ) -> Credentials:
        """Session keys win over the server's; blank means "use the server's"."""
        return Credentials(
            openai_api_key=(openai_api_key or "").strip() or self.openai_api_key,
            azure_openai_api_key=(azure_openai_api_key or "").strip() or self.azure_openai_api_key,
            deepgram_api_key=(deepgram_api_key or "").strip() or self.deepgram_api_key,
            server_endpoints=self.server_endpoints,
        )

    def __repr__(self) -> str:
        # Never show key material, even in a debugger or a traceback.
        present = [name for name in ("openai", "azure", "deepgram") if self.key_for(name)]
        return f"Credentials(keys={present})"

    def key_for(self, engine: str) -> str | None:
        return {
            "openai": self.openai_api_key,
            "azure": self.azure_openai_api_key,
            "deepgram": self.deepgram_api_key,
        }.get(engine)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    engine: Engine
    name: str
    label: str
    available: bool
    reason: str | None = None


class Catalog:
    """Lists and resolves models and voices for given credentials."""

    def __init__(
        self,
        settings: Settings,
        *,
        local_model_reason: Callable[[], str | None],
        local_voice_reason: Callable[[], str | None],
        voice_key_problem: Callable[[str], str | None] = lambda key: None,
    ) -> None:
        self._settings = settings
        self._local_model_reason = local_model_reason
        self._local_voice_reason = local_voice_reason
        self._voice_key_problem = voice_key_problem

    def models(self, creds: Credentials) -> list[CatalogEntry]:
        s = self._settings
        entries: list[CatalogEntry] = []
        openai_reason = (
            None if creds.openai_api_key else "set OPENAI_API_KEY or paste an OpenAI key"
        )
        for name in s.playground_openai_models:
            entries.append(
                CatalogEntry(
                    f"openai:{name}",
                    "openai",
                    name,
                    f"OpenAI · {name}",
                    openai_reason is None,
                    openai_reason,
                )
            )
        azure_reason = self._azure_reason(creds)
        for name in s.playground_azure_deployments or ("gpt-4o-mini",):
            entries.append(
                CatalogEntry(
                    f"azure:{name}",
                    "azure",
                    name,
                    f"Azure OpenAI · {name}",
                    azure_reason is None,
                    azure_reason,
                )
            )
        compatible_reason = (
            "set OPENAI_BASE_URL to an OpenAI-compatible server"
            if not s.openai_base_url
            else None
            if creds.server_endpoints
            else TOKEN_NEEDED
        )
        for name in s.playground_compatible_models or ("llama3.2",):
            entries.append(
                CatalogEntry(
                    f"compatible:{name}",
                    "compatible",
                    name,
                    f"Compatible · {name}",
                    compatible_reason is None,
                    compatible_reason,
                )
            )
        local_reason = self._local_model_reason()
        entries.append(
            CatalogEntry(
                f"local:{LOCAL_MODEL_NAME}",
                "local",
                LOCAL_MODEL_NAME,
                "Local · SmolLM2-135M (tiny offline model)",
                local_reason is None,
                local_reason,
            )
        )
        return entries

    def voices(self, creds: Credentials) -> list[CatalogEntry]:
        local_reason = self._local_voice_reason()
        entries = [
            CatalogEntry(
                f"local:{name}",
                "local",
                name,
                f"Local · Piper {name} (offline)",
                local_reason is None,
                local_reason,
            )
            for name in LOCAL_VOICES
        ]
        key = creds.deepgram_api_key
        deepgram_reason = (
            self._voice_key_problem(key) if key else "set DEEPGRAM_API_KEY or paste a Deepgram key"
        )
        entries.extend(
            CatalogEntry(
                f"deepgram:{name}",
                "deepgram",
                name,
                f"Deepgram · {_voice_label(name)}",
                deepgram_reason is None,
                deepgram_reason,
            )
            for name in DEEPGRAM_VOICES
        )
        return entries

    def default_model(self, creds: Credentials) -> CatalogEntry:
        models = self.models(creds)
        for engine in ("openai", "azure", "compatible", "local"):
            for entry in models:
                if entry.engine == engine and entry.available:
                    return entry
        return models[-1]

    def resolve_model(self, model_id: str | None, creds: Credentials) -> CatalogEntry:
        if model_id is None:
            return self.default_model(creds)
        return self._resolve(model_id, self.models(creds), "model")

    def resolve_voice(self, voice_id: str | None, creds: Credentials) -> CatalogEntry | None:
        if voice_id is None or voice_id in ("", "none", "off"):
            return None
        return self._resolve(voice_id, self.voices(creds), "voice")

    def _resolve(self, wanted: str, entries: list[CatalogEntry], kind: str) -> CatalogEntry:
        for entry in entries:
            if entry.id == wanted:
                if not entry.available:
                    raise MissingKeyError(f"{kind} {wanted!r} is unavailable: {entry.reason}")
                return entry
        engine, _, name = wanted.partition(":")
        # Any model name works against a configured compatible server; the server decides.
        if kind == "model" and engine == "compatible" and name and self._settings.openai_base_url:
            return CatalogEntry(wanted, "compatible", name, f"Compatible · {name}", True)
        known = ", ".join(e.id for e in entries[:6])
        raise ConfigError(f"unknown {kind} {wanted!r}; try one of: {known}, …")

    def _azure_reason(self, creds: Credentials) -> str | None:
        s = self._settings
        missing = [
            name
            for name, value in (
                ("AZURE_OPENAI_API_KEY", creds.azure_openai_api_key),
                ("AZURE_OPENAI_ENDPOINT", s.azure_openai_endpoint),
                ("OPENAI_API_VERSION", s.openai_api_version),
            )
            if not value
        ]
        return f"set {', '.join(missing)}" if missing else None


def _voice_label(name: str) -> str:
    # "aura-2-thalia-en" -> "Thalia (Aura-2, en)"
    parts = name.split("-")
    if len(parts) >= 4 and parts[0] == "aura":
        return f"{parts[2].title()} (Aura-{parts[1]}, {parts[3]})"
    return name
