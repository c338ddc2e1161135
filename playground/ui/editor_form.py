"""The editor's fields as controls (title, node type, format, system text, variables and their
defaults, output schema, exit paths, default parameters), each with its error beside it.

The YAML below the form stays the one source. A control the designer changes rewrites its field
in the YAML; the YAML, when the designer types in it or a version is opened into it, fills the
controls. Each direction only answers the designer's own input (``.input``, never ``.change``),
so a control being typed in is never overwritten by the round trip of its own keystrokes.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import gradio as gr
from gradio.blocks import Block

from playground.errors import ConfigError
from playground.prompts.editor_form import (
    DEFAULTS_FIELDS,
    ERROR_GROUPS,
    error_group,
    form_values,
    unreadable,
    with_form,
)
from playground.prompts.workbench import parse_editor

__all__ = ["EditorForm", "field_error_html"]

_PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
_FORMAT_RULE = "v1 cannot stream while it calls tools (tool calling is off when streaming); v2 can"


def _number_box(label: str, hint: str, name: str) -> gr.Textbox:
    return gr.Textbox(
        label=label,
        placeholder=f"none ({hint})",
        max_lines=1,
        min_width=120,
        elem_id=f"sp-field-{name.replace('_', '-')}",
    )


def field_error_html(message: str | None) -> str:
    if not message:
        return ""
    return f"<div class='sp-field-error' role='alert'>⚠ {html.escape(message)}</div>"


class EditorForm:
    """Render inside the editor tab (above its YAML); ``wire`` with the YAML's ``gr.Code``."""

    def render(self) -> None:
        self.errors: dict[str, gr.HTML] = {}
        with gr.Accordion("Fields", open=True, elem_id="sp-editor-form"):
            with gr.Row(equal_height=True):
                with gr.Column(scale=3, min_width=220):
                    self.title = gr.Textbox(label="Title", max_lines=1, elem_id="sp-field-title")
                    self._error("title")
                with gr.Column(scale=1, min_width=150):
                    self.node = gr.Radio(
                        ["prompt", "agent"], label="Node type", elem_id="sp-field-node"
                    )
                    self._error("node")
                with gr.Column(scale=2, min_width=200):
                    self.format = gr.Radio(
                        ["v1", "v2"], label="Format", info=_FORMAT_RULE, elem_id="sp-field-format"
                    )
                    self._error("format")
            self.description = gr.Textbox(
                label="Description", max_lines=3, elem_id="sp-field-description"
            )
            self._error("description")
            self.system = gr.Code(
                language="markdown",
                lines=6,
                max_lines=24,
                wrap_lines=True,
                label="System text ({{name}} is a variable: its tokens and marks are shown "
                "in the status below)",
                interactive=True,
                elem_id="sp-field-system",
            )
            self._error("system")
            self.variables = gr.Textbox(
                label="Variables and their defaults (one 'name: value' per line)",
                lines=2,
                max_lines=10,
                elem_id="sp-field-variables",
            )
            self._error("variables")
            with gr.Row(equal_height=False):
                with gr.Column(min_width=260):
                    self.output_schema = gr.Code(
                        language="json",
                        lines=4,
                        max_lines=20,
                        label="Output JSON schema (empty: free text)",
                        interactive=True,
                        elem_id="sp-field-output-schema",
                    )
                    self._error("output_schema")
                with gr.Column(min_width=260):
                    self.exit_paths = gr.Code(
                        language="yaml",
                        lines=4,
                        max_lines=20,
                        label="Exit paths (Agent Node: '- name:', 'description:', "
                        "'required_fields:')",
                        interactive=True,
                        elem_id="sp-field-exit-paths",
                    )
                    self._error("exit_paths")
            with gr.Row(equal_height=True, elem_id="sp-field-defaults"):
                # Text boxes, as in the parameters panel: a number box shows 0 for "not set".
                self.temperature = _number_box("Default temperature", "0–2", "temperature")
                self.top_p = _number_box("Default top_p", "0–1", "top_p")
                self.max_tokens = _number_box("Default max tokens", "whole number", "max_tokens")
                self.seed = _number_box("Default seed", "whole number", "seed")
                self.stop = gr.Textbox(
                    label="Default stop sequences (one per line)",
                    lines=1,
                    max_lines=4,
                    min_width=160,
                )
            self._error("defaults")

    def _error(self, group: str) -> None:
        self.errors[group] = gr.HTML("", elem_id=f"sp-field-error-{group.replace('_', '-')}")

    @property
    def controls(self) -> dict[str, Any]:
        """Each form field's control, by the field name ``with_field`` takes."""
        return {
            "title": self.title,
            "description": self.description,
            "node": self.node,
            "format": self.format,
            "system": self.system,
            "variables": self.variables,
            "output_schema": self.output_schema,
            "exit_paths": self.exit_paths,
            **{name: getattr(self, name) for name in DEFAULTS_FIELDS},
        }

    @property
    def error_outputs(self) -> list[Block]:
        return [self.errors[group] for group in ERROR_GROUPS]

    def values_for(self, text: str) -> dict[Block, Any]:
        """The controls filled from the editor's text (left as they are while it is
        unreadable)."""
        values = form_values(text)
        if values is None:
            return {}
        shown = asdict(values)
        return {control: shown[name] for name, control in self.controls.items()}

    def errors_for(self, field: str | None, message: str | None, values: list[Any]) -> list[str]:
        """Each error place's content: a control's value the form cannot read, else the text's
        error beside its field; empty elsewhere."""
        shown = unreadable(dict(zip(self.controls, values, strict=True)))
        group = error_group(field) if message else None
        if group is not None and message is not None:
            shown.setdefault(group, message)
        return [field_error_html(shown.get(g)) for g in ERROR_GROUPS]

    def wire(self, text: gr.Code) -> None:
        controls = list(self.controls.values())
        for name, control in self.controls.items():
            # Every control here has ``.input`` (Textbox, Code, Radio, Number).
            control.input(
                self._writer(name),
                [text, *controls],
                [text, *self.error_outputs],
                queue=False,
                trigger_mode="always_last",
                **_PRIVATE,
            )
        # Typing in the YAML fills the controls; a version opened into it does so through
        # ``values_for`` in the handler that opens it.
        text.input(
            self.on_text_typed,
            [text],
            controls,
            queue=False,
            trigger_mode="always_last",
            **_PRIVATE,
        )

    def _writer(self, changed: str) -> Callable[..., tuple[Any, ...]]:
        """The handler for one control: the whole form written into the text (each control
        sends all of them: the text may not yet hold a control changed just before)."""

        def write(text: str, *values: Any) -> tuple[Any, ...]:
            form = dict(zip(self.controls, values, strict=True))
            try:
                written = with_form(text or "", form, changed)
            except ConfigError as exc:
                errors = [field_error_html(None)] * len(ERROR_GROUPS)
                errors[ERROR_GROUPS.index(error_group(exc.field) or "title")] = field_error_html(
                    exc.message
                )
                return gr.skip(), *errors
            try:
                parse_editor(written, None)
                field, message = None, None
            except ConfigError as exc:
                field, message = exc.field, exc.message
            new_text = written if written != text else gr.skip()
            return new_text, *self.errors_for(field, message, list(values))

        return write

    def on_text_typed(self, text: str) -> dict[Block, Any]:
        return self.values_for(text or "")
