"""The project's error hierarchy.

Every failure a user can see is one of these; SDK exceptions are translated into them at the
provider boundary, so nothing above ``playground/providers`` catches a vendor exception::

    PlaygroundError
    ├── ConfigError                  bad settings or request (never retryable)
    │   └── MissingKeyError          a provider key or endpoint is not configured
    ├── PromptLoadError              a prompt file is malformed (path and field in the message)
    ├── ProviderError                an upstream LLM or TTS failed (category + retryable)
    │   └── TruncatedStreamError     the upstream stream ended without a finish reason
    └── CheckError                   a whole-reply check could not run; the reply is withheld
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BusyError",
    "CheckError",
    "ConfigError",
    "ErrorCategory",
    "MissingKeyError",
    "PlaygroundError",
    "PromptLoadError",
    "ProviderError",
    "TruncatedStreamError",
    "UnsupportedValueError",
]


class ErrorCategory(StrEnum):
    """What kind of failure, as sent in the ``code`` field of an ``error`` event."""

    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    CONNECTIVITY = "connectivity"
    TIMEOUT = "timeout"
    SERVER = "server"
    BAD_REQUEST = "bad_request"
    TRUNCATED = "truncated"
    CONFIG = "config"
    INTERNAL = "internal"


_RETRYABLE = {
    ErrorCategory.RATE_LIMIT,
    ErrorCategory.CONNECTIVITY,
    ErrorCategory.TIMEOUT,
    ErrorCategory.SERVER,
    ErrorCategory.TRUNCATED,
}


class PlaygroundError(Exception):
    """Base of every error this project shows to a user; ``message`` says how to fix it."""

    category: ErrorCategory = ErrorCategory.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.category in _RETRYABLE

    def __repr__(self) -> str:
        return f"{type(self).__name__}(category={self.category.value!r}, message={self.message!r})"


class ConfigError(PlaygroundError):
    """The configuration or the request cannot work as given; ``field`` names the culprit."""

    category = ErrorCategory.CONFIG

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedValueError(ConfigError):
    """A well-formed value the chosen model does not take (a reasoning effort it lacks): the
    API answers 422 naming the field instead of passing it upstream."""


class MissingKeyError(ConfigError):
    """A provider needs a key or endpoint that is not set."""


class PromptLoadError(PlaygroundError):
    """A prompt file could not be loaded; the message names the path and the field."""

    category = ErrorCategory.CONFIG

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.field: str | None = None


class ProviderError(PlaygroundError):
    """An upstream model or voice failed. ``provider`` names which (``openai``, ``deepgram``...)."""

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory,
        provider: str,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.provider = provider
        self.status_code = status_code


class BusyError(ProviderError):
    """A one-at-a-time resource (the in-process model) has no place for this turn now: retry
    after ``retry_after_s`` seconds. Raised before anything is generated."""

    def __init__(self, message: str, *, provider: str, retry_after_s: float) -> None:
        super().__init__(message, category=ErrorCategory.RATE_LIMIT, provider=provider)
        self.retry_after_s = retry_after_s


class TruncatedStreamError(ProviderError):
    """The stream ended cleanly but without a finish reason: the answer is incomplete."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            "The model's stream ended without a finish reason; the answer is incomplete.",
            category=ErrorCategory.TRUNCATED,
            provider=provider,
        )


class CheckError(PlaygroundError):
    """A whole-reply check could not run: its service failed (moderation: a 404 from a server
    without ``/v1/moderations``, a 429, a timeout) or a hook broke the interceptor. The held
    reply is withheld rather than delivered unchecked; ``stage`` names the check."""

    def __init__(self, stage: str, message: str, *, category: ErrorCategory) -> None:
        super().__init__(message)
        self.stage = stage
        self.category = category
