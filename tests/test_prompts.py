from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from playground.errors import ConfigError
from playground.prompts.library import load_prompt_library
from playground.server import build_app
from tests.support import live_server, make_test_services

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


VALID = """id: greeter
version: {version}
title: Greeter
node: prompt
format: v2
system: Greet {{{{name}}}}.
variables: {{name: friend}}
"""


def test_every_shipped_prompt_file_loads_without_problems() -> None:
    library = load_prompt_library(PROMPTS)
    assert library.problems == ()
    files = sorted(PROMPTS.glob("*/*.yaml"))
    assert len(library.all()) == len(files) >= 2
    assert library.default_for("prompt").node == "prompt"
    assert library.default_for("agent").node == "agent"


def test_malformed_files_are_reported_by_path_and_field_and_skipped(tmp_path: Path) -> None:
    write(tmp_path, "greeter/v1.yaml", VALID.format(version=1))
    write(tmp_path, "greeter/v2.yaml", VALID.format(version=2) + "surprise: 1\n")
    write(tmp_path, "broken/v1.yaml", "id: broken\nversion: [unclosed\n")
    write(tmp_path, "nonode/v1.yaml", "id: nonode\nversion: 1\ntitle: x\nformat: v2\nsystem: s\n")
    write(tmp_path, "misnamed/v3.yaml", VALID.format(version=1).replace("greeter", "misnamed"))
    write(tmp_path, "listy/v1.yaml", "- just\n- a list\n")
    write(
        tmp_path,
        "badschema/v1.yaml",
        VALID.format(version=1).replace("greeter", "badschema") + "output_schema: {type: objekt}\n",
    )
    library = load_prompt_library(tmp_path)
    assert [p.ref for p in library.all() if not p.id.startswith("builtin-")] == ["greeter@1"]
    problems = {
        Path(p.path).parent.name + "/" + Path(p.path).name: p.message for p in library.problems
    }
    assert "surprise" in problems["greeter/v2.yaml"]
    assert "node" in problems["nonode/v1.yaml"]
    assert "file name" in problems["misnamed/v3.yaml"]
    assert "broken/v1.yaml" in problems
    assert "mapping" in problems["listy/v1.yaml"]
    assert "output_schema" in problems["badschema/v1.yaml"]


def test_references_resolve_to_a_version_or_the_latest(tmp_path: Path) -> None:
    write(tmp_path, "greeter/v1.yaml", VALID.format(version=1))
    write(tmp_path, "greeter/v2.yaml", VALID.format(version=2))
    library = load_prompt_library(tmp_path)
    assert library.resolve("greeter@1", None).version == 1
    assert library.resolve("greeter", None).version == 2
    with pytest.raises(ConfigError, match="no version"):
        library.resolve("greeter@7", None)
    with pytest.raises(ConfigError, match="unknown prompt"):
        library.resolve("nobody@1", None)


def test_system_text_fills_variables_from_defaults_then_the_caller(tmp_path: Path) -> None:
    write(tmp_path, "greeter/v1.yaml", VALID.format(version=1))
    prompt = load_prompt_library(tmp_path).resolve("greeter@1", None)
    assert prompt.render_system() == "Greet friend."
    assert prompt.render_system({"name": "Ada"}) == "Greet Ada."


def test_a_folder_without_usable_prompts_still_gives_a_default_for_each_node(
    tmp_path: Path,
) -> None:
    write(tmp_path, "broken/v1.yaml", "id: [")
    library = load_prompt_library(tmp_path)
    assert library.default_for("prompt").id == "builtin-prompt-node"
    assert library.default_for("agent").id == "builtin-agent-node"
    assert len(library.problems) == 1


def test_published_prompt_versions_never_change() -> None:
    import hashlib

    listed = {}
    for line in (PROMPTS / "VERSIONS.sha256").read_text().splitlines():
        if line and not line.startswith("#"):
            digest, name = line.split("  ", 1)
            listed[name] = digest
    files = {str(p.relative_to(PROMPTS)): p for p in PROMPTS.glob("*/*.yaml")}
    assert set(files) == set(listed), "every version file is listed in prompts/VERSIONS.sha256"
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == listed[name], (
            f"{name} was edited after publication: add a new version instead"
        )


@pytest.mark.parametrize("version", ["١", "²", "１", "1 ", "+1", "01x", "9" * 30])
def test_a_version_is_ascii_digits_only(tmp_path: Path, version: str) -> None:
    write(tmp_path, "greeter/v1.yaml", VALID.format(version=1))
    library = load_prompt_library(tmp_path)
    with pytest.raises(ConfigError, match="no version"):
        library.resolve(f"greeter@{version}", None)
    assert library.resolve("greeter@01", None).version == 1


def test_problems_name_files_relative_to_the_prompts_folder(tmp_path: Path) -> None:
    write(tmp_path, "greeter/v1.yaml", VALID.format(version=1))
    write(tmp_path, "broken/v1.yaml", "id: [")
    problems = load_prompt_library(tmp_path).problems
    assert [p.path for p in problems] == ["broken/v1.yaml"]
    assert str(tmp_path) not in problems[0].message


def test_the_api_lists_prompt_problems_without_server_paths(tmp_path: Path) -> None:
    write(tmp_path, "greeter/v1.yaml", VALID.format(version=1))
    write(tmp_path, "broken/v1.yaml", "id: [")
    app = build_app(make_test_services(playground_prompts_dir=str(tmp_path)), warm_up=False)
    with live_server(app) as url:
        body = httpx.get(f"{url}/v1/prompts", timeout=30).text
    assert "broken/v1.yaml" in body
    assert str(tmp_path) not in body
