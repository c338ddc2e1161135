"""The "Streaming vs complete" tab: one message sent both ways (N rounds), the two answers side
by side with their timings, the results and the diff. The runs are ``compare_session``'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from playground.errors import ConfigError
from playground.turn.gate import TurnGate
from playground.turn.runner import TurnRunner
from playground.ui.compare_session import CompareFrame, CompareSession, drive_compare
from playground.ui.composer import Composer
from playground.ui.outputs import CompareSlots
from playground.ui.render import compare_view
from playground.ui.settings_panel import SettingsPanel

__all__ = ["MAX_REPEAT", "CompareTab"]

MAX_REPEAT = 10


class CompareTab:
    """Render inside a ``gr.Tab``; ``wire`` once the composer exists."""

    def __init__(self, runner: TurnRunner, settings: SettingsPanel, gate: TurnGate) -> None:
        self.runner, self.settings, self.gate = runner, settings, gate

    def render(self) -> None:
        self.state = gr.State(CompareSession())
        gr.Markdown(compare_view.INTRO, elem_classes="sp-compare-intro")
        with gr.Row(elem_id="sp-compare-input"):
            self.message = gr.Textbox(
                placeholder="A message to send both ways",
                show_label=False,
                scale=5,
                min_width=220,
                max_lines=6,
                elem_id="sp-compare-message",
            )
            self.repeat = gr.Slider(
                1,
                MAX_REPEAT,
                value=1,
                step=1,
                label="Repeat",
                scale=2,
                min_width=150,
                elem_id="sp-compare-repeat",
            )
        with gr.Row(elem_id="sp-compare-buttons"):
            self.run = gr.Button("Run", variant="primary", min_width=80, elem_id="sp-compare-run")
            self.stop = gr.Button("Stop", variant="stop", min_width=80, elem_id="sp-compare-stop")
        with gr.Row(equal_height=True, elem_id="sp-panes"):
            streamed = gr.HTML(
                compare_view.pane_html(compare_view.STREAMED, None),
                min_width=260,
                elem_id="sp-pane-streamed",
            )
            complete = gr.HTML(
                compare_view.pane_html(compare_view.COMPLETE, None),
                min_width=260,
                elem_id="sp-pane-complete",
            )
        self.outputs = CompareSlots[Any](
            streamed=streamed,
            complete=complete,
            results=gr.HTML(compare_view.results_html(None), elem_id="sp-compare-results"),
            diff=gr.HTML(compare_view.diff_html(None), elem_id="sp-compare-diff"),
        )

    def wire(self, composer: Composer, concurrency: int) -> None:
        settings = [composer.model, composer.prompt_id, composer.version, composer.node]
        inputs = [self.message, self.state, *settings, self.repeat, *self.settings.keys]
        for trigger in (self.run.click, self.message.submit):
            trigger(
                self.on_compare,
                inputs,
                list(self.outputs.ordered()),
                # As ``/turn`` (see there): no per-input and per-output worker-thread hops.
                preprocess=False,
                postprocess=False,
                concurrency_limit=concurrency,
                concurrency_id="compare",
                show_progress="hidden",
                api_visibility="private",
            )
        self.stop.click(self.on_stop, [self.state], None, queue=False, api_visibility="private")

    async def on_compare(
        self,
        message: str,
        state: CompareSession,
        model: str,
        prompt: str,
        version: str,
        node: str,
        repeat: float,
        openai_api_key: str,
        azure_openai_api_key: str,
        deepgram_api_key: str,
        access_token: str,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        if isinstance(message, str) and not message.strip():
            return
        rounds = max(1, min(MAX_REPEAT, int(repeat))) if isinstance(repeat, int | float) else 1
        try:
            turn_request = Composer.request(
                message, model=model, prompt=prompt, version=version, node=node, voice="none"
            )
        except ConfigError as exc:
            shown = message if isinstance(message, str) else "(not a text)"
            yield self.render_frame(state, state.refuse(shown, rounds, exc)).ordered()
            return
        creds = self.settings.credentials(
            openai_api_key, azure_openai_api_key, deepgram_api_key, access_token
        )
        frames = drive_compare(
            self.runner,
            state,
            turn_request,
            creds,
            repeat=rounds,
            gate=self.gate,
            client=self.settings.client_of(request),
        )
        async for frame in frames:
            yield self.render_frame(state, frame).ordered()

    @staticmethod
    def render_frame(state: CompareSession, frame: CompareFrame) -> CompareSlots[str]:
        """The comparison's panes, results and diff; unchanged ones are sent again as they
        were (HTML is its own wire value, see ``wire``)."""
        run, first = state.run, state.shown is None
        if state.shown is None:
            state.shown = CompareSlots(streamed="", complete="", results="", diff="")
        shown = state.shown
        if first or frame.panes or frame.final:
            shown.streamed = compare_view.pane_html(compare_view.STREAMED, run)
            shown.complete = compare_view.pane_html(compare_view.COMPLETE, run)
        if first or frame.results or frame.final:
            shown.results = compare_view.results_html(run)
            shown.diff = compare_view.diff_html(run)
        return shown

    async def on_stop(self, state: CompareSession) -> None:
        state.stop()
