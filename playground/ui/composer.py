"""The composer: the controls a turn is made from, and the one place a ``TurnRequest`` is built
from their values (Send, the comparison, the notebook's View code) or turned back into them (the
notebook's Edit)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.components import Component
from pydantic import ValidationError

from playground.errors import ConfigError
from playground.prompts.library import PromptFile, PromptLibrary
from playground.prompts.store import parse_document
from playground.prompts.workbench import editor_text, parse_editor
from playground.turn.request import Features, HistoryMessage, TurnRequest
from playground.ui.parameters_panel import (
    ParametersPanel,
    TurnParameters,
    check_variables,
    read_parameters,
)

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
    parameters: ParametersPanel
    draft: gr.Code  # the prompt editor's text: a draft once it differs from the saved version
    draft_base: gr.Textbox  # the ``id@version`` the editor's text was opened from (hidden)
    message: gr.Textbox

    def controls(self) -> list[Component]:
        """The settings that make a request, in the order the handlers take their values:
        the pickers, the option toggles, the parameters (``read_parameters``), the draft."""
        return [
            self.model,
            self.prompt_id,
            self.version,
            self.node,
            self.streaming,
            self.voice,
            *self.toggles.values(),
            *self.parameters.inputs,
            self.draft,
            self.draft_base,
        ]

    @staticmethod
    def compose(
        prompts: PromptLibrary,
        message: str,
        *,
        model: str,
        prompt: str,
        version: str,
        node: str | None,
        streaming: bool = True,
        voice: str | None = None,
        features: Mapping[str, bool] | None = None,
        history: Sequence[HistoryMessage] = (),
        parameters: Sequence[object] = (),
        draft_text: object = None,
        draft_base: object = None,
        require_variables: bool = True,
    ) -> TurnRequest:
        """The request for the page's values: the picked version, or the editor's draft when
        its text differs from that version and was opened from it (``draft_base``; a text not
        yet caught up with a newly picked version is never run in its place); the parameters
        read (``parameters`` in the order of ``ParametersPanel.inputs``) and every variable the
        prompt uses given a value — unless ``require_variables`` is False (an eval, whose cases
        bring their own values and are checked case by case). ``ConfigError`` names what is
        wrong."""
        if draft_base != f"{prompt}@{version}":
            draft_text = None
        read = read_parameters(*parameters) if parameters else TurnParameters()
        if draft_text is not None and not isinstance(draft_text, str):
            raise ConfigError("prompt_draft: expected the editor's text", field="prompt_draft")
        try:
            base: PromptFile | None = prompts.resolve(f"{prompt}@{version}", None)
        except ConfigError:
            base = None  # ``request`` below names the prompt or version that is wrong
        draft = parse_editor(draft_text, base) if draft_text and draft_text.strip() else None
        running = draft if draft is not None and draft.changed else None
        used = running.prompt if running is not None else base
        if used is not None and require_variables:
            check_variables(used, read)
        return Composer.request(
            message,
            model=model,
            prompt=prompt,
            version=version,
            node=node,
            streaming=streaming,
            voice=voice,
            features=features,
            history=history,
            parameters=read,
            prompt_draft=running.document if running is not None else None,
        )

    @staticmethod
    def request(
        message: str,
        *,
        model: str,
        prompt: str,
        version: str,
        node: str | None,
        streaming: bool = True,
        voice: str | None = None,
        features: Mapping[str, bool] | None = None,
        history: Sequence[HistoryMessage] = (),
        parameters: TurnParameters | None = None,
        prompt_draft: dict[str, Any] | None = None,
    ) -> TurnRequest:
        """The request the composer's values make. Values that are not what the page sends
        (a script calling ``/turn``) raise ``ConfigError`` naming the field, never a dump."""
        try:
            return TurnRequest(
                message=message,
                model=model,
                prompt=f"{prompt}@{version}" if prompt_draft is None else None,
                prompt_draft=prompt_draft,
                node=node,  # validated by TurnRequest
                streaming=streaming,
                voice=voice,
                history=tuple(history),
                features=Features(**dict(features or {})),
                **(parameters.request_fields() if parameters is not None else {}),
            )
        except (ValidationError, TypeError) as exc:
            log.info("a page request was refused: %s", exc)  # the detail stays in the log
            raise ConfigError(_first_problem(exc), field=_first_field(exc)) from exc

    def fill(self, request: TurnRequest, prompts: PromptLibrary) -> dict[Block, Any]:
        """The composer's values for ``request`` (the notebook's Edit), by component. A draft's
        run opens its draft in the editor, over the prompt it was made from (or the latest of
        its id, or the default prompt when the id was never saved)."""
        if request.prompt_draft is not None:
            draft_id = str(request.prompt_draft.get("id", ""))
            shown = prompts.resolve_shown(draft_id, str(max(prompts.versions(draft_id) or [1])))
            prompt_id, version = shown.id, str(shown.version)
        else:
            prompt_id, _, version = (request.prompt or "").partition("@")
        try:
            prompt = (
                parse_document(request.prompt_draft)
                if request.prompt_draft is not None
                else prompts.resolve(request.prompt, request.node)
            )
        except ConfigError:
            prompt = None
        features = request.features.model_dump()
        values = request.model_dump(
            include={"temperature", "top_p", "max_tokens", "seed", "reasoning_effort"}
        )
        values.update(stop=request.stop, variables=request.variables)
        # The editor shows what the run used: its draft, or the saved version's text.
        draft = editor_text(prompt) if prompt is not None else gr.skip()
        base = f"{prompt_id}@{version}" if prompt is not None else gr.skip()
        return {
            self.model: request.model,
            self.prompt_id: prompt_id,
            self.version: gr.update(
                choices=[str(v) for v in prompts.versions(prompt_id)], value=version
            ),
            **self.parameters.fill(prompt, values),
            self.draft: draft,
            self.draft_base: base,
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
