"""The editor's form read from and written into the editor's YAML (the one source)."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import yaml

from playground.errors import ConfigError
from playground.prompts.editor_form import (
    FormValues,
    error_group,
    form_values,
    unreadable,
    with_field,
    with_form,
)
from playground.prompts.library import ExitPath, PromptDefaults, PromptFile
from playground.prompts.workbench import editor_text, parse_editor

BASE = PromptFile(
    id="support",
    version=3,
    title="Support",
    node="agent",
    format="v2",
    description="Answers support questions",
    system="You help {{customer}} with {{product}}.\nBe brief.",
    variables={"customer": "a customer"},
    tools=("calculator",),
    output_schema={"type": "object", "properties": {"answer": {"type": "string"}}},
    exit_paths=(ExitPath(name="done", description="answered", required_fields=("answer",)),),
    defaults=PromptDefaults(temperature=0.3, max_tokens=200, stop=("\nUser:",)),
)


def test_the_form_shows_every_field_of_the_text() -> None:
    form = form_values(editor_text(BASE))
    assert form is not None
    assert (form.title, form.node, form.format) == ("Support", "agent", "v2")
    assert form.description == "Answers support questions"
    assert form.system == BASE.system
    assert form.variables == "customer: a customer"
    assert '"answer"' in form.output_schema
    assert yaml.safe_load(form.exit_paths)[0]["required_fields"] == ["answer"]
    assert (form.temperature, form.top_p, form.max_tokens, form.seed) == ("0.3", "", "200", "")
    assert form.stop == "\\nUser:"


def test_an_unreadable_text_leaves_the_form_as_it_is() -> None:
    assert form_values("title: [unclosed") is None
    assert form_values("just words") is None


@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("title", "Support, kinder", lambda p: p.title == "Support, kinder"),
        ("description", "", lambda p: p.description == ""),
        ("node", "prompt", lambda p: p.node == "prompt"),
        ("format", "v1", lambda p: p.format == "v1"),
        ("system", "Hello {{who}}", lambda p: p.system == "Hello {{who}}"),
        (
            "variables",
            "customer: Ada\nproduct: 'the app'",
            lambda p: p.variables["product"] == "the app",
        ),
        ("output_schema", "", lambda p: p.output_schema is None),
        (
            "exit_paths",
            "- name: stop\n  description: no more",
            lambda p: p.exit_paths[0].name == "stop",
        ),
        ("temperature", "1.1", lambda p: p.defaults.temperature == 1.1),
        ("max_tokens", "", lambda p: p.defaults.max_tokens is None),
        ("seed", "7", lambda p: p.defaults.seed == 7),
        ("stop", "END\n\\n\\n", lambda p: p.defaults.stop == ("END", "\n\n")),
    ],
)
def test_a_field_changed_in_the_form_is_written_into_the_text(
    name: str, value: object, check: object
) -> None:
    text = with_field(editor_text(BASE), name, value)
    draft = parse_editor(text, BASE)
    assert draft.changed
    assert check(draft.prompt)  # type: ignore[operator]
    # Everything else is as it was.
    assert draft.prompt.tools == BASE.tools
    assert draft.prompt.id == "support"


def test_a_value_the_form_cannot_read_is_refused_naming_its_field() -> None:
    text = editor_text(BASE)
    with pytest.raises(ConfigError, match="not JSON") as bad_json:
        with_field(text, "output_schema", '{"type": ')
    assert bad_json.value.field == "output_schema"
    with pytest.raises(ConfigError, match="object"):
        with_field(text, "output_schema", "[1, 2]")
    with pytest.raises(ConfigError, match="a list") as exits:
        with_field(text, "exit_paths", "name: done")
    assert exits.value.field == "exit_paths"
    with pytest.raises(ConfigError, match="whole number") as seed:
        with_field(text, "seed", "1.5")
    assert seed.value.field == "defaults"
    with pytest.raises(ConfigError, match="a number"):
        with_field(text, "temperature", "warm")
    with pytest.raises(ConfigError, match="a number"):
        with_field(text, "temperature", "nan")
    with pytest.raises(ConfigError, match="fix it there first"):
        with_field("title: [unclosed", "title", "x")


def test_a_valid_value_that_breaks_the_prompt_is_written_for_the_text_to_report() -> None:
    # A schema that parses as JSON but is not a JSON schema: the text reports it, naming it.
    text = with_field(editor_text(BASE), "output_schema", '{"type": "nonsense"}')
    assert "nonsense" in text
    with pytest.raises(ConfigError) as error:
        parse_editor(text, BASE)
    assert error_group(error.value.field) == "output_schema"
    # The field order of the file is kept, so the text still reads as a prompt file does.
    assert list(yaml.safe_load(text))[:3] == ["id", "title", "node"]


def test_errors_are_placed_next_to_their_field() -> None:
    assert error_group("prompt_draft.defaults.temperature") == "defaults"
    assert error_group("prompt_draft.exit_paths.0.name") == "exit_paths"
    assert error_group("prompt_draft.system") == "system"
    assert error_group("prompt_draft") is None
    assert error_group(None) is None


def test_the_whole_form_is_written_so_a_field_changed_just_before_is_not_lost() -> None:
    text = editor_text(BASE)
    form = asdict(form_values(text) or FormValues())
    # The variables were changed in the form, but the text has not caught up with them yet
    # when the temperature changes: both end up in the text.
    form["variables"] = "customer: Ada"
    form["temperature"] = "0.9"
    prompt = parse_editor(with_form(text, form, "temperature"), BASE).prompt
    assert (prompt.variables, prompt.defaults.temperature) == ({"customer": "Ada"}, 0.9)
    # A value the form cannot read leaves its field as the text has it, and says why.
    form["output_schema"] = '{"type": '
    prompt = parse_editor(with_form(text, form, "title"), BASE).prompt
    assert prompt.output_schema == BASE.output_schema
    assert unreadable(form) == {"output_schema": unreadable(form)["output_schema"]}
    assert "not JSON" in unreadable(form)["output_schema"]
    with pytest.raises(ConfigError) as bad_text:
        with_form("title: [unclosed", form, "seed")
    assert bad_text.value.field == "defaults"
