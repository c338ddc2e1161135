"""The package's shape, enforced: imports point down (page/API -> turn engine -> node ->
provider), vendor SDKs stay inside ``providers/``, Gradio stays inside ``ui/`` (and the server
that mounts it), and the process is offline before Gradio or the hub is imported.

Imports are read from the source with ``ast`` (every ``import``/``from`` anywhere in a module,
including the ones inside functions), so a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "playground"
VENDOR_SDKS = ("openai", "deepgram", "llama_cpp", "piper")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offenders(where: str, forbidden: tuple[str, ...]) -> list[str]:
    """``module -> import`` for modules under ``where`` importing anything under ``forbidden``."""
    bad = []
    for name, path in modules().items():
        if not (name == where or name.startswith(where + ".")):
            continue
        for imported in sorted(imports_of(path)):
            if any(imported == f or imported.startswith(f + ".") for f in forbidden):
                bad.append(f"{name} -> {imported}")
    return bad


def test_the_module_listing_sees_the_packages() -> None:
    names = modules()
    assert {"playground.turn.runner", "playground.ui.app", "playground.server"} <= set(names)
    assert "gradio" in imports_of(names["playground.ui.app"])


def test_vendor_sdks_are_imported_only_by_providers() -> None:
    bad = [
        line
        for line in offenders("playground", VENDOR_SDKS)
        if not line.startswith("playground.providers.")
    ]
    assert bad == []


def test_only_the_page_and_the_server_that_mounts_it_import_gradio() -> None:
    bad = [
        line
        for line in offenders("playground", ("gradio", "gradio_client"))
        if not line.startswith(("playground.ui.", "playground.server "))
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("layer", "above"),
    [
        (
            "playground.turn",
            ("playground.api", "playground.ui", "playground.server", "playground.evals"),
        ),
        ("playground.evals", ("playground.api", "playground.ui", "playground.server")),
        ("playground.agent", ("playground.api", "playground.ui", "playground.turn")),
        ("playground.checks", ("playground.api", "playground.ui", "playground.turn")),
        ("playground.speech", ("playground.api", "playground.ui", "playground.turn")),
        ("playground.providers", ("playground.api", "playground.ui", "playground.turn")),
        ("playground.pricing", ("playground.api", "playground.ui", "playground.turn")),
        ("playground.notebook", ("playground.api", "playground.ui")),
        ("playground.prompts", ("playground.api", "playground.ui", "playground.turn")),
        ("playground.api", ("playground.ui",)),
    ],
)
def test_imports_point_down(layer: str, above: tuple[str, ...]) -> None:
    assert offenders(layer, above) == []


def test_the_process_is_offline_before_gradio_or_the_hub_is_imported() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "DO_NOT_TRACK"}}
    env.pop("GRADIO_ANALYTICS_ENABLED", None)
    probe = (
        "import playground.server, huggingface_hub.constants as c, gradio.utils as g, os;"
        "print(c.HF_HUB_OFFLINE, os.environ['GRADIO_ANALYTICS_ENABLED'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "False"]
