"""What an eval is asked to run: test cases, the configurations to run them against, how often.

A configuration is a turn request without its message (each case brings one), so every other
field ``POST /v1/interact/stream`` takes means the same here, validated the same way.
``EvalRequest.turn_request`` puts one case into one configuration: the case's variables over the
configuration's, the case's history after the configuration's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from playground.evals.assertions import Assertion
from playground.turn.request import HistoryMessage, TurnRequest

__all__ = [
    "MAX_CASES",
    "MAX_CONCURRENCY",
    "MAX_CONFIGURATIONS",
    "MAX_REPEAT",
    "EvalCase",
    "EvalConfiguration",
    "EvalRequest",
]

MAX_CASES = 200
MAX_CONFIGURATIONS = 4
MAX_REPEAT = 10
MAX_CONCURRENCY = 8
_FROM_THE_CASE = "(each case's message)"


class EvalCase(BaseModel):
    """One test case: a message (with variables and history if it needs them), optionally the
    answer it should give and the assertions its answer must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    message: str = Field(min_length=1)
    variables: dict[str, str] = Field(default_factory=dict)
    history: tuple[HistoryMessage, ...] = ()
    reference: str | None = None
    description: str | None = None
    assertions: tuple[Assertion, ...] = Field(default=(), alias="assert", max_length=20)


class EvalConfiguration(TurnRequest):
    """The ``/v1/interact/stream`` fields except ``message``; its ``history`` (a conversation
    every case continues) comes before each case's own."""

    message: str = _FROM_THE_CASE

    @model_validator(mode="before")
    @classmethod
    def _no_message(cls, data: Any) -> Any:
        if isinstance(data, dict) and "message" in data:
            raise ValueError("a configuration takes no message: each case brings its own")
        return data


class EvalRequest(BaseModel):
    """Body of ``POST /v1/evals``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cases: tuple[EvalCase, ...] = Field(min_length=1, max_length=MAX_CASES)
    configurations: tuple[EvalConfiguration, ...] = Field(
        min_length=1, max_length=MAX_CONFIGURATIONS
    )
    repeat: int = Field(default=1, ge=1, le=MAX_REPEAT)
    concurrency: int = Field(default=4, ge=1, le=MAX_CONCURRENCY)

    def turn_request(self, case: int, configuration: int) -> TurnRequest:
        """Case ``case`` run with configuration ``configuration``, as a turn request."""
        one, config = self.cases[case], self.configurations[configuration]
        fields = config.model_dump(exclude={"message", "history"}, exclude_unset=True)
        return TurnRequest.model_validate(
            {
                **fields,
                "message": one.message,
                "history": [h.model_dump() for h in (*config.history, *one.history)],
                "variables": {**config.variables, **one.variables},
            }
        )

    @property
    def runs(self) -> int:
        return len(self.cases) * len(self.configurations) * self.repeat
