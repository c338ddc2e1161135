"""The settings panel: model (with a refresh of the compatible server's list), prompt and version,
node type, streaming, voice, the options that need the complete response, the prompt text and
version diff, and the session keys.

``render`` lays it out; ``wire`` keeps it consistent (a prompt's versions, the capability table
on the toggles, the diff); ``credentials`` gives the keys a turn runs with. Decisions are the
core's: ``disabled_for`` (capabilities) and the prompt library's ``resolve_shown``/``diff_pair``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.events import Dependency

from playground.catalog import TOKEN_NEEDED, Credentials
from playground.checks.streaming_guardrail import LIMITS
from playground.errors import PlaygroundError
from playground.model_discovery import ModelListing
from playground.prompts.library import PromptFile, PromptLibrary
from playground.services import Services
from playground.turn.capabilities import OPTIONS, disabled_for
from playground.ui.client import page_client
from playground.ui.parameters_panel import ParametersPanel
from playground.ui.render import panel_view, prompt_view

__all__ = ["FEATURES", "SettingsPanel", "choices_keeping"]

FEATURES = ("guardrails", "interception", "post_processing", "streaming_guardrail")
# The streaming guardrail's toggle, when it is available, points at its limits just below it.
GUARDRAIL_INFO = "Weaker than the full guardrail: see what it cannot do, just below."
_PRIVATE: Mapping[str, Any] = MappingProxyType({"queue": False, "api_visibility": "private"})


class SettingsPanel:
    """The left column. Its components exist once ``render`` has run inside a Blocks."""

    def __init__(self, services: Services) -> None:
        self.catalog, self.services = services.catalog, services
        self.server_creds = services.server_credentials
        token = services.settings.playground_api_token
        self._token = token.get_secret_value().encode() if token is not None else None
        # With an access token set, a visitor who has not entered it spends no server key and
        # uses no server endpoint: only their own session keys and the local engines.
        self.anonymous_creds = (
            Credentials(server_endpoints=False) if self._token is not None else self.server_creds
        )
        self.unavailable = services.checks.problems
        self.server_settings = services.settings
        self.default_prompt = self.prompts.default_for("prompt")
        self.parameters = ParametersPanel()
        self._refresh_followers: list[
            tuple[Callable[..., Any], Sequence[Block], Sequence[Block]]
        ] = []

    # -- what other parts ask ----------------------------------------------------------------

    @property
    def prompts(self) -> PromptLibrary:
        """The library as it is now (a saved version shows up without a restart)."""
        return self.services.prompts

    def credentials(
        self,
        openai: str | None,
        azure: str | None,
        deepgram: str | None,
        access_token: str | None = None,
    ) -> Credentials:
        """The server's keys (only with the access token, when the server requires one),
        overridden by the session's (blank keeps the base)."""
        base = self.server_creds if self.token_accepted(access_token) else self.anonymous_creds
        return base.overridden_by(
            openai_api_key=openai or "",
            azure_openai_api_key=azure or "",
            deepgram_api_key=deepgram or "",
        )

    def client_of(self, request: gr.Request | None) -> str:
        """Who is asking, for the per-client limits shared with the API."""
        return page_client(request, self.server_settings)

    def token_accepted(self, access_token: str | None) -> bool:
        if self._token is None:
            return True
        given = (access_token or "").strip().encode()
        return hmac.compare_digest(given, self._token)

    def versions_of(self, prompt_id: str) -> list[str]:
        return [str(v) for v in self.prompts.versions(prompt_id)]

    @property
    def keys(self) -> list[gr.Textbox]:
        return [self.openai_key, self.azure_key, self.deepgram_key, self.access_token]

    # -- layout ------------------------------------------------------------------------------

    def render(self) -> None:
        with gr.Column(scale=1, min_width=300, elem_id="sp-settings"):
            self._render_turn_controls()
            self.parameters.render()
            with gr.Accordion(
                "Options that need the complete response", open=True, elem_id="sp-options"
            ):
                self.toggles = {
                    name: gr.Checkbox(
                        False,
                        label=OPTIONS[name],
                        info=GUARDRAIL_INFO if name == "streaming_guardrail" else None,
                        elem_id=f"sp-opt-{name}",
                    )
                    for name in FEATURES
                }
                # Right under the streaming guardrail's toggle (the last one).
                gr.HTML(panel_view.limits_html(LIMITS), elem_id="sp-guardrail-limits")
                self.capability_md = gr.Markdown(elem_id="sp-capabilities")
            self._render_prompt_views()
            self._render_keys()

    def _render_turn_controls(self) -> None:
        creds, prompt = self.anonymous_creds, self.default_prompt
        default_voice = next(
            (e.id for e in self.catalog.voices(creds) if e.engine == "local" and e.available),
            "none",
        )
        # The page's config is built once, with the compatible server's list as it was then;
        # the load event brings in what a later refresh found (see ``current_models``).
        self.built_model = self.catalog.default_model(creds).id
        with gr.Row(equal_height=True, elem_id="sp-model-row"):
            self.model = gr.Dropdown(
                self.model_choices(creds),
                value=self.built_model,
                label="Model",
                info="Unavailable models say what they need; type a name the server has "
                "but does not list.",
                # A gateway accepts more models than it lists (see ``on_model_typed``).
                allow_custom_value=True,
                scale=1,
                elem_id="sp-model",
            )
            self.models_refresh = gr.Button(
                "↻",
                size="sm",
                scale=0,
                min_width=40,
                # Only a compatible server's list can change while the app runs.
                visible=self.services.discovery is not None,
                elem_id="sp-models-refresh",
            )
        self.models_status = gr.Markdown(visible=False, elem_id="sp-models-status")
        with gr.Row():
            self.prompt_id = gr.Dropdown(
                sorted(self.prompts.prompts),
                value=prompt.id,
                label="Prompt",
                scale=3,
                elem_id="sp-prompt",
            )
            self.version = gr.Dropdown(
                self.versions_of(prompt.id),
                value=str(prompt.version),
                label="Version",
                scale=1,
                min_width=90,
                elem_id="sp-version",
            )
        self.node = gr.Radio(
            [("Prompt Node", "prompt"), ("Agent Node", "agent")],
            value=prompt.node,
            label="Node type",
            elem_id="sp-node",
        )
        self.streaming = gr.Checkbox(
            True,
            label="Stream the answer",
            info="Off: the whole answer arrives as one chunk.",
            elem_id="sp-streaming",
        )
        self.voice = gr.Dropdown(
            self.voice_choices(creds),
            value=default_voice,
            label="Voice",
            info="Spoken sentence by sentence as text streams.",
            elem_id="sp-voice",
        )

    def _render_prompt_views(self) -> None:
        prompt = self.default_prompt
        old, new = self.prompts.diff_pair(prompt)
        with gr.Accordion("Prompt text", open=False, elem_id="sp-prompt-text"):
            self.prompt_md = gr.Markdown(prompt_view.prompt_card(prompt))
            if self.prompts.problems:
                gr.Markdown(
                    "\n".join(f"- skipped `{p.path}`: {p.message}" for p in self.prompts.problems),
                    elem_classes="sp-problems",
                )
        with gr.Accordion("Compare prompt versions", open=False, elem_id="sp-versions"):
            with gr.Row():
                self.diff_old = gr.Dropdown(
                    self.versions_of(prompt.id),
                    value=str(old),
                    label="From version",
                    min_width=100,
                    elem_id="sp-diff-old",
                )
                self.diff_new = gr.Dropdown(
                    self.versions_of(prompt.id),
                    value=str(new),
                    label="To version",
                    min_width=100,
                    elem_id="sp-diff-new",
                )
            self.diff_html = gr.HTML(
                self.version_diff(prompt.id, str(old), str(new)), elem_id="sp-prompt-diff"
            )

    def _render_keys(self) -> None:
        with gr.Accordion("Session keys", open=False, elem_id="sp-keys"):
            gr.Markdown(
                "Used for this browser session only: never stored, logged or "
                "shown to anyone else. Blank uses the server's keys."
            )
            self.openai_key = gr.Textbox(
                type="password", label="OpenAI API key", elem_id="sp-openai-key"
            )
            self.azure_key = gr.Textbox(
                type="password", label="Azure OpenAI API key", elem_id="sp-azure-key"
            )
            self.deepgram_key = gr.Textbox(
                type="password", label="Deepgram API key", elem_id="sp-deepgram-key"
            )
            self.access_token = gr.Textbox(
                type="password",
                label="Access token",
                info="This server requires its access token to use its own keys and endpoints.",
                visible=self._token is not None,
                elem_id="sp-access-token",
            )

    # -- events ------------------------------------------------------------------------------

    def wire(self, demo: gr.Blocks, structured_box: gr.Column) -> None:
        """Attach the panel's events; ``structured_box`` (the Chat tab's structured output) is
        shown only for prompt versions with an output schema."""
        self.structured_box = structured_box
        for component in (self.model, self.version, self.node, self.streaming, self.voice):
            component.change(self.capabilities, self._cap_inputs, self._cap_outputs, **_PRIVATE)
        # .input, not .change: an Edit from the notebook sets the prompt and its version together
        # and must not have the version reset to the prompt's latest.
        # Kept: the editor and the parameters follow a picked prompt once its version is set.
        self.prompt_picked = self.prompt_id.input(
            self.on_prompt,
            [self.prompt_id],
            [self.version, self.node, *self._version_outputs],
            **_PRIVATE,
        )
        self.prompt_picked.then(self.capabilities, self._cap_inputs, self._cap_outputs, **_PRIVATE)
        self.version.change(
            self.on_version, [self.prompt_id, self.version], self._version_outputs, **_PRIVATE
        )
        # .input, not .change: only a person picking a version redraws the diff here; when the
        # prompt or version changes, those handlers set both pickers and the diff together.
        for picker in (self.diff_old, self.diff_new):
            picker.input(
                self.version_diff,
                [self.prompt_id, self.diff_old, self.diff_new],
                [self.diff_html],
                **_PRIVATE,
            )
        for key_box in self.keys:
            for trigger in (key_box.blur, key_box.submit):
                trigger(
                    self.on_keys,
                    [self.model, self.voice, *self.keys],
                    [self.model, self.voice],
                    **_PRIVATE,
                )
        refreshed = self.models_refresh.click(
            self.refresh_models,
            [self.model, *self.keys],
            [self.model, self.models_status],
            **_PRIVATE,
        )
        for handler, inputs, outputs in self._refresh_followers:
            refreshed.then(handler, list(inputs), list(outputs), **_PRIVATE)
        self.model.input(
            self.on_model_typed,
            [self.model, *self.keys],
            [self.model, self.models_status],
            **_PRIVATE,
        )
        demo.load(self.current_models, [self.model], [self.model, self.models_status], **_PRIVATE)
        demo.load(self.capabilities, self._cap_inputs, self._cap_outputs, **_PRIVATE)
        # The page's config is built once; versions saved since then join the pickers on load.
        demo.load(
            self.current_choices,
            [self.prompt_id, self.version],
            [self.prompt_id, self.version],
            **_PRIVATE,
        )

    def follow_models_refresh(
        self, handler: Callable[..., Any], inputs: Sequence[Block], outputs: Sequence[Block]
    ) -> None:
        """Run ``handler`` after each ↻ of the model list (other tabs' pickers follow it);
        called before ``wire``."""
        self._refresh_followers.append((handler, inputs, outputs))

    def refresh_after(self, event: Dependency) -> None:
        """After ``event`` set the controls (the notebook's Edit): the prompt's card and diff,
        then the capability table."""
        event.then(
            self.on_version, [self.prompt_id, self.version], self._version_outputs, **_PRIVATE
        ).then(self.capabilities, self._cap_inputs, self._cap_outputs, **_PRIVATE)

    @property
    def _cap_inputs(self) -> list[Block]:
        controls = [self.model, self.prompt_id, self.version, self.node, self.streaming]
        return [*controls, self.voice, *self.toggles.values()]

    @property
    def _cap_outputs(self) -> list[Block]:
        return [*self.toggles.values(), self.capability_md]

    @property
    def _version_outputs(self) -> list[Block]:
        return [self.prompt_md, self.structured_box, self.diff_old, self.diff_new, self.diff_html]

    def capabilities(
        self, model: str, pid: str, ver: str, node: str, streaming: bool, voice: str, *flags: bool
    ) -> dict[Block, Any]:
        """Each toggle enabled or disabled (with the reason) by the capability table."""
        prompt = self.prompts.resolve_shown(pid, ver)
        disabled = disabled_for(
            prompt,
            model=model,
            node=node,
            streaming=streaming,
            voice=voice,
            unavailable=self.unavailable,
        )
        off = {d.name: d for d in disabled}
        shown: dict[Block, Any] = {
            box: gr.update(
                interactive=name not in off,
                value=flag and name not in off,
                info=panel_view.disabled_info(off[name])
                if name in off
                else (GUARDRAIL_INFO if name == "streaming_guardrail" else None),
            )
            for (name, box), flag in zip(self.toggles.items(), flags, strict=True)
        }
        shown[self.capability_md] = panel_view.capability_notes(
            disabled, has_tools=bool(prompt.tools)
        )
        return shown

    def on_prompt(self, pid: str) -> dict[Block, Any]:
        latest = self.prompts.latest(pid)
        versions = self.versions_of(pid)
        return {
            self.version: gr.update(choices=versions, value=str(latest.version)),
            self.node: gr.update(value=latest.node),
            **self._version_views(latest, choices=versions),
        }

    def current_choices(self, pid: str, ver: str) -> tuple[Any, Any]:
        """The pickers' choices as the library is now, their values kept."""
        return (
            gr.update(choices=sorted(self.prompts.prompts), value=pid),
            gr.update(choices=self.versions_of(pid), value=ver),
        )

    def on_version(self, pid: str, ver: str) -> dict[Block, Any]:
        # The diff pickers get the choices again: a version saved in the editor is new to them.
        prompt = self.prompts.resolve_shown(pid, ver)
        return self._version_views(prompt, choices=self.versions_of(prompt.id))

    def _version_views(
        self, prompt: PromptFile, choices: list[str] | None = None
    ) -> dict[Block, Any]:
        """The card, the structured output's visibility and the diff, for ``prompt``."""
        old, new = (str(v) for v in self.prompts.diff_pair(prompt))
        return {
            self.prompt_md: prompt_view.prompt_card(prompt),
            self.structured_box: gr.update(visible=prompt.output_schema is not None),
            self.diff_old: _picker(old, choices),
            self.diff_new: _picker(new, choices),
            self.diff_html: self.version_diff(prompt.id, old, new),
        }

    def version_diff(self, pid: str, old: str, new: str) -> str:
        shown = self.prompts.resolve_shown
        return prompt_view.prompt_diff(shown(pid, old), shown(pid, new))

    def on_keys(self, model: str, voice: str, *key_values: str) -> dict[Block, Any]:
        creds = self.credentials(*key_values)
        return {
            self.model: self._model_picker(model, creds),
            self.voice: choices_keeping(self.voice_choices(creds), voice, "none"),
        }

    def current_models(self, model: str) -> tuple[Any, Any]:
        """On load: the model picker as the catalog is now (with what the compatible server
        listed since the page was built), and why its list is missing, if it is."""
        creds = self.anonymous_creds  # a loading page has no session keys yet
        # Still the value the page was built with: nobody chose it, so today's default wins.
        picked = None if model == self.built_model else model
        listing = self.services.discovery.listing if self.services.discovery else None
        problem = listing.error if listing is not None else None
        return self._model_picker(picked, creds), _status(problem)

    async def refresh_models(self, model: str, *key_values: str) -> tuple[Any, Any]:
        """The refresh button: ask the compatible server again, then show what it lists (the
        picked model kept while it is still there) or why it could not."""
        creds = self.credentials(*key_values)
        if not creds.server_endpoints:
            # The server's endpoint is not this visitor's to use, even to ask for its list.
            return self._model_picker(model, creds), _status(TOKEN_NEEDED)
        listing = await self.services.refresh_models()
        return self._model_picker(model, creds), _status(_refresh_note(listing))

    def on_model_typed(self, model: str, *key_values: str) -> tuple[Any, Any]:
        """A model typed into the picker: a listed one is simply chosen; another name goes to
        the compatible server as typed (labelled with its host), or is refused with the reason
        and the picker goes back to the default."""
        creds = self.credentials(*key_values)
        choices = self.model_choices(creds)
        if model in {value for _, value in choices}:
            return gr.update(), gr.update()
        try:
            entry = self.catalog.resolve_model(self.catalog.typed_model(model), creds)
        except PlaygroundError as exc:
            return self._model_picker(None, creds), _status(str(exc))
        note = (
            f"{entry.name} is not in {entry.host}'s list; it is sent as typed and the server "
            "decides."
            if entry.host is not None
            else None
        )
        typed = (panel_view.choice_label(entry), entry.id)
        return gr.update(choices=[*choices, typed], value=entry.id), _status(note)

    def _model_picker(self, model: str | None, creds: Credentials) -> Any:
        """The picker's choices for ``creds``, keeping ``model`` when it is still one of them
        (a model the server no longer lists gives way to the default)."""
        choices, default = self.model_choices(creds), self.catalog.default_model(creds).id
        if model is None:
            return gr.update(choices=choices, value=default)
        return choices_keeping(choices, model, default)

    def model_choices(self, creds: Credentials) -> list[tuple[str, str]]:
        return [(panel_view.choice_label(e), e.id) for e in self.catalog.models(creds)]

    def voice_choices(self, creds: Credentials) -> list[tuple[str, str]]:
        voices = self.catalog.voices(creds)
        return [("Off", "none")] + [(panel_view.choice_label(e), e.id) for e in voices]


