"""What models and voices exist here, which are usable with the current keys, and why not.

Model ids are ``openai:<model>``, ``azure:<deployment>``, ``compatible:<model>`` and
``local:<name>``; voice ids are ``deepgram:<voice>`` and ``local:<voice>``. A missing key makes an
entry unavailable with a reason — it never raises at start-up.

With ``OPENAI_BASE_URL`` pointing anywhere but OpenAI, the server there is what the OpenAI client
talks to: its models are the ones it lists (``model_discovery``), offered as ``compatible:<model>``
and labelled with its host, never as "OpenAI". The ``openai:`` entries are then listed as
unavailable, saying where the base URL points; an ``openai:<model>`` id a client sends anyway
still runs where it always did (that server, with the OpenAI key), under the server's label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from playground.errors import ConfigError, MissingKeyError
from playground.model_discovery import ModelDiscovery, ModelListing, is_openai, server_host
from playground.providers.deepgram_tts import DEEPGRAM_VOICES
from playground.providers.local_llm import LOCAL_MODEL_NAME
from playground.providers.piper_tts import LOCAL_VOICES
from playground.settings import Settings

__all__ = ["Catalog", "CatalogEntry", "Credentials", "Engine", "Source", "compatible_names"]

TOKEN_NEEDED = "enter the access token in Session keys (this server requires one)"

Engine = Literal["openai", "azure", "compatible", "local", "deepgram"]
"""Which engine serves a catalog entry: the part of its id before the colon."""

Source = Literal["discovered", "configured", "built-in", "local", "requested"]
"""Where an entry's name comes from: the compatible server's own list, a setting, the app's
defaults, the in-process model, or the request itself (a name no list holds, sent anyway)."""

_OPENAI_KEY_NEEDED = "set OPENAI_API_KEY or paste an OpenAI key"


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
    source: Source = "built-in"
    # The compatible server that serves it (what its label starts with); None for the others.
    host: str | None = None


def compatible_names(configured: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """``PLAYGROUND_COMPATIBLE_MODELS`` read: its names, and whether they restrict the server's
    list. Plain names are added to what the server lists (first, in their order); a list that
    starts with ``=`` (``=llama3.2,qwen2.5``) offers only its names. Either way a name the server
    does not list is still offered: a gateway may accept more than it lists."""
    only = bool(configured) and configured[0].startswith("=")
    names = (name.lstrip("=").strip() for name in configured)
    return tuple(dict.fromkeys(name for name in names if name)), only


class Catalog:
    """Lists and resolves models and voices for given credentials."""

    def __init__(
        self,
        settings: Settings,
        *,
        local_model_reason: Callable[[], str | None],
        local_voice_reason: Callable[[], str | None],
        voice_key_problem: Callable[[str], str | None] = lambda key: None,
        discovery: ModelDiscovery | None = None,
    ) -> None:
        self._settings = settings
        self._local_model_reason = local_model_reason
        self._local_voice_reason = local_voice_reason
        self._voice_key_problem = voice_key_problem
        self._discovery = discovery
        base = settings.openai_base_url
        # The host of a base URL that is not OpenAI's: the OpenAI client's requests go there.
        self.compatible_host = server_host(base) if base and not is_openai(base) else None

    def models(self, creds: Credentials) -> list[CatalogEntry]:
        s = self._settings
        entries = self._openai_entries(creds)
        azure_reason = self._azure_reason(creds)
        azure_source: Source = "configured" if s.playground_azure_deployments else "built-in"
        for name in s.playground_azure_deployments or ("gpt-4o-mini",):
            entries.append(
                CatalogEntry(
                    f"azure:{name}",
                    "azure",
                    name,
                    f"Azure OpenAI · {name}",
                    azure_reason is None,
                    azure_reason,
                    azure_source,
                )
            )
        entries.extend(self._compatible_entries(creds))
        local_reason = self._local_model_reason()
        entries.append(
            CatalogEntry(
                f"local:{LOCAL_MODEL_NAME}",
                "local",
                LOCAL_MODEL_NAME,
                "Local · SmolLM2-135M (tiny offline model)",
                local_reason is None,
                local_reason,
                "local",
            )
        )
        return entries

    def _openai_entries(self, creds: Credentials) -> list[CatalogEntry]:
        s = self._settings
        host = self.compatible_host
        if host is not None:
            # Not offered as OpenAI: the OpenAI client would send them to this other server.
            reason: str | None = (
                f"OPENAI_BASE_URL points at {host}, not OpenAI: its models are listed as "
                "compatible:<model>"
            )
        else:
            reason = None if creds.openai_api_key else _OPENAI_KEY_NEEDED
        source: Source = (
            "configured" if "playground_openai_models" in s.model_fields_set else "built-in"
        )
        return [
            CatalogEntry(
                f"openai:{name}", "openai", name, f"OpenAI · {name}", reason is None, reason, source
            )
            for name in s.playground_openai_models
        ]

    def _compatible_entries(self, creds: Credentials) -> list[CatalogEntry]:
        s = self._settings
        host = self.compatible_host
        if host is None:
            # No server, or OpenAI's own: the configured names (or an example), as before.
            return self._compatible_as_configured(creds)
        configured, only = compatible_names(s.playground_compatible_models)
        listing = self._discovery.listing if self._discovery is not None else ModelListing(host)
        listed = listing.models or ()
        named: list[tuple[str, Source]] = [
            (name, "discovered" if name in listed else "configured") for name in configured
        ]
        if not only:
            named += [(name, "discovered") for name in listed if name not in configured]
        reason = None if creds.server_endpoints else TOKEN_NEEDED
        entries = [
            CatalogEntry(
                f"compatible:{name}",
                "compatible",
                name,
                f"{host} · {name}",
                reason is None,
                reason,
                source,
                host,
            )
            for name, source in named
        ]
        if listing.problem is not None or not entries:
            # One row that says why the server's models are missing. Its id names no model
            # (nobody can ask for it); any compatible:<model> is still accepted.
            why = listing.problem or f"{host} listed no models"
            entries.append(
                CatalogEntry(
                    "compatible:",
                    "compatible",
                    "",
                    f"{host} · models not listed",
                    False,
                    f"{why}; refresh the list, or name models in PLAYGROUND_COMPATIBLE_MODELS "
                    "(compatible:<model> is accepted either way)",
                    "discovered",
                    host,
                )
            )
        return entries

    def _compatible_as_configured(self, creds: Credentials) -> list[CatalogEntry]:
        s = self._settings
        configured, _ = compatible_names(s.playground_compatible_models)
        source: Source = "configured" if configured else "built-in"
        reason = (
            "set OPENAI_BASE_URL to an OpenAI-compatible server"
            if not s.openai_base_url
            else None
            if creds.server_endpoints
            else TOKEN_NEEDED
        )
        return [
            CatalogEntry(
                f"compatible:{name}",
                "compatible",
                name,
                f"Compatible · {name}",
                reason is None,
                reason,
                source,
            )
            for name in configured or ("llama3.2",)
        ]

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
        # With a base URL that is not OpenAI's, its server stands where OpenAI stood: first.
        order = (
            ("openai", "compatible", "azure", "local")
            if self.compatible_host is not None
            else ("openai", "azure", "compatible", "local")
        )
        for engine in order:
            usable = [e for e in models if e.engine == engine and e.available]
            # A model the server lists before a configured one it may not have.
            usable.sort(key=lambda e: e.source != "discovered")
            if usable:
                return usable[0]
        return models[-1]

    def resolve_model(self, model_id: str | None, creds: Credentials) -> CatalogEntry:
        if model_id is None:
            return self.default_model(creds)
        return self._resolve(model_id, self.models(creds), "model", creds)

    def typed_model(self, text: str) -> str:
        """The model id meant by ``text`` typed into a picker: an id as it is, a bare name the
        compatible server's (``llama3:8b`` -> ``compatible:llama3:8b``) when there is one."""
        text = text.strip()
        engine = text.partition(":")[0]
        if engine in _MODEL_ENGINES or not self._settings.openai_base_url:
            return text
        return f"compatible:{text}"

    def resolve_voice(self, voice_id: str | None, creds: Credentials) -> CatalogEntry | None:
        if voice_id is None or voice_id in ("", "none", "off"):
            return None
        return self._resolve(voice_id, self.voices(creds), "voice", creds)

    def _resolve(
        self, wanted: str, entries: list[CatalogEntry], kind: str, creds: Credentials
    ) -> CatalogEntry:
        host = self.compatible_host
        for entry in entries:
            if entry.id == wanted:
                if entry.available:
                    return entry
                if kind == "model" and entry.engine == "openai" and host is not None:
                    return _openai_elsewhere(entry, host, creds)
                raise MissingKeyError(f"{kind} {wanted!r} is unavailable: {entry.reason}")
        engine, _, name = wanted.partition(":")
        # Any model name works against a configured compatible server; the server decides (a
        # gateway accepts more than it lists), and its host labels it.
        if kind == "model" and engine == "compatible" and name and self._settings.openai_base_url:
            if not creds.server_endpoints:
                # The listed names' gate: naming an unlisted model must not get round it.
                raise MissingKeyError(f"model {wanted!r} is unavailable: {TOKEN_NEEDED}")
            label = f"{host} · {name}" if host is not None else f"Compatible · {name}"
            return CatalogEntry(wanted, "compatible", name, label, True, None, "requested", host)
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


_MODEL_ENGINES = frozenset({"openai", "azure", "compatible", "local"})


def _openai_elsewhere(entry: CatalogEntry, host: str, creds: Credentials) -> CatalogEntry:
    """An ``openai:`` id sent while the base URL points at another server: it runs there as it
    always did (the OpenAI client, with the OpenAI key), under that server's label."""
    if not creds.openai_api_key:
        raise MissingKeyError(f"model {entry.id!r} is unavailable: {_OPENAI_KEY_NEEDED}")
    return replace(entry, label=f"{host} · {entry.name}", available=True, reason=None, host=host)


def _voice_label(name: str) -> str:
    # "aura-2-thalia-en" -> "Thalia (Aura-2, en)"
    parts = name.split("-")
    if len(parts) >= 4 and parts[0] == "aura":
        return f"{parts[2].title()} (Aura-{parts[1]}, {parts[3]})"
    return name
