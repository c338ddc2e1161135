"""The request for one turn, shared by the HTTP API and the UI (unknown fields are rejected)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from playground.reasoning import Effort

__all__ = ["Features", "HistoryMessage", "TurnRequest"]


class HistoryMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str


class Features(BaseModel):
    """Options that may be switched on for a turn; the capability table decides what runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guardrails: bool = False
    interception: bool = False
    post_processing: bool = False
    streaming_guardrail: bool = False


class TurnRequest(BaseModel):
    """Body of ``POST /v1/interact/stream``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str = Field(min_length=1)
    model: str | None = None
    prompt: str | None = None
    node: Literal["prompt", "agent"] | None = None
    streaming: bool = True
    voice: str | None = None
    history: tuple[HistoryMessage, ...] = ()
    features: Features = Features()
    variables: dict[str, str] = Field(default_factory=dict)
    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=32_768)
    top_p: float | None = Field(default=None, ge=0, le=1)
    # Up to four sequences that end the answer (the OpenAI API's limit); a string is one.
    stop: tuple[str, ...] | None = Field(default=None, max_length=4)
    # How hard a reasoning model thinks; each model accepts some of these (playground.reasoning),
    # and a value the model does not take is refused (422) rather than passed upstream.
    reasoning_effort: Effort | None = None
    # An unsaved prompt (a prompt file's fields; ``id`` and ``version`` optional) run in place
    # of ``prompt``; validated like a file by the runner, reported as ``<id>@draft:<hash>``.
    prompt_draft: dict[str, Any] | None = None

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("stop")
    @classmethod
    def _stops_are_not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not all(value):
            raise ValueError("a stop sequence cannot be empty")
        return value

    @field_validator("prompt_draft")
    @classmethod
    def _one_prompt(cls, value: dict[str, Any] | None, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("prompt") is not None:
            raise ValueError("send prompt or prompt_draft, not both")
        return value
