"""The Chat tab's voice input: the voice bar under the message box (hands-free microphone,
push-to-talk, input level, live transcript, speech engine, end-of-utterance silence) and the
waterfall of a spoken turn in the timing panel.

The audio never goes through Gradio: ``static/voice_input.js`` streams the microphone to the
``/v1/voice`` socket in ``transcribe`` mode and, when an utterance ends, puts its text in the
message box and clicks Send, so a spoken turn is a typed one (same gate, notebook, rendering,
voice). This module renders the elements the script drives, with the server's choices in data
attributes, and the few server-side pieces the script needs on the turn's frames: whether a
turn is running (``running_mark``). The audio pieces' timings ride in ``panel_view.audio_feed``;
a turn the user spoke over says so itself (``TurnState.interrupted``), and what only the page
measures goes to the notebook through ``voice_record``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from playground.providers.whisper_stt import local_stt_unavailable_reason
from playground.services import Services

__all__ = [
    "EOU_DEFAULT_MS",
    "SpeechEngine",
    "VoicePanel",
    "running_mark",
]

EOU_DEFAULT_MS = 700
EOU_RANGE_MS = (300, 2000)

MIC_ICON = (
    "<svg width='16' height='16' viewBox='0 0 24 24' aria-hidden='true'><path fill='currentColor' "
    "d='M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 "
    "6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z'/></svg>"
)
WATERFALL_EMPTY = (
    "<div class='sp-wf'><div class='sp-chart-title'>Voice waterfall</div>"
    "<div class='sp-wf-body'><p class='sp-wf-empty'>Speak a message (the microphone above) to "
    "see where every millisecond of a spoken turn goes, from the end of your speech to the "
    "first sound of the answer.</p></div></div>"
)


@dataclass(frozen=True, slots=True)
class SpeechEngine:
    id: str
    label: str
    reason: str | None  # why it cannot be used here; None when it can

    @property
    def available(self) -> bool:
        return self.reason is None


class VoicePanel:
    """Render the bar inside the Chat tab's column (``render_bar``) and the waterfall where the
    timing panel is (``render_waterfall``). Nothing to wire: the script drives both."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        # The socket listens with the server's keys: a Deepgram key pasted in the page's session
        # keys does not reach it, so only a server key makes Deepgram available.
        deepgram = (
            None
            if settings.deepgram_api_key is not None
            and settings.deepgram_api_key.get_secret_value().strip()
            else "set DEEPGRAM_API_KEY on the server"
        )
        self.engines = (
            SpeechEngine(
                "local", "Local · Whisper tiny.en (offline)", local_stt_unavailable_reason()
            ),
            SpeechEngine("deepgram", "Deepgram · streaming", deepgram),
        )

    @property
    def default_engine(self) -> SpeechEngine | None:
        return next((engine for engine in self.engines if engine.available), None)

    def render_bar(self) -> gr.HTML:
        return gr.HTML(self.bar_html(), elem_id="sp-voice-bar-box")

    def render_waterfall(self) -> gr.HTML:
        return gr.HTML(WATERFALL_EMPTY, elem_id="sp-waterfall")

    def bar_html(self) -> str:
        default = self.default_engine
        options = "".join(
            f"<option value='{e.id}'{' selected' if e is default else ''}"
            f"{'' if e.available else ' disabled'}>"
            f"{html.escape(e.label if e.available else f'{e.label} — unavailable: {e.reason}')}"
            "</option>"
            for e in self.engines
        )
        off = "" if default is not None else " disabled"
        # The closed picker may cut a long reason short: the tooltip has all of them.
        reasons = "; ".join(f"{e.label}: {e.reason}" for e in self.engines if not e.available)
        picker_title = html.escape(
            f"Who turns your speech into text. Unavailable here: {reasons}"
            if reasons
            else "Who turns your speech into text.",
            quote=True,
        )
        hint = (
            "Turn the microphone on and just talk, or hold the button while you speak: what "
            "you say is sent like a typed message, and speaking over the answer interrupts it."
            if default is not None
            else "No speech engine is available on this server: "
            + "; ".join(f"{e.label}: {e.reason}" for e in self.engines)
            + "."
        )
        low, high = EOU_RANGE_MS
        return f"""<div id='sp-voice-bar'>
<div class='sp-vb-row'>
<button type='button' id='sp-mic' class='sp-vb-btn' aria-pressed='false'{off}
 title='Hands-free: keep listening; every utterance becomes the next turn'>{MIC_ICON}
<span class='sp-vb-label'>Mic off</span></button>
<button type='button' id='sp-ptt' class='sp-vb-btn'{off}
 title='Hold to talk: speak while pressing, release to send'>Hold to talk</button>
<div class='sp-vb-meter' role='meter' aria-label='Microphone level' aria-valuemin='0'
 aria-valuemax='100' aria-valuenow='0'><i></i></div>
<div id='sp-transcript' aria-live='polite'><span class='sp-vb-hint'>{html.escape(hint)}</span></div>
</div>
<div class='sp-vb-row sp-vb-settings'>
<label>Speech engine <select id='sp-stt' title='{picker_title}'{off}>{options}</select></label>
<label>End of utterance after <input type='range' id='sp-eou' min='{low}' max='{high}'
 step='100' value='{EOU_DEFAULT_MS}'> <output id='sp-eou-value'>{EOU_DEFAULT_MS} ms</output>
 of silence</label>
<span id='sp-voice-status'>Microphone off.</span>
</div>
</div>"""


def running_mark(summary: str, turn_id: str | None, *, running: bool) -> str:
    """The timing summary with a hidden mark of whether the chat's turn is still running: what
    the voice input asks before a barge-in (speaking while a turn runs stops it)."""
    state = "running" if running else "idle"
    mark = (
        f"<span hidden class='sp-turn-mark' data-sp-turn='{state}'"
        f" data-sp-turn-id='{html.escape(turn_id or '')}'></span>"
    )
    return mark + summary
