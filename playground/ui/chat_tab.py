"""The Chat tab: the conversation, the message box with Send, Stop and Clear, the voice bar,
the structured output and the timing panel. Its Send is the page's public ``/turn`` endpoint.

The turn itself runs in ``session.drive_turn``; this tab turns its frames into outputs
(``TurnOutputs``) and, when the notebook is on, shows the finished run's cell there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from playground.errors import ConfigError
from playground.services import Services
from playground.ui.composer import Composer
from playground.ui.live_turns import LiveTurns
from playground.ui.notebook_files import owner_of
from playground.ui.outputs import TurnSlots
from playground.ui.render import notebook_view, panel_view, timing_view
from playground.ui.session import SessionState, drive_turn, refused
from playground.ui.settings_panel import SettingsPanel
from playground.ui.turn_outputs import TurnOutputs, chat_value
from playground.ui.voice_panel import VoicePanel, running_mark
from playground.ui.voice_record import VoiceRecord
from playground.ui.wire import wire_value

if TYPE_CHECKING:
    from playground.ui.notebook_tab import NotebookSession, NotebookTab

__all__ = ["UI_CONCURRENCY", "ChatSession", "ChatTab", "chat_cell_of"]

UI_CONCURRENCY = 64
LOADING_NOTE = "Loading the offline model (first run only, about a second)…"
# Runs in the page as Send dispatches the turn, after its inputs were read: empties the message
# box at once. (An output of the turn itself would cost Gradio a component rebuild per frame.)
CLEAR_BOX = """(...inputs) => {
  const box = document.querySelector('#sp-message textarea');
  if (box) { box.value = ''; box.dispatchEvent(new Event('input', { bubbles: true })); }
  return inputs;
}"""
SPEAKER_ICON = (
    "<svg width='16' height='16' viewBox='0 0 24 24' aria-hidden='true'><path fill='currentColor' "
    "d='M3 10v4h4l5 5V5L7 10H3zm13.5 2A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z'/></svg>"
)
AUDIO_BAR = f"""<div id='sp-audio-bar'>{SPEAKER_ICON}<span id='sp-audio-status'>
Voice output plays here as sentences complete.</span>
<button type='button' id='sp-mute'
 onclick='this.textContent = window.spAudio.toggleMute() ? "Unmute" : "Mute"'>Mute</button>
</div>"""
_STOP_AUDIO = "() => { window.spAudio && window.spAudio.stop(); }"
_UNLOCK_AUDIO = "() => { window.spAudio && window.spAudio.unlock(); }"


@dataclass
class ChatSession(SessionState):
    """The chat's session: a ``SessionState`` that also remembers the timing summary it last
    marked for the voice input (see ``ChatTab.voice_marks``): resent as it is, it costs Gradio
    nothing; a new object each frame would."""

    marked_summary: Any = field(default=None, repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> ChatSession:
        return ChatSession(history=list(self.history), shown=list(self.shown), owner=self.owner)


def chat_cell_of(stored: Any) -> str | None:
    """The cell the chat continues, from the browser's stored value."""
    chat = stored.get("chat") if isinstance(stored, dict) else None
    return chat if isinstance(chat, str) else None


