"""Export a notebook of runs as a Jupyter notebook that reproduces each run, and "View code".

``to_ipynb`` builds an nbformat v4 notebook (a plain ``dict``; ``json.dumps`` it to save): an
explanation, a setup cell that reads keys and endpoints from the environment (nothing secret is
written into the file), and per run a markdown cell (configuration, message, the recorded
answer, tool calls and timing) and a code cell that sends the same messages with the ``openai``
SDK — streaming, printing every chunk with its milliseconds since the request was sent and the
gap to the previous one, then TTFT and total. Agent Node tool calls are answered with the
outputs the playground recorded, so the conversation continues as it did. Runs that used a
``deepgram:`` voice get a cell that speaks the answer with ``deepgram-sdk`` over the streaming
WebSocket and reports the time to the first audio byte. ``local:`` models have no public
endpoint, so those cells stream the run through this app's own API with ``httpx``.

The system prompt must be in the notebook for it to reproduce anything: it comes from
``RunConfig.system`` (recorded at run time) or from a ``resolve_prompt`` callable
(``prompt_resolver(services.prompts)``), which also supplies the prompt's default temperature,
seed and max tokens and, for the Agent Node, its tool schemas.

``view_code`` gives the same for one configuration: standalone Python and a ``curl`` command
against ``POST {app_url}/v1/interact/stream``. Every value is embedded with ``repr`` /
``shlex.quote``, never pasted raw (not even into a comment or a docstring), so no field of an
imported notebook can break out of a string literal.

This module assembles; the programs are templates in ``templates/`` filled by ``export_code``
(values embedded by ``export_templates``), the markdown is ``export_markdown``'s and the prompt
resolution ``export_prompt``'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from playground.errors import ConfigError
from playground.notebook.export_code import (
    SDK_ENGINES,
    curl_command,
    request_body,
    run_cell_source,
    setup_source,
    view_code_python,
    voice_cell_source,
)
from playground.notebook.export_markdown import intro, summary
from playground.notebook.export_prompt import (
    ExportPrompt,
    PromptResolver,
    effective,
    prompt_resolver,
)
from playground.notebook.model import Notebook, RunConfig
from playground.turn.request import HistoryMessage

__all__ = [
    "SDK_ENGINES",
    "ExportPrompt",
    "PromptResolver",
    "prompt_resolver",
    "request_body",
    "to_ipynb",
    "to_ipynb_json",
    "view_code",
]


def _check_app_url(app_url: str) -> str:
    parts = urlsplit(app_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"app_url must be an http(s) URL, got {app_url!r}", field="app_url")
    return app_url.rstrip("/")


def _markdown(cell_id: str, source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}


def _code_cell(cell_id: str, source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "id": cell_id,
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": source,
    }


def to_ipynb(
    nb: Notebook, *, app_url: str, resolve_prompt: PromptResolver | None = None
) -> dict[str, Any]:
    """The notebook as an nbformat v4 document (``json.dumps`` it to write a ``.ipynb``)."""
    app_url = _check_app_url(app_url)
    engines = {cell.config.engine for cell in nb.cells}
    setup = setup_source(
        app_url,
        sdk=bool(engines & set(SDK_ENGINES)),
        app=bool(engines - set(SDK_ENGINES)),
        deepgram=any(cell.config.voice_engine == "deepgram" for cell in nb.cells),
    )
    cells = [_markdown("intro", intro(nb, app_url)), _code_cell("setup", setup)]
    if not nb.cells:
        cells.append(_markdown("empty", "No runs yet."))
    for index, cell in enumerate(nb.cells, start=1):
        eff = effective(cell.config, resolve_prompt)
        cells.append(_markdown(f"run{index}-summary", summary(index, cell, eff)))
        cells.append(_code_cell(f"run{index}", run_cell_source(index, cell, eff)))
        if cell.config.voice_engine == "deepgram":
            cells.append(_code_cell(f"run{index}-voice", voice_cell_source(index, cell)))
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "streaming_playground": {"notebook_version": nb.version, "runs": len(nb.cells)},
        },
        "cells": cells,
    }


def to_ipynb_json(
    nb: Notebook, *, app_url: str, resolve_prompt: PromptResolver | None = None
) -> str:
    """``to_ipynb`` as the text of a ``.ipynb`` file."""
    return json.dumps(
        to_ipynb(nb, app_url=app_url, resolve_prompt=resolve_prompt), ensure_ascii=False, indent=1
    )


def view_code(
    config: RunConfig,
    message: str,
    *,
    app_url: str,
    history: Iterable[HistoryMessage] = (),
    resolve_prompt: PromptResolver | None = None,
) -> dict[str, str]:
    """``{"python": ..., "curl": ...}`` that run ``config`` with ``message``: standalone Python
    (openai SDK, plus deepgram-sdk for a Deepgram voice; this app's API for ``local:``
    models) and a curl command against ``POST {app_url}/v1/interact/stream``."""
    app_url = _check_app_url(app_url)
    history = tuple(history)
    eff = effective(config, resolve_prompt)
    return {
        "python": view_code_python(app_url, config, message, history, eff),
        "curl": curl_command(app_url, config, message, history),
    }
