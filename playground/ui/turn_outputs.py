"""The Chat tab's eight turn outputs, and their values for each frame of a turn.

Values go out already postprocessed (see ``wire``), and an output that did not change is sent
again as it was: Gradio handles a ``gr.skip()`` as a property update and rebuilds the component
for it, on every frame. Gradio compares each value with the last one it sent, so a value that is
the same object costs it nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gradio.components import Component

from playground.turn.state import TurnState
from playground.ui.render import chat_view, panel_view, timing_view
from playground.ui.session import Frame, SessionState
from playground.ui.wire import wire_value

__all__ = ["TurnOutputs", "chat_value"]


def chat_value(state: SessionState) -> list[dict[str, Any]]:
    """The conversation as the Chatbot takes it, the live turn last."""
    return chat_view.chat_messages(state.shown, state.live)


@dataclass(frozen=True, slots=True)
class TurnOutputs:
    chatbot: Component
    summary: Component
    plot: Component
    gaps: Component
    table: Component
    audio_feed: Component
    structured_json: Component
    structured_status: Component

    def components(self) -> list[Component]:
        # Not ``astuple``: it deep-copies what it returns.
        return [getattr(self, field.name) for field in fields(self)]

    def initial(self, state: SessionState) -> list[Any]:
        """The outputs as the page starts: the conversation, and an empty panel."""
        return self._fresh(state, None, panel_view.structured_status(None, None))

    def render(self, state: SessionState, frame: Frame) -> tuple[Any, ...]:
        """The chat, timing panel, audio feed and structured output for one frame."""
        turn = state.current
        values = state.frame_values
        if values is None:  # the turn's first frame: a fresh panel for the new turn
            status = panel_view.structured_status(turn, None)
            state.structured_shown = (None, status)
            values = state.frame_values = self._fresh(state, turn, status)
        elif frame.chat:
            values[0] = wire_value(self.chatbot, chat_value(state))
        if frame.timing:
            values[1:5] = [
                wire_value(self.summary, panel_view.timing_summary(turn)),
                wire_value(self.plot, timing_view.arrival_html(turn)),
                wire_value(self.gaps, timing_view.gap_html(turn)),
                wire_value(self.table, timing_view.table_html(turn)),
            ]
        started = turn.started if turn is not None else None
        if turn is not None and started is not None and not state.audio_stopped:
            feed: str | None = None
            if turn.replaced and started.voice:
                # Retracted text must not go on being spoken: stop this turn's voice.
                feed = panel_view.audio_stop_feed(
                    started.turn_id, "Stopped: the text was retracted."
                )
                state.audio_stopped = True
            elif frame.new_audio:
                feed = panel_view.audio_feed(started.turn_id, turn.audio, state.audio_sent)
                state.audio_sent = len(turn.audio)
            if feed is not None:
                values[5] = state.last_feed = feed  # a Textbox's value is its wire value
        if frame.chat:
            shown = (state.structured, panel_view.structured_status(turn, state.structured))
            if shown != state.structured_shown:
                state.structured_shown = shown
                values[6:8] = [
                    wire_value(self.structured_json, panel_view.structured_value(shown[0])),
                    wire_value(self.structured_status, shown[1]),
                ]
        return tuple(values)

    def _fresh(self, state: SessionState, turn: TurnState | None, status: str) -> list[Any]:
        raw = [
            chat_value(state),
            panel_view.timing_summary(turn),
            timing_view.arrival_html(None),
            timing_view.gap_html(None),
            timing_view.table_html(None),
            state.last_feed,
            panel_view.structured_value(None),
            status,
        ]
        return list(map(wire_value, self.components(), raw))
