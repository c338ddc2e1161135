"""The settings panel's "Parameters and variables": temperature, top_p, max tokens, seed, stop
sequences and a reasoning model's effort (offered with the values the picked model takes),
prefilled from the prompt version's defaults (blank: the model's own), a reset to
those defaults, and the prompt's variables as ``name: value`` lines with the missing ones
flagged before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.components import Component

from playground.errors import ConfigError
from playground.prompts.library import PromptDefaults, PromptFile
from playground.prompts.workbench import (
    missing_variables,
    parse_stop,
    parse_variables,
    stop_text,
    variables_text,
)
from playground.reasoning import EFFORTS, family_of
from playground.ui.render.markup import code

__all__ = ["ParametersPanel", "TurnParameters"]


@dataclass(frozen=True, slots=True)
class TurnParameters:
    """The panel's values as a turn takes them (None: the prompt's default, then the model's)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    variables: dict[str, str] | None = None
    reasoning_effort: str | None = None

    def request_fields(self) -> dict[str, Any]:
        fields = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": self.stop,
            "variables": self.variables or {},
            "reasoning_effort": self.reasoning_effort,
        }
        return {k: v for k, v in fields.items() if v is not None}


def _number(name: str, value: object, *, whole: bool = False) -> float | int | None:
    """A number box's raw value (None, a number, or what a script sent) as a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name}: expected a number", field=name)
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a number", field=name) from None
    if whole:
        if not number.is_integer():
            raise ConfigError(f"{name}: expected a whole number", field=name)
        return int(number)
    return number


def read_parameters(
    temperature: object,
    top_p: object,
    max_tokens: object,
    seed: object,
    stop: object,
    variables: object,
    reasoning_effort: object = None,
) -> TurnParameters:
    """The panel's raw values (as the page or a script sent them) read into parameters;
    ``ConfigError`` names the field. Ranges are checked by ``TurnRequest``, whether the model
    takes the effort by the runner."""
    for name, text in (("stop", stop), ("variables", variables), ("effort", reasoning_effort)):
        if text is not None and not isinstance(text, str):
            raise ConfigError(f"{name}: expected a text", field=name)
    effort = reasoning_effort or None
    if effort is not None and effort not in EFFORTS:
        raise ConfigError(
            f"reasoning_effort: expected one of {', '.join(EFFORTS)}", field="reasoning_effort"
        )
    max_tokens_value = _number("max_tokens", max_tokens, whole=True)
    seed_value = _number("seed", seed, whole=True)
    return TurnParameters(
        temperature=_number("temperature", temperature),
        top_p=_number("top_p", top_p),
        max_tokens=int(max_tokens_value) if max_tokens_value is not None else None,
        seed=int(seed_value) if seed_value is not None else None,
        stop=parse_stop(stop if isinstance(stop, str) else None),
        variables=parse_variables(variables if isinstance(variables, str) else None),
        reasoning_effort=str(effort) if effort is not None else None,
    )


_MODEL_DEFAULT = ("model default", "")


def effort_choice(model_id: object, current: object = "") -> dict[str, Any]:
    """The effort picker for a model: the values it takes (the current one kept when it still
    takes it), or switched off with the reason for a model that takes none."""
    name = str(model_id or "").partition(":")[2]
    family = family_of(name) if name else None
    if family is None or not family.efforts:
        reason = (
            f"{name} thinks at a fixed effort."
            if family is not None
            else "Only reasoning models (o-series, gpt-5, gpt-oss) take an effort."
        )
        return gr.update(choices=[_MODEL_DEFAULT], value="", interactive=False, info=reason)
    keep = current if current in family.efforts else ""
    return gr.update(
        choices=[_MODEL_DEFAULT, *((e, e) for e in family.efforts)],
        value=keep,
        interactive=True,
        info=f"How long {name} thinks before it answers: more effort, slower first answer token.",
    )


def check_variables(prompt: PromptFile, parameters: TurnParameters) -> None:
    """Refuse a turn whose prompt uses a variable nobody gave a value."""
    missing = missing_variables(prompt, parameters.variables or {})
    if missing:
        names = ", ".join(missing)
        raise ConfigError(
            f"variables: {names} {'has' if len(missing) == 1 else 'have'} no value; "
            "fill it in under Parameters and variables",
            field=f"variables.{missing[0]}",
        )


def variables_note(prompt: PromptFile, text: str | None) -> str:
    """Under the variables box: what the prompt uses, and what is missing or unreadable."""
    try:
        values = parse_variables(text)
    except ConfigError as exc:
        return f"<p class='sp-var-note sp-var-bad'>⚠ {exc.message}</p>"
    missing = missing_variables(prompt, values)
    if missing:
        names = ", ".join(code(n) for n in missing)
        return f"<p class='sp-var-note sp-var-bad'>⚠ No value for {names}: fill it in to send.</p>"
    if not (set(values) | set(prompt.variables)):
        return "<p class='sp-var-note'>This prompt has no variables.</p>"
    return "<p class='sp-var-note sp-var-ok'>✓ Every variable has a value.</p>"


def _shown(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _number_box(label: str, value: float | int | None, hint: str, elem_id: str) -> gr.Textbox:
    return gr.Textbox(
        _shown(value),
        label=label,
        placeholder=f"model default ({hint})" if hint != "random" else "random",
        max_lines=1,
        min_width=110,
        elem_id=elem_id,
    )


class ParametersPanel:
    """Rendered inside the settings column; ``prefill`` gives a prompt version's values."""

    def render(self) -> None:
        """Rendered blank and filled when the page loads (``prefill``): what a script calling
        ``/turn`` leaves out then means "the prompt's defaults", not the default prompt's."""
        defaults = PromptDefaults()
        with gr.Accordion("Parameters and variables", open=False, elem_id="sp-params"):
            # Text boxes, not number boxes: blank must stay blank (the prompt's default, then
            # the model's), and a number box shows and sends 0 for "nothing".
            with gr.Row():
                self.temperature = _number_box(
                    "Temperature", defaults.temperature, "0–2", "sp-temperature"
                )
                self.top_p = _number_box("Top p", defaults.top_p, "0–1", "sp-top-p")
            with gr.Row():
                self.max_tokens = _number_box(
                    "Max tokens", defaults.max_tokens, "1–32768", "sp-max-tokens"
                )
                self.seed = _number_box("Seed", defaults.seed, "random", "sp-seed")
            self.reasoning_effort = gr.Dropdown(
                choices=[_MODEL_DEFAULT],
                value="",
                label="Reasoning effort",
                info="Only reasoning models (o-series, gpt-5, gpt-oss) take an effort.",
                interactive=False,
                elem_id="sp-reasoning-effort",
            )
            self.stop = gr.Textbox(
                stop_text(defaults.stop),
                label="Stop sequences",
                info="One per line, up to 4; write a line break as \\n.",
                lines=1,
                max_lines=4,
                elem_id="sp-stop",
            )
            self.variables = gr.Textbox(
                "",
                label="Variables",
                info="One 'name: value' per line, for the prompt's {{variables}}.",
                lines=2,
                max_lines=12,
                elem_id="sp-variables",
            )
            self.note = gr.HTML("", elem_id="sp-variables-note")
            self.reset = gr.Button(
                "Reset to the prompt's defaults", size="sm", elem_id="sp-params-reset"
            )

    @property
    def inputs(self) -> list[Component]:
        """In the order ``read_parameters`` takes them."""
        return [
            self.temperature,
            self.top_p,
            self.max_tokens,
            self.seed,
            self.stop,
            self.variables,
            self.reasoning_effort,
        ]

    @property
    def prefill_outputs(self) -> list[Block]:
        # Not the effort: a prompt version has no effort of its own; the model decides it.
        return [*self.inputs[:6], self.note]

    def follow(self, model: gr.Dropdown) -> None:
        """Offer the efforts the picked model takes, whenever the model changes."""
        model.change(
            effort_choice,
            [model, self.reasoning_effort],
            [self.reasoning_effort],
            queue=False,
            api_visibility="private",
            show_progress="hidden",
        )

    def prefill(self, prompt: PromptFile) -> dict[Block, Any]:
        """The version's defaults and variables (the reset, and a newly picked version)."""
        d = prompt.defaults
        text = variables_text(prompt)
        return {
            self.temperature: _shown(d.temperature),
            self.top_p: _shown(d.top_p),
            self.max_tokens: _shown(d.max_tokens),
            self.seed: _shown(d.seed),
            self.stop: stop_text(d.stop),
            self.variables: text,
            self.note: variables_note(prompt, text),
        }

    def fill(self, prompt: PromptFile | None, values: dict[str, Any]) -> dict[Block, Any]:
        """A recorded run's values (the notebook's Edit), its variables over the prompt's."""
        variables = values.get("variables") or {}
        text = (
            variables_text(prompt, variables)
            if prompt is not None
            else "\n".join(f"{k}: {v}" for k, v in variables.items())
        )
        return {
            self.temperature: _shown(values.get("temperature")),
            self.top_p: _shown(values.get("top_p")),
            self.max_tokens: _shown(values.get("max_tokens")),
            self.seed: _shown(values.get("seed")),
            self.stop: stop_text(values.get("stop")),
            self.variables: text,  # its change event redraws the note
            self.reasoning_effort: values.get("reasoning_effort") or "",
        }