def choices_keeping(choices: list[tuple[str, str]], picked: str, fallback: str) -> Any:
    """A picker's update to ``choices`` that leaves its value alone while ``picked`` (its value
    when the event was sent) is still offered, and sets ``fallback`` when it is not. Alone, not
    set again to ``picked``: the person may have picked another since, and a reply that lands
    after their pick must not take it back."""
    if picked in {value for _, value in choices}:
        return gr.update(choices=choices)
    return gr.update(choices=choices, value=fallback)


def _status(text: str | None) -> Any:
    """The note under the model picker: shown with a text, hidden without."""
    return gr.update(value=text or "", visible=bool(text))


def _refresh_note(listing: ModelListing | None) -> str:
    if listing is None:
        return "There is no OpenAI-compatible server to ask (OPENAI_BASE_URL is not set)."
    if listing.error is not None:
        if listing.models is None:
            return listing.error
        return f"{listing.error}. Its models as listed before are kept."
    count = len(listing.models or ())
    return f"{listing.host} lists {count} model{'' if count == 1 else 's'}."


def _picker(value: str, choices: list[str] | None) -> dict[str, Any]:
    """A version picker's update: its value, and its choices when the prompt changed."""
    if choices is None:
        return gr.update(value=value)
    return gr.update(choices=choices, value=value)
