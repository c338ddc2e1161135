"""The programs an export generates: the setup cell, one run's code, the notebook's run and voice
cells, View code's standalone Python and its ``curl`` command.

Each is a template of ``templates/`` filled with values embedded by ``export_templates`` (Python
literals, shell words), never pasted raw, so no field of an imported notebook can break out of a
string literal and run. The generated Python is linted in the tests with the project's rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from playground.notebook.export_prompt import Effective
from playground.notebook.export_templates import Code, py, render, sh, suffix, trusted
from playground.notebook.model import RunCell, RunConfig
from playground.turn.request import HistoryMessage, TurnRequest

__all__ = [
    "SDK_ENGINES",
    "curl_command",
    "request_body",
    "run_cell_source",
    "run_source",
    "setup_source",
    "view_code_python",
    "voice_cell_source",
]

SDK_ENGINES: Final = ("openai", "azure", "compatible")

_NO_SYSTEM: Final = trusted(
    "# The system prompt was not recorded with this run, so it is left out here.\n"
)


def request_body(
    config: RunConfig, message: str, history: Iterable[HistoryMessage] = ()
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/interact/stream`` that runs this configuration."""
    request = TurnRequest(
        message=message,
        model=config.model,
        prompt=config.prompt if config.prompt_draft is None else None,
        prompt_draft=config.prompt_draft,
        node=config.node,
        streaming=config.streaming,
        voice=config.voice,
        history=tuple(history),
        features=config.features,
        variables=dict(config.variables),
        temperature=config.temperature,
        seed=config.seed,
        max_tokens=config.max_tokens,
        top_p=config.top_p,
        stop=config.stop,
        reasoning_effort=config.reasoning_effort,
    )
    body = request.model_dump(mode="json", exclude_defaults=True)
    body.setdefault("streaming", config.streaming)
    return body


def _messages(
    system: str | None, history: Iterable[HistoryMessage], message: str
) -> list[dict[str, str]]:
    out = [{"role": "system", "content": system}] if system is not None else []
    out += [{"role": m.role, "content": m.content} for m in history]
    out.append({"role": "user", "content": message})
    return out


def _assign(name: str, value: object) -> Code:
    """``name = <literal>``; ``name`` is one of this module's variable names."""
    assert name.isidentifier(), name
    return Code(f"{name} = {py(value, column=len(name) + 3)}")


def _argument(name: str, value: object) -> Code:
    """One keyword argument line of the ``stream_chat`` call."""
    assert name.isidentifier(), name
    return Code(f"    {name}={py(value, column=len(name) + 5)},")


def run_source(
    n: Code,
    config: RunConfig,
    message: str,
    history: Iterable[HistoryMessage],
    effective: Effective,
    *,
    recorded_tool_results: list[dict[str, str]] | None = None,
) -> Code:
    """Code that runs one configuration and leaves its answer in ``answer{n}``."""
    history = tuple(history)
    if config.engine not in SDK_ENGINES:
        body = request_body(config, message, history)
        return render("run_app.py.tmpl", n=n, body=py(body, column=len(f"body{n} = ")))
    data: list[Code] = []
    extra = [_argument(name, value) for name, value in effective.params.items()]
    if effective.tools:
        data.append(_assign(f"tools{n}", list(effective.tools)))
        extra.append(trusted(f"    tools=tools{n},"))
    if recorded_tool_results:
        data.append(_assign(f"recorded_tool_results{n}", recorded_tool_results))
        extra.append(trusted(f"    recorded_tool_results=recorded_tool_results{n},"))
    messages = _messages(effective.system, history, message)
    return render(
        "run_sdk.py.tmpl",
        n=n,
        system_note=_NO_SYSTEM if effective.system is None else trusted(""),
        messages=py(messages, column=len(f"messages{n} = ")),
        data=trusted("".join(f"{line}\n" for line in data)),
        engine=py(config.engine, column=15),
        model=py(config.model_name, column=10),
        stream=py(config.streaming, column=11),
        extra_args=trusted("".join(f"{line}\n" for line in extra)),
    )


def setup_source(app_url: str, *, sdk: bool, app: bool, deepgram: bool) -> Code:
    """The setup cell: keys from the environment, then the helpers the runs call."""
    parts = [render("setup_env.py.tmpl", app_url=py(app_url, column=50))]
    if sdk:
        parts.append(render("setup_llm.py.tmpl"))
    elif app:
        parts.append(render("setup_tick.py.tmpl"))
    if app:
        parts.append(render("setup_app.py.tmpl"))
    if deepgram:
        parts.append(render("setup_deepgram.py.tmpl"))
    return Code("\n\n\n".join(parts) + "\n")


def run_cell_source(index: int, cell: RunCell, effective: Effective) -> Code:
    """A notebook run cell: the run, then its answer compared with the recorded one."""
    n = suffix(index)
    results = [{"name": r["name"], "output": r["output"]} for r in cell.tool_results]
    run = run_source(
        n, cell.config, cell.message, cell.history, effective, recorded_tool_results=results
    )
    recorded = py(cell.text, column=len(f"recorded{n} = "))
    return Code(run + "\n" + render("run_cell_tail.py.tmpl", n=n, recorded=recorded))


def voice_cell_source(index: int, cell: RunCell) -> Code:
    """A notebook cell that speaks run ``index``'s answer with its Deepgram voice again."""
    n = suffix(index)
    voice = py(cell.config.voice_name, column=40)
    return render("voice_cell.py.tmpl", index=py(index), n=n, voice=voice)


def view_code_python(
    app_url: str,
    config: RunConfig,
    message: str,
    history: Iterable[HistoryMessage],
    effective: Effective,
) -> Code:
    """Standalone Python that runs ``config`` with ``message``."""
    sdk = config.engine in SDK_ENGINES
    deepgram = config.voice_engine == "deepgram"
    python = render(
        "view_code.py.tmpl",
        # A literal, not text between triple quotes: it is still the module's docstring.
        docstring=py(
            f"Streaming Playground: {config.model} · {config.prompt} · {config.node} node."
        ),
        setup=setup_source(app_url, sdk=sdk, app=not sdk, deepgram=deepgram),
        run=run_source(suffix(None), config, message, history, effective),
    )
    python = Code(python + "\n")
    if deepgram:
        voice = py(config.voice_name, column=22)
        python = Code(python + render("view_code_voice.py.tmpl", voice=voice) + "\n")
    return python


def curl_command(
    app_url: str, config: RunConfig, message: str, history: Iterable[HistoryMessage]
) -> Code:
    """A ``curl`` command that streams the run from ``POST {app_url}/v1/interact/stream``."""
    body = json.dumps(request_body(config, message, history), ensure_ascii=False)
    url = sh(app_url + "/v1/interact/stream")
    return Code(render("curl.sh.tmpl", url=url, body=sh(body)) + "\n")
