"""The arena's rendering: panes escape model text, the chart has one line per column that has
text, and the similarity of finished answers with the diff against the least similar one."""

from __future__ import annotations

from playground.providers.base import Usage
from playground.turn.events import TextChunk, TimingSummary, TurnCompleted, TurnStarted
from playground.turn.state import TurnState
from playground.ui.render import arena_view


def answered(text: str) -> TurnState:
    state = TurnState()
    state.handle(TurnStarted("turn_x", "openai:gpt-4o-mini", "p@1", "prompt", True, None, ()))
    state.handle(TextChunk(text, text, 0, 120.0, 120.0))
    timing = TimingSummary(120.0, None, 1, 150.0, len(text), 10.0, 5.0)
    state.handle(TurnCompleted(text, "stop", Usage(5, 3, 8), timing))
    return state


def test_a_pane_escapes_the_answer_and_says_where_the_column_is() -> None:
    pane = arena_view.pane_html(0, "a <b>label</b>", answered("<script>x</script> hi"))
    assert "<script>" not in pane and "&lt;script&gt;" in pane
    assert "a &lt;b&gt;label&lt;/b&gt;" in pane and "done" in pane
    assert "ready" in arena_view.pane_html(1, "b", None)


def test_the_chart_draws_a_line_per_column_with_text() -> None:
    svg = arena_view.chart_svg(["a", "b", "c"], [answered("one"), None, answered("three")])
    assert svg.count("<polyline") == 2
    assert "data-column='3'" in svg


def test_similarity_compares_finished_answers_and_diffs_the_least_similar() -> None:
    states = [answered("the cat sat"), answered("the cat sat"), answered("a dog ran")]
    shown = arena_view.similarity_html(states)
    assert "100%" in shown  # columns 1 and 2
    assert "Column 1 against column 3" in shown
    assert "<del>" in shown and "<ins>" in shown
    assert arena_view.similarity_html([answered("alone"), TurnState()]) == ""