class ChatTab:
    """Render inside a ``gr.Tab``; ``wire`` once the settings panel and notebook exist."""

    def __init__(self, services: Services, live_turns: LiveTurns, settings: SettingsPanel) -> None:
        self.services, self.live_turns, self.settings = services, live_turns, settings
        self.voice_panel = VoicePanel(services)
        notebooks = services.notebooks
        self.voice_record = VoiceRecord(notebooks) if notebooks is not None else None

    def render(self) -> None:
        default_prompt = self.settings.default_prompt
        self.session = gr.State(ChatSession())
        self.chatbot = gr.Chatbot(
            label="Conversation",
            height=440,
            elem_id="sp-chat",
            placeholder="**Ask anything.** The answer streams in here, chunk by chunk.",
            buttons=["copy", "copy_all"],
            feedback_options=None,
        )
        with gr.Row(elem_id="sp-input-row"):
            self.message = gr.Textbox(
                placeholder="Type a message and press Enter",
                show_label=False,
                scale=6,
                autofocus=True,
                elem_id="sp-message",
                max_lines=6,
            )
            self.send = gr.Button(
                "Send", variant="primary", scale=1, min_width=80, elem_id="sp-send"
            )
            self.stop = gr.Button("Stop", variant="stop", scale=1, min_width=80, elem_id="sp-stop")
            self.clear = gr.Button("Clear", scale=1, min_width=80, elem_id="sp-clear")
        self.voice_panel.render_bar()
        gr.HTML(AUDIO_BAR)
        # Clicked by the voice input when the user speaks over the answer: Stop, saying why.
        self.interrupt = gr.Button(visible="hidden", elem_id="sp-interrupt")
        # Filled and clicked by the voice input with a spoken turn's waterfall, for its cell.
        self.voice_report = gr.Textbox(visible="hidden", elem_id="sp-voice-report")
        self.voice_report_send = gr.Button(visible="hidden", elem_id="sp-voice-report-send")
        # The id of the latest turn whose cell the after-turn step has shown: the voice input
        # sends a turn's waterfall once it is here (``static/voice_input.js``, ``report``).
        self.turn_recorded = gr.Textbox(visible="hidden", elem_id="sp-turn-recorded")
        self.audio_feed = audio_feed = gr.Textbox(visible="hidden", elem_id="sp-audio-feed")
        with gr.Column(
            visible=default_prompt.output_schema is not None, elem_id="sp-structured"
        ) as self.structured_box:
            structured_json = gr.JSON(
                None,
                label="Structured output",
                open=True,
                max_height=320,
                elem_id="sp-structured-json",
            )
            structured_status = gr.HTML(
                panel_view.structured_status(None, None), elem_id="sp-structured-status"
            )
        # Drawn as HTML, not with Gradio's plot and table components: see ``timing_view`` (they
        # held the chat's text back while they re-rendered).
        self.outputs = TurnOutputs(
            TurnSlots(
                chatbot=self.chatbot,
                summary=self._summary_box(),
                plot=gr.HTML(timing_view.arrival_html(None), elem_id="sp-plot"),
                gaps=gr.HTML(timing_view.gap_html(None), elem_id="sp-gaps"),
                table=gr.HTML(timing_view.table_html(None), elem_id="sp-table"),
                audio_feed=audio_feed,
                structured_json=structured_json,
                structured_status=structured_status,
            )
        )

    def wire(
        self, composer: Composer, browser: gr.BrowserState, notebook: NotebookTab | None
    ) -> None:
        turn_outputs = self.outputs.components()
        turn_inputs = [self.message, self.session, *composer.controls(), *self.settings.keys]
        # Send is the page's one public endpoint ("/turn", for gradio_client); Enter runs the same
        # function privately. Stop, Clear and the capability events stay private.
        for trigger, api in ((self.send.click, "turn"), (self.message.submit, None)):
            trigger(fn=None, js=_UNLOCK_AUDIO)
            sent = trigger(
                self.on_send,
                turn_inputs,
                turn_outputs,
                js=CLEAR_BOX,
                # The inputs are plain strings and booleans, checked again by ``TurnRequest``
                # and the runner; Gradio's per-input preprocessing (a worker-thread round trip
                # each, fifteen of them) delayed every turn's start. Its postprocessing did the
                # same to every frame: ``render`` sends the outputs already postprocessed.
                preprocess=False,
                postprocess=False,
                concurrency_limit=UI_CONCURRENCY,
                concurrency_id="turn",
                show_progress="hidden",
                api_name=api,
                api_visibility="public" if api else "private",
            )
            if notebook is not None:
                sent.then(
                    self.after_turn,
                    [self.session, notebook.state, browser],
                    [browser, notebook.cells, self.turn_recorded],
                    api_visibility="private",
                )
        self.stop.click(fn=None, js=_STOP_AUDIO)
        # The voice input has already silenced the player (it measures how fast).
        interrupted = self.interrupt.click(
            self.on_interrupt,
            [self.session],
            [self.chatbot],
            queue=False,
            api_visibility="private",
        )
        if notebook is not None and (record := self.voice_record) is not None:
            interrupted.then(
                record.on_interrupted,
                [self.session, notebook.state],
                [notebook.cells],
                api_visibility="private",
                show_progress="hidden",
            )
            self.voice_report_send.click(
                record.on_report,
                [self.session, notebook.state, self.voice_report],
                [notebook.cells],
                api_visibility="private",
                show_progress="hidden",
                # A waterfall reported twice in a moment (partial, then whole at playback):
                # the second runs after the first instead of being dropped ("once").
                trigger_mode="always_last",
            )
        self.stop.click(
            self.on_stop, [self.session], [self.chatbot], queue=False, api_visibility="private"
        )
        self.clear.click(fn=None, js=_STOP_AUDIO)
        self.clear.click(
            self.on_clear,
            [self.session],
            turn_outputs,
            postprocess=False,  # ``TurnOutputs`` values are already postprocessed
            queue=False,
            api_visibility="private",
        )
        self.clear.click(
            self.forget_chat, [browser], [browser], queue=False, api_visibility="private"
        )
        self.audio_feed.change(
            fn=None,
            inputs=[self.audio_feed],
            js="(v) => { window.spAudio && window.spAudio.feed(v); }",
        )

    # One parameter per input: they are the named arguments of the public "/turn" endpoint.
    async def on_send(
        self,
        message: str,
        state: SessionState,
        model: str,
        prompt: str,
        version: str,
        node: str,
        streaming: bool,
        voice: str,
        guardrails: bool,
        interception: bool,
        post_processing: bool,
        streaming_guardrail: bool,
        # As typed in the Parameters boxes (text), or numbers from a script; blank: defaults.
        temperature: str | float | None = None,
        top_p: str | float | None = None,
        max_tokens: str | int | None = None,
        seed: str | int | None = None,
        stop: str | None = None,
        variables: str | None = None,
        reasoning_effort: str | None = None,
        prompt_draft: str | None = None,
        draft_base: str | None = None,
        openai_api_key: str | None = None,
        azure_openai_api_key: str | None = None,
        deepgram_api_key: str | None = None,
        access_token: str | None = None,
        request: gr.Request | None = None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        # ``/turn`` takes its inputs as sent (no Gradio preprocessing): a script may send any
        # JSON. A wrong type is answered in the chat, naming the field, never a traceback.
        inputs = locals()
        wrong = next((name for name in _TEXT_INPUTS if not _is_text(inputs[name])), None)
        wrong = wrong or next((n for n in _FLAG_INPUTS if not isinstance(inputs[n], bool)), None)
        if wrong is None and not (message or "").strip():
            return
        try:
            if wrong is not None:
                raise ConfigError(f"{wrong}: not a value the page sends", field=wrong)
            turn_request = Composer.compose(
                self.settings.prompts,
                message,
                model=model,
                prompt=prompt,
                version=version,
                node=node,
                streaming=streaming,
                voice=voice,
                history=state.history,
                features={name: inputs[name] for name in _FEATURE_INPUTS},
                parameters=tuple(inputs[name] for name in _PARAMETER_INPUTS),
                draft_text=prompt_draft,
                draft_base=draft_base,
            )
        except ConfigError as exc:
            shown = message if isinstance(message, str) else "(not a text)"
            frame = refused(state, state.begin(shown), exc)
            yield self.outputs.render(state, frame).ordered()
            return
        creds = self.settings.credentials(
            openai_api_key, azure_openai_api_key, deepgram_api_key, access_token
        )
        loading = model.startswith("local:") and not self.services.engines.local_model.loaded
        summary = self.outputs.slots.summary
        # No frame before the turn has started: the upstream request goes out first.
        client = self.settings.client_of(request)
        started = time.monotonic()  # drive_turn's own start, within microseconds
        async for frame in drive_turn(self.live_turns, state, turn_request, creds, client=client):
            fed = state.audio_sent
            values = self.outputs.render(state, frame)
            self.voice_marks(state, values, fed, started)
            # A turn waiting in line says so instead: someone else's turn is using the model.
            if loading and not (state.current and (state.current.chunks or state.current.queued)):
                loading_note = panel_view.loading_summary(LOADING_NOTE)
                note = wire_value(summary, running_mark(loading_note, None, running=True))
                values = dataclasses.replace(values, summary=note)
            yield values.ordered()

    # Stop and Clear are cooperative (see ``session``): they tell the running turn's driver,
    # which closes the run and sends the last frame; the Gradio event is not cancelled.
    async def on_stop(self, state: SessionState) -> list[dict[str, Any]]:
        state.stop()
        return chat_value(state)

    async def on_interrupt(self, state: SessionState) -> list[dict[str, Any]]:
        """Stop, as Stop does, for the voice input: the user spoke over the answer. The turn
        (running, or finished but still being spoken) says "interrupted" in the chat."""
        state.interrupt()
        return chat_value(state)

    def voice_marks(
        self, state: SessionState, values: TurnSlots[Any], fed: int, started: float
    ) -> None:
        """What the voice input needs on a turn's frame (``values``, changed in place): the new
        audio pieces with their timings (``fed``: pieces sent before this frame; ``started``:
        the turn's start on the monotonic clock), whether the turn runs, and the interrupted
        turns' notes."""
        turn = state.current
        turn_id = turn.started.turn_id if turn is not None and turn.started is not None else None
        if turn is not None and turn_id is not None and state.audio_sent > fed:
            sent_ms = (time.monotonic() - started) * 1000
            feed = panel_view.audio_feed(turn_id, turn.audio, panel_view.feed_start(fed), sent_ms)
            values.audio_feed = state.last_feed = feed
        if isinstance(state, ChatSession) and values.summary is not state.marked_summary:
            summary = running_mark(values.summary, turn_id, running=state.live is not None)
            values.summary = state.marked_summary = summary

    def _summary_box(self) -> gr.HTML:
        summary = gr.HTML(panel_view.timing_summary(None), elem_id="sp-summary")
        # Right under the summary: a spoken turn's stages, drawn by the voice input.
        self.voice_panel.render_waterfall()
        return summary

    async def on_clear(self, state: SessionState) -> tuple[Any, ...]:
        state.clear()
        self.live_turns.forget_chat(state.owner)
        state.structured_shown = None
        return self.outputs.initial(state).ordered()

    async def after_turn(
        self, state: SessionState, nbs: NotebookSession, stored: Any
    ) -> tuple[Any, Any, Any]:
        """Show the finished run's cell and remember it as where the chat continues."""
        live, notebooks = state.last_run, self.services.notebooks
        if live is None or notebooks is None or nbs.owner is None:
            return gr.skip(), gr.skip(), gr.skip()
        cell = await live.recorded()
        async with state.notebook_lock:
            if state.cell_changes and live.is_recorded and self.voice_record is not None:
                # What the voice input reported before the cell existed (``voice_record``).
                changes, state.cell_changes = state.cell_changes, []
                nb = await self.voice_record.apply(nbs.owner, changes)
            else:  # as stored now: a report since the cell was recorded is in it
                nb = await notebooks.load(nbs.owner)
        chat = cell.id if cell is not None else chat_cell_of(stored)
        return (
            {"owner": nbs.owner, "chat": chat},
            notebook_view.notebook_html(nb, pending_pin=nbs.pending_pin),
            live.turn_id,
        )

    def forget_chat(self, stored: Any) -> Any:
        owner = owner_of(stored)
        return {"owner": owner, "chat": None} if owner else gr.skip()


_TEXT_INPUTS = (
    "message",
    "stop",
    "variables",
    "reasoning_effort",
    "prompt_draft",
    "model",
    "prompt",
    "version",
    "node",
    "voice",
    "openai_api_key",
    "azure_openai_api_key",
    "deepgram_api_key",
    "access_token",
)
_FEATURE_INPUTS = ("guardrails", "interception", "post_processing", "streaming_guardrail")
_FLAG_INPUTS = ("streaming", *_FEATURE_INPUTS)
# In the order ``read_parameters`` takes them.
_PARAMETER_INPUTS = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
    "variables",
    "reasoning_effort",
)


def _is_text(value: object) -> bool:
    return value is None or isinstance(value, str)
