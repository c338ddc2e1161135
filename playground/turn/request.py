"""The request for one turn, shared by the HTTP API and the UI (unknown fields are rejected)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
