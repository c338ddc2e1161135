"""The Chat tab's eight turn outputs, and their values for each frame of a turn.

Values go out already postprocessed (see ``wire``), and an output that did not change is sent
again as it was: Gradio handles a ``gr.skip()`` as a property update and rebuilds the component
for it, on every frame. Gradio compares each value with the last one it sent, so a value that is
the same object costs it nothing. The outputs are addressed by name (``outputs.TurnSlots``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from gradio.components import Component

from playground.turn.state import TurnState
from playground.ui.outputs import TurnSlots
from playground.ui.render import chat_view, panel_view, timing_view
from playground.ui.session import Frame, SessionState
from playground.ui.wire import wire_value

__all__ = ["TurnOutputs", "chat_value"]


def chat_value(state: SessionState) -> list[dict[str, Any]]:
    """The conversation as the Chatbot takes it, the live turn last."""
    return chat_view.chat_messages(state.shown, state.live)


class TurnOutputs:
    """The turn's components (``slots``) and the values each frame sends them."""

    def __init__(self, slots: TurnSlots[Component]) -> None:
        self.slots = slots

    def components(self) -> list[Component]:
        return list(self.slots.ordered())

    def initial(self, state: SessionState) -> TurnSlots[Any]:
        """The outputs as the page starts: the conversation, and an empty panel."""
        return self._fresh(state, None, panel_view.structured_status(None, None))

    def render(self, state: SessionState, frame: Frame) -> TurnSlots[Any]:
        """The chat, timing panel, audio feed and structured output for one frame (the
        session's own values: copy them before changing one for a single frame)."""
        c, turn = self.slots, state.current
        values = state.frame_values
        if values is None:  # the turn's first frame: a fresh panel for the new turn
            status = panel_view.structured_status(turn, None)
            state.structured_shown = (None, status)
            values = state.frame_values = self._fresh(state, turn, status)
        elif frame.chat:
            values.chatbot = wire_value(c.chatbot, chat_value(state))
        if frame.timing:
            values.summary = wire_value(c.summary, panel_view.timing_summary(turn))
            values.plot = wire_value(c.plot, timing_view.arrival_html(turn))
            values.gaps = wire_value(c.gaps, timing_view.gap_html(turn))
            values.table = wire_value(c.table, timing_view.table_html(turn))
        started = turn.started if turn is not None else None
        if turn is not None and started is not None and not state.audio_stopped:
            feed: str | None = None
            if turn.replaced and started.voice:
                # Retracted text must not go on being spoken: stop this turn's voice.
                reason = "Stopped: the text was retracted."
                feed = panel_view.audio_stop_feed(started.turn_id, reason)
                state.audio_stopped = True
            elif frame.new_audio:
                start = panel_view.feed_start(state.audio_sent)
                feed = panel_view.audio_feed(started.turn_id, turn.audio, start)
                state.audio_sent = len(turn.audio)
            if feed is not None:
                values.audio_feed = state.last_feed = feed  # a Textbox's value is its wire value
        if frame.chat:
            shown = (state.structured, panel_view.structured_status(turn, state.structured))
            if shown != state.structured_shown:
                state.structured_shown = shown
                values.structured_json = wire_value(
                    c.structured_json, panel_view.structured_value(shown[0])
                )
                values.structured_status = wire_value(c.structured_status, shown[1])
        return values

    def _fresh(self, state: SessionState, turn: TurnState | None, status: str) -> TurnSlots[Any]:
        raw = TurnSlots[Any](
            chatbot=chat_value(state),
            summary=panel_view.timing_summary(turn),
            plot=timing_view.arrival_html(None),
            gaps=timing_view.gap_html(None),
            table=timing_view.table_html(None),
            audio_feed=state.last_feed,
            structured_json=panel_view.structured_value(None),
            structured_status=status,
        )
        return TurnSlots[Any](
            **{
                f.name: wire_value(getattr(self.slots, f.name), getattr(raw, f.name))
                for f in fields(raw)
            }
        )
