"""The composer: the controls a turn is made from, and the one place a ``TurnRequest`` is built
from their values (Send, the comparison, the notebook's View code) or turned back into them (the
notebook's Edit)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.components import Component
from pydantic import ValidationError

from playground.errors import ConfigError
from playground.turn.request import Features, HistoryMessage, TurnRequest

log = logging.getLogger("playground")

__all__ = ["Composer"]


@dataclass(frozen=True)
class Composer:
    """The settings panel's turn controls plus the Chat tab's message box."""

    model: gr.Dropdown
    prompt_id: gr.Dropdown
    version: gr.Dropdown
    node: gr.Radio
    streaming: gr.Checkbox
    voice: gr.Dropdown
    toggles: Mapping[str, gr.Checkbox]
    message: gr.Textbox

    def controls(self) -> list[Component]:
        """The settings that make a request, in the order ``request`` takes their values."""
        return [
            self.model,
            self.prompt_id,
            self.version,
            self.node,
            self.streaming,
            self.voice,
            *self.toggles.values(),
        ]

    @staticmethod
    def request(
        message: str,
        *,
        model: str,
        prompt: str,
        version: str,
        node: str,
        streaming: bool = True,
        voice: str | None = None,
        features: Mapping[str, bool] | None = None,
        history: Sequence[HistoryMessage] = (),
    ) -> TurnRequest:
        """The request the composer's values make. Values that are not what the page sends
        (a script calling ``/turn``) raise ``ConfigError`` naming the field, never a dump."""
        try:
            return TurnRequest(
                message=message,
                model=model,
                prompt=f"{prompt}@{version}",
                node=node,  # validated by TurnRequest
                streaming=streaming,
                voice=voice,
                history=tuple(history),
                features=Features(**dict(features or {})),
            )
        except (ValidationError, TypeError) as exc:
            log.info("a page request was refused: %s", exc)  # the detail stays in the log
            raise ConfigError(_first_problem(exc), field=_first_field(exc)) from exc

    def fill(
        self, request: TurnRequest, versions_of: Callable[[str], list[str]]
    ) -> dict[Block, Any]:
        """The composer's values for ``request`` (the notebook's Edit), by component."""
        prompt_id, _, version = (request.prompt or "").partition("@")
        features = request.features.model_dump()
        return {
            self.model: request.model,
            self.prompt_id: prompt_id,
            self.version: gr.update(choices=versions_of(prompt_id), value=version),
            self.node: request.node,
            self.streaming: request.streaming,
            self.voice: request.voice or "none",
            **{box: features.get(name, False) for name, box in self.toggles.items()},
            self.message: request.message,
        }


def _first_field(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        return ".".join(str(part) for part in exc.errors()[0]["loc"]) or "request"
    return "request"


def _first_problem(exc: Exception) -> str:
    field = _first_field(exc)
    if isinstance(exc, ValidationError) and exc.errors():
        expected = {
            "message": "a non-empty text",
            "node": "'prompt' or 'agent'",
            "streaming": "true or false",
        }.get(field, "a value the page offers")
        return f"{field}: expected {expected}"
    return "the request's values are not what the page sends"
