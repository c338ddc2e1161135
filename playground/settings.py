"""Configuration from the environment and ``.env``, validated once at start-up.

The variable names are a public contract (DESIGN.md). Keys are ``SecretStr`` so they never appear
in a repr, a log line or an error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from playground.errors import ConfigError

# The checkout (or Space) the package runs from: relative settings and shipped assets live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_ROOT / "assets"


def project_path(configured: str) -> Path:
    """A configured path; relative ones are relative to the project, so ``python app.py``
    works from any directory."""
    path = Path(configured)
    return path if path.is_absolute() else PROJECT_ROOT / path


__all__ = ["Settings"]

CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Everything the playground reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_endpoint: str | None = None
    openai_api_version: str | None = None
    deepgram_api_key: SecretStr | None = None
    deepgram_base_url: str | None = None
    playground_api_token: SecretStr | None = None

    gradio_server_name: str | None = None
    gradio_server_port: int = 7860
    space_id: str | None = None  # set by Hugging Face Spaces

    @property
    def server_host(self) -> str:
        """Loopback on a laptop; all interfaces on a Space, where the proxy must reach us."""
        if self.gradio_server_name:
            return self.gradio_server_name
        return "0.0.0.0" if self.space_id else "127.0.0.1"

    # Which names the pickers offer; any OpenAI model id works through the API when listed here.
    playground_openai_models: CommaList = ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4o")
    playground_azure_deployments: CommaList = ()
    # Names for the OPENAI_BASE_URL server, added to what it lists at /v1/models; a list
    # starting with "=" offers only these.
    playground_compatible_models: CommaList = ()
    # Models served over the Responses API rather than Chat Completions (names or fnmatch globs,
    # optionally "engine:name"), beside the built-in Responses-only ones (o3-pro, gpt-5-pro, ...).
    playground_responses_models: CommaList = ()
    playground_prompts_dir: str = "prompts"
    # Prices over the shipped table (USD per 1M tokens): "name=input/output[/cached], ...";
    # "compatible:*=0" makes a self-hosted server's models free.
    playground_prices: str = ""
    # Saving prompt versions from the page and the API; unset: when the folder is writable.
    playground_prompts_writable: bool | None = None

    # Limits that keep one client from hurting the others.
    playground_max_body_bytes: int = Field(default=256_000, gt=0)
    playground_max_message_chars: int = Field(default=16_000, gt=0)
    playground_max_history_messages: int = Field(default=200, gt=0)
    playground_upstream_timeout_s: float = Field(default=60.0, gt=0)
    playground_local_max_tokens: int = Field(default=384, gt=0)
    # Turns waiting for the in-process model (it decodes one at a time); beyond this a turn fails
    # at once with a retryable "busy" error. One client holds at most half of the places.
    playground_local_max_queue: int = Field(default=8, ge=0)
    # Resumable streams: how long a disconnected turn waits to be resumed, and what is kept.
    playground_resume_grace_s: float = Field(default=5.0, ge=0)
    # A reloading page needs longer than an API client reconnecting: loading the page and its
    # scripts on a slow phone or a busy machine takes seconds.
    playground_page_resume_grace_s: float = Field(default=20.0, ge=0)
    # Each browser's notebook of runs; blank keeps none (runs are then not recorded).
    playground_notebook_db: str = "data/notebooks.sqlite3"
    playground_notebook_max_cells: int = Field(default=200, gt=0, le=200)
    # The notebook file as a whole: anyone who opens the page makes an owner. Owners not seen
    # for this many days are forgotten; past either cap the least recently seen go first.
    playground_notebook_max_owners: int = Field(default=10_000, gt=0)
    playground_notebook_max_total_bytes: int = Field(default=1_000_000_000, ge=20_000_000)
    playground_notebook_expire_days: float = Field(default=30.0, gt=0)
    # Keeps the browser's notebook id readable across restarts (blank: a file beside the
    # notebook file, made once). Not a credential: Gradio publishes it in the page's config.
    playground_browser_secret: SecretStr | None = None
    # The largest file the page accepts (a notebook import); Gradio refuses bigger uploads.
    playground_max_upload_bytes: int = Field(default=20_000_000, gt=0)
    playground_turn_retention_s: float = Field(default=300.0, gt=0)
    playground_max_kept_turns: int = Field(default=500, gt=0)
    playground_max_kept_bytes: int = Field(default=64_000_000, gt=0)
    playground_keepalive_s: float = Field(default=10.0, gt=0)

    # Abuse limits per client (bearer token, else address).
    playground_rate_limit_per_minute: int = Field(default=60, gt=0)
    playground_max_concurrent_turns: int = Field(default=4, gt=0)
    # Count those limits in Redis (redis://host:6379/0), shared by every replica and worker
    # using it; unset: in this process.
    playground_redis_url: str | None = None
    playground_trust_forwarded_for: bool = False
    playground_cors_origins: CommaList = ("*",)
    # The embeddable widget when PLAYGROUND_API_TOKEN is set: a publishable key (the host page
    # shows it to every visitor) that can only start turns, only with these prompts and models
    # (blank: any), and counts per visitor address, never as one client.
    playground_widget_token: SecretStr | None = None
    playground_widget_prompts: CommaList = ()
    playground_widget_models: CommaList = ()
    # Sites that may embed /widget (CSP frame-ancestors, enforced by browsers); "*": any.
    playground_widget_origins: CommaList = ("*",)

    # Options that need the complete reply: rule files and trusted interception hooks
    # ("package.module:function", comma separated; server configuration only, never a request).
    playground_moderation_rules: str = "assets/moderation_rules.yaml"
    playground_interception_rules: str = "assets/interception_rules.yaml"
    playground_interception_hooks: CommaList = ()

    # Deepgram allows 20 Flush messages per minute per account; raise it if yours allows more.
    playground_deepgram_flushes_per_minute: int = Field(default=20, gt=0)

    @field_validator(
        "playground_openai_models",
        "playground_azure_deployments",
        "playground_compatible_models",
        "playground_responses_models",
        "playground_cors_origins",
        "playground_interception_hooks",
        "playground_widget_prompts",
        "playground_widget_models",
        "playground_widget_origins",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("playground_prices")
    @classmethod
    def _prices_read(cls, value: str) -> str:
        # Read here so a typo stops the start with its reason, not the first costed turn.
        from playground.pricing.table import parse_price_overrides

        try:
            parse_price_overrides(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator(
        "openai_base_url", "azure_openai_endpoint", "openai_api_version", "deepgram_base_url"
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator(
        "openai_api_key",
        "azure_openai_api_key",
        "deepgram_api_key",
        "playground_api_token",
        "playground_widget_token",
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return value
