"""Promises the repository makes about itself: deployable as a Space, settings, entry point."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from playground.settings import Settings
from tests.support import make_settings

ROOT = Path(__file__).resolve().parent.parent


def requirement_names(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower()
            out[name] = line
    return out


def test_space_requirements_match_the_package_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from_pyproject = requirement_names(project["dependencies"])
    from_space = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert from_space == from_pyproject


def test_readme_has_space_front_matter_and_exactly_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    front = readme.split("---")[1]
    for key in ("sdk: gradio", "app_file: app.py", "python_version:", "sdk_version:"):
        assert key in front
    import gradio

    assert f"sdk_version: {gradio.__version__}" in front
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    assert "bash scripts/test.sh" in readme
    assert "python app.py" in readme


def test_app_py_is_a_few_lines() -> None:
    assert len((ROOT / "app.py").read_text().splitlines()) <= 10


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({}, "127.0.0.1"),
        ({"space_id": "me/playground"}, "0.0.0.0"),
        ({"space_id": "x", "gradio_server_name": "10.0.0.5"}, "10.0.0.5"),
    ],
)
def test_the_server_binds_to_loopback_locally_and_all_interfaces_on_a_space(
    env: dict[str, str], host: str
) -> None:
    assert make_settings(**env).server_host == host


def test_keys_never_appear_in_the_settings_repr() -> None:
    settings = make_settings(openai_api_key="sk-secret-1", deepgram_api_key="dg-secret-2")
    assert "sk-secret-1" not in repr(settings) and "dg-secret-2" not in str(settings)


def test_settings_read_the_contract_variables_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PLAYGROUND_COMPATIBLE_MODELS", "llama3.2, qwen2.5")
    monkeypatch.setenv("DEEPGRAM_API_KEY", " ")
    settings = Settings(_env_file=None)
    assert settings.openai_base_url == "http://127.0.0.1:9/v1"
    assert settings.playground_compatible_models == ("llama3.2", "qwen2.5")
    assert settings.deepgram_api_key is None, "a blank key counts as unset"
