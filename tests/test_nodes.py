from __future__ import annotations

from playground.agent.nodes import ToolCallBuffer
from playground.providers.base import ToolCallFragment


def frag(
    index: int, arguments: str = "", call_id: str | None = None, name: str | None = None
) -> ToolCallFragment:
    return ToolCallFragment(index=index, at=1.0, call_id=call_id, name=name, arguments=arguments)


def test_a_call_is_released_only_when_a_later_call_starts_or_the_stream_ends() -> None:
    buf = ToolCallBuffer()
    assert buf.add(frag(0, call_id="a", name="calculator")) == []
    assert buf.add(frag(0, '{"expres')) == []
    assert buf.add(frag(0, 'sion": "1+')) == []
    assert buf.add(frag(0, '1"}')) == []
    released = buf.add(frag(1, call_id="b", name="current_time"))
    assert [c.call_id for c in released] == ["a"]
    assert released[0].arguments == {"expression": "1+1"}
    assert buf.add(frag(1, "{}")) == []
    last = buf.finish()
    assert [(c.call_id, c.arguments) for c in last] == [("b", {})]
    assert buf.finish() == []


def test_fragments_split_inside_escapes_and_unicode_join_correctly() -> None:
    text = '{"note": "caf\\u00e9 \\"quoted\\" \\\\ end"}'
    buf = ToolCallBuffer()
    buf.add(frag(0, call_id="x", name="echo"))
    for i in range(len(text)):
        buf.add(frag(0, text[i]))
    (call,) = buf.finish()
    assert call.arguments == {"note": 'café "quoted" \\ end'}
    assert call.error is None


def test_malformed_arguments_become_an_error_not_an_exception() -> None:
    buf = ToolCallBuffer()
    buf.add(frag(0, '{"a": 1', call_id="x", name="calculator"))
    (first,) = buf.add(frag(1, "[1, 2]", call_id="y", name="calculator"))
    (second,) = buf.finish()
    assert first.error is not None and "not valid JSON" in first.error
    assert second.error == "arguments must be a JSON object"
    assert first.raw_arguments == '{"a": 1'
