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
``shlex.quote``, never pasted raw, so a message cannot break out of a string literal.
"""

from __future__ import annotations

import json
import pprint
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from playground.agent.nodes import exit_tool_schema
from playground.agent.tools import tool_schemas
from playground.errors import ConfigError
from playground.notebook.model import Notebook, RunCell, RunConfig
from playground.prompts.library import PromptLibrary
from playground.turn.request import HistoryMessage, TurnRequest

__all__ = [
    "ExportPrompt",
    "PromptResolver",
    "prompt_resolver",
    "request_body",
    "to_ipynb",
    "to_ipynb_json",
    "view_code",
]

SDK_ENGINES: Final = ("openai", "azure", "compatible")


@dataclass(frozen=True, slots=True)
class ExportPrompt:
    """What an export needs from the prompt library for one run."""

    system: str | None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    tools: tuple[dict[str, Any], ...] = ()


PromptResolver = Callable[[RunConfig], ExportPrompt | None]


def prompt_resolver(library: PromptLibrary) -> PromptResolver:
    """Resolve a run's ``prompt@version`` in ``library`` the way the runner does."""

    def resolve(config: RunConfig) -> ExportPrompt | None:
        try:
            prompt = library.resolve(config.prompt, config.node)
        except ConfigError:
            return None
        tools: tuple[dict[str, Any], ...] = ()
        if config.node == "agent" and "tool_calling" not in config.disabled_features:
            tools = tool_schemas(prompt.tools)
            if prompt.exit_paths:
                tools += (exit_tool_schema(prompt.exit_paths),)
        return ExportPrompt(
            system=prompt.render_system(config.variables),
            temperature=prompt.defaults.temperature,
            max_tokens=prompt.defaults.max_tokens,
            seed=prompt.defaults.seed,
            tools=tools,
        )

    return resolve


# -- code that goes into the notebook (kept valid Python; tests compile and run it) -----------

_ENV_SOURCE: Final = """\
import os
import time

# Keys and endpoints come from the environment; nothing secret is stored in this notebook.
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL")  # unset: api.openai.com
AZURE_OPENAI_API_KEY = os.environ.get("AZURE_OPENAI_API_KEY")
AZURE_OPENAI_ENDPOINT = os.environ.get("AZURE_OPENAI_ENDPOINT")
OPENAI_API_VERSION = os.environ.get("OPENAI_API_VERSION")
DEEPGRAM_API_KEY = os.environ.get("DEEPGRAM_API_KEY")
DEEPGRAM_BASE_URL = os.environ.get("DEEPGRAM_BASE_URL")  # unset: api.deepgram.com
PLAYGROUND_URL = os.environ.get("PLAYGROUND_URL", {app_url!r})
PLAYGROUND_API_TOKEN = os.environ.get("PLAYGROUND_API_TOKEN")
_clients = {{}}
"""

_LLM_SOURCE: Final = '''

def llm_client(engine):
    """The openai SDK client for a playground engine: openai, azure or compatible."""
    if engine not in _clients:
        from openai import AzureOpenAI, OpenAI

        if engine == "azure":
            _clients[engine] = AzureOpenAI(
                api_key=AZURE_OPENAI_API_KEY,
                azure_endpoint=AZURE_OPENAI_ENDPOINT,
                api_version=OPENAI_API_VERSION,
            )
        elif engine == "compatible":
            # Ollama, vLLM, llama.cpp server: they ignore the key, but the SDK needs one.
            _clients[engine] = OpenAI(
                api_key=OPENAI_API_KEY or "not-needed", base_url=OPENAI_BASE_URL
            )
        else:
            _clients[engine] = OpenAI(api_key=OPENAI_API_KEY, base_url=OPENAI_BASE_URL or None)
    return _clients[engine]


def _tick(sent, last, now, text):
    print(f"{(now - sent) * 1000:9.1f} ms  gap {(now - last) * 1000:7.1f} ms  {text!r}")


def stream_chat(client, *, model, messages, stream=True, recorded_tool_results=(), **params):
    """Send the messages and print every chunk with ms since send and the gap; return the text.

    Tool calls are answered with the outputs the playground recorded (in order, by name), so
    an Agent Node conversation goes on as it did; no tool runs here.
    """
    messages = list(messages)
    recorded = list(recorded_tool_results)
    answer, chunks, first, finish = "", 0, None, None
    sent = last = time.perf_counter()
    for _round in range(5):
        text, calls = [], {}
        if stream:
            response = client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **params,
            )
            with response:
                for chunk in response:
                    now = time.perf_counter()
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            _tick(sent, last, now, delta.content)
                            first = first or now
                            last, chunks = now, chunks + 1
                            text.append(delta.content)
                        for position, call in enumerate(delta.tool_calls or ()):
                            index = call.index if call.index is not None else position
                            empty = {"id": None, "name": "", "arguments": ""}
                            slot = calls.setdefault(index, empty)
                            slot["id"] = call.id or slot["id"]
                            if call.function and call.function.name:
                                slot["name"] += call.function.name
                            if call.function and call.function.arguments:
                                slot["arguments"] += call.function.arguments
                        finish = choice.finish_reason or finish
        else:
            completion = client.chat.completions.create(model=model, messages=messages, **params)
            now = time.perf_counter()
            choice = completion.choices[0]
            finish = choice.finish_reason
            if choice.message.content:
                print("(streaming off: the whole answer arrives at once)")
                _tick(sent, last, now, choice.message.content)
                first = first or now
                last, chunks = now, chunks + 1
                text.append(choice.message.content)
            for index, call in enumerate(choice.message.tool_calls or ()):
                calls[index] = {
                    "id": call.id,
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                }
        answer += "".join(text)
        if not calls:
            break
        ordered = [calls[i] for i in sorted(calls)]
        messages.append(
            {
                "role": "assistant",
                "content": "".join(text) or None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"] or "{}"},
                    }
                    for c in ordered
                ],
            }
        )
        for c in ordered:
            match = next((r for r in recorded if r["name"] == c["name"]), None)
            if match is not None:
                recorded.remove(match)
                output = match["output"]
            else:
                output = "error: the playground recorded no result for this call"
            print(f"{(time.perf_counter() - sent) * 1000:9.1f} ms  tool call "
                  f"{c['name']}({c['arguments']}) -> recorded result {output[:80]!r}")
            messages.append(
                {"role": "tool", "tool_call_id": c["id"], "name": c["name"], "content": output}
            )
        if any(c["name"] == "exit_path" for c in ordered) and not recorded:
            finish = "exit_path"
            break
    total = (time.perf_counter() - sent) * 1000
    ttft = f"{(first - sent) * 1000:.1f} ms" if first is not None else "n/a"
    print(f"TTFT {ttft} · total {total:.1f} ms · {chunks} chunks · finish {finish}")
    return answer
'''

_APP_SOURCE: Final = '''

def stream_app(body):
    """POST a turn to the playground's streaming API; print each chunk as it arrives."""
    import json

    import httpx

    headers = {"Accept": "text/event-stream"}
    if PLAYGROUND_API_TOKEN:
        headers["Authorization"] = f"Bearer {PLAYGROUND_API_TOKEN}"
    url = PLAYGROUND_URL.rstrip("/") + "/v1/interact/stream"
    answer, chunks, first, finish = "", 0, None, None
    name, data = "message", []
    sent = last = time.perf_counter()
    with httpx.Client(timeout=httpx.Timeout(120, connect=5)) as http:
        with http.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                raise RuntimeError(f"HTTP {response.status_code}: {response.text}")
            for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif line == "":
                    if data:
                        payload, now = json.loads("\\n".join(data)), time.perf_counter()
                        if name == "completion-continue":
                            _tick(sent, last, now, payload["text"])
                            first = first or now
                            last, chunks = now, chunks + 1
                        elif name == "tool-call":
                            print(f"{(now - sent) * 1000:9.1f} ms  tool call {payload['name']}"
                                  f"({json.dumps(payload['arguments'])})")
                        elif name == "tool-result":
                            print(f"{(now - sent) * 1000:9.1f} ms  tool result "
                                  f"{payload['output'][:80]!r}")
                        elif name == "audio":
                            print(f"{(now - sent) * 1000:9.1f} ms  audio piece {payload['seq']} "
                                  f"for {payload['text'][:60]!r}")
                        elif name == "error":
                            print(f"{(now - sent) * 1000:9.1f} ms  error: {payload['message']}")
                        elif name == "completion-end":
                            answer, finish = payload["text"], payload["finish_reason"]
                    name, data = "message", []
    total = (time.perf_counter() - sent) * 1000
    ttft = f"{(first - sent) * 1000:.1f} ms" if first is not None else "n/a"
    print(f"TTFT {ttft} · total {total:.1f} ms · {chunks} chunks · finish {finish}")
    return answer
'''

_TICK_SOURCE: Final = """

def _tick(sent, last, now, text):
    print(f"{(now - sent) * 1000:9.1f} ms  gap {(now - last) * 1000:7.1f} ms  {text!r}")
"""

_DEEPGRAM_SOURCE: Final = '''

def deepgram_client():
    """A deepgram-sdk client; DEEPGRAM_BASE_URL (http or https) points it elsewhere."""
    if "deepgram" not in _clients:
        from urllib.parse import urlsplit, urlunsplit

        from deepgram import DeepgramClient, DeepgramClientEnvironment

        environment = DeepgramClientEnvironment.PRODUCTION
        if DEEPGRAM_BASE_URL:
            parts = urlsplit(DEEPGRAM_BASE_URL)
            secure = parts.scheme in ("https", "wss")
            path = parts.path.rstrip("/")
            http_base = urlunsplit(("https" if secure else "http", parts.netloc, path, "", ""))
            ws_base = urlunsplit(("wss" if secure else "ws", parts.netloc, path, "", ""))
            environment = DeepgramClientEnvironment(
                base=http_base, production=ws_base, agent=ws_base, agent_rest=http_base
            )
        _clients["deepgram"] = DeepgramClient(api_key=DEEPGRAM_API_KEY, environment=environment)
    return _clients["deepgram"]


def speak(text, voice, sample_rate=24000):
    """Speak the text with a Deepgram Aura voice over the streaming WebSocket (as the
    playground does) and report the time to the first audio byte."""
    from deepgram.speak.v1 import SpeakV1Text

    if not text.strip():
        print("nothing to speak")
        return b""
    pieces, rest = [], text
    while len(rest) > 2000:  # Deepgram takes at most 2,000 characters per Speak message
        cut = rest.rfind(" ", 0, 2000)
        cut = 2000 if cut <= 0 else cut + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    pcm, first = bytearray(), None
    opened = time.perf_counter()
    with deepgram_client().speak.v1.connect(
        model=voice, encoding="linear16", sample_rate=sample_rate
    ) as connection:
        sent = time.perf_counter()
        for piece in pieces:
            connection.send_text(SpeakV1Text(text=piece))
        connection.send_flush()
        for message in connection:
            if isinstance(message, bytes):
                first = first or time.perf_counter()
                pcm += message
            elif getattr(message, "type", None) == "Flushed":
                break
        connection.send_close()
    ttfa = f"{(first - sent) * 1000:.1f} ms" if first is not None else "n/a"
    seconds = len(pcm) / 2 / sample_rate
    print(f"time to first audio byte {ttfa} (socket opened in {(sent - opened) * 1000:.1f} ms) "
          f"· {len(pcm):,} bytes · {seconds:.2f} s of audio")
    try:
        import io
        import wave

        from IPython.display import Audio, display
    except ImportError:
        return bytes(pcm)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(bytes(pcm))
    display(Audio(data=buffer.getvalue()))
    return bytes(pcm)
'''


# -- helpers -----------------------------------------------------------------------------------


def _check_app_url(app_url: str) -> str:
    parts = urlsplit(app_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"app_url must be an http(s) URL, got {app_url!r}", field="app_url")
    return app_url.rstrip("/")


def _literal(value: Any) -> str:
    """A Python literal for JSON-like ``value`` (repr-based: safe for any string)."""
    return pprint.pformat(value, width=92, sort_dicts=False)


def _fence(text: str, lang: str = "text") -> str:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _code(value: object) -> str:
    """An inline code span safe inside a markdown table cell."""
    text = str(value).replace("\n", " ").replace("|", "\\|")
    ticks = "`" * (max((len(r) for r in _runs(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _runs(text: str) -> list[str]:
    runs, current = [], ""
    for ch in text:
        if ch == "`":
            current += ch
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


def _ms(value: Any) -> str:
    return f"{value:,.1f} ms" if isinstance(value, int | float) else "n/a"


@dataclass(frozen=True, slots=True)
class _Effective:
    system: str | None
    params: dict[str, Any]
    tools: tuple[dict[str, Any], ...]


def _effective(config: RunConfig, resolve_prompt: PromptResolver | None) -> _Effective:
    resolved = resolve_prompt(config) if resolve_prompt is not None else None
    system = config.system if config.system is not None else (resolved.system if resolved else None)
    params: dict[str, Any] = {}
    for name in ("temperature", "max_tokens", "seed"):
        value = getattr(config, name)
        if value is None and resolved is not None:
            value = getattr(resolved, name)
        if value is not None:
            params[name] = value
    return _Effective(system, params, resolved.tools if resolved else ())


def _messages(
    system: str | None, history: Iterable[HistoryMessage], message: str
) -> list[dict[str, str]]:
    out = [{"role": "system", "content": system}] if system is not None else []
    out += [{"role": m.role, "content": m.content} for m in history]
    out.append({"role": "user", "content": message})
    return out


def request_body(
    config: RunConfig, message: str, history: Iterable[HistoryMessage] = ()
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/interact/stream`` that runs this configuration."""
    request = TurnRequest(
        message=message,
        model=config.model,
        prompt=config.prompt,
        node=config.node,
        streaming=config.streaming,
        voice=config.voice,
        history=tuple(history),
        features=config.features,
        variables=dict(config.variables),
        temperature=config.temperature,
        seed=config.seed,
        max_tokens=config.max_tokens,
    )
    body = request.model_dump(mode="json", exclude_defaults=True)
    body.setdefault("streaming", config.streaming)
    return body


def _run_source(
    n: str,
    config: RunConfig,
    message: str,
    history: Iterable[HistoryMessage],
    effective: _Effective,
    *,
    recorded_tool_results: list[dict[str, str]] | None = None,
) -> str:
    """Code that runs one configuration and leaves its answer in ``answer{n}``."""
    history = tuple(history)
    lines: list[str] = []
    if config.engine not in SDK_ENGINES:
        lines += [
            f"# {config.model} is the playground's embedded model: it has no public SDK",
            "# endpoint, so this streams the same turn through the playground's own API.",
            f"body{n} = {_literal(request_body(config, message, history))}",
            f"answer{n} = stream_app(body{n})",
        ]
        return "\n".join(lines)
    if effective.system is None:
        lines += [
            f"# The system prompt of {config.prompt} was not recorded, so it is left out here.",
        ]
    lines.append(
        f"messages{n} = {_literal(_messages(effective.system, history, message))}",
    )
    args = [
        f"    llm_client({config.engine!r}),",
        f"    model={config.model_name!r},",
        f"    messages=messages{n},",
        f"    stream={config.streaming!r},",
    ]
    args += [f"    {name}={value!r}," for name, value in effective.params.items()]
    if effective.tools:
        lines.append(f"tools{n} = {_literal(list(effective.tools))}")
        args.append(f"    tools=tools{n},")
    if recorded_tool_results:
        lines.append(f"recorded_tool_results{n} = {_literal(recorded_tool_results)}")
        args.append(f"    recorded_tool_results=recorded_tool_results{n},")
    lines.append(f"answer{n} = stream_chat(\n" + "\n".join(args) + "\n)")
    return "\n".join(lines)


def _setup_source(app_url: str, *, sdk: bool, app: bool, deepgram: bool) -> str:
    source = _ENV_SOURCE.format(app_url=app_url)
    if sdk:
        source += _LLM_SOURCE
    elif app:
        source += _TICK_SOURCE
    if app:
        source += _APP_SOURCE
    if deepgram:
        source += _DEEPGRAM_SOURCE
    return source


# -- the notebook ------------------------------------------------------------------------------


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


def _intro(nb: Notebook, app_url: str) -> str:
    count = len(nb.cells)
    return "\n".join(
        [
            "# Streaming Playground: notebook of runs",
            "",
            f"{count} run{'s' if count != 1 else ''} exported from the Streaming Playground at "
            f"{_code(app_url)}. Each run has a summary (configuration, message, the recorded "
            "answer and its timing) and a code cell that sends the same messages with the "
            "`openai` SDK, streaming, printing every chunk with the milliseconds since the "
            "request was sent and the gap to the previous chunk, then the time to first token "
            "and the total. Agent Node tool calls are answered with the outputs the playground "
            "recorded. Runs with a Deepgram voice are spoken again with `deepgram-sdk`, with the "
            "time to the first audio byte. Runs on the embedded local model stream through the "
            "playground's own HTTP API (`httpx`), which must be running.",
            "",
            "Requirements: `pip install openai deepgram-sdk httpx`. Set what your runs need in "
            "the environment before starting Jupyter; no key is stored in this file.",
            "",
            "| variable | for |",
            "|---|---|",
            "| `OPENAI_API_KEY`, `OPENAI_BASE_URL` | `openai:` and `compatible:` models |",
            "| `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT`, `OPENAI_API_VERSION` "
            "| `azure:` deployments |",
            "| `DEEPGRAM_API_KEY`, `DEEPGRAM_BASE_URL` | `deepgram:` voices |",
            "| `PLAYGROUND_URL`, `PLAYGROUND_API_TOKEN` | `local:` models (this app's API) |",
            "",
            "Models are not deterministic: a rerun may word its answer differently from the "
            "recording, and timings depend on the network and load.",
        ]
    )


def _summary(index: int, cell: RunCell, effective: _Effective) -> str:
    c = cell.config
    features = [name for name, on in c.features.model_dump().items() if on]
    rows = [
        ("model", _code(c.model)),
        ("prompt", _code(c.prompt)),
        ("node", c.node),
        ("streaming", "on" if c.streaming else "off"),
        ("voice", _code(c.voice) if c.voice else "none"),
        ("options", ", ".join(features) or "none"),
        ("disabled", ", ".join(c.disabled_features) or "none"),
    ]
    rows += [(name, _code(value)) for name, value in effective.params.items()]
    if c.variables:
        rows.append(("variables", _code(json.dumps(c.variables, ensure_ascii=False))))
    rows.append(("history", f"{cell.history_length} earlier messages"))
    rows.append(("recorded", f"{cell.created_at:%Y-%m-%d %H:%M:%S %Z}".strip()))
    if cell.turn_id:
        rows.append(("turn", _code(cell.turn_id)))
    out = [f"## Run {index}: {_code(c.model)} · {_code(c.prompt)} · {c.node} node", ""]
    out += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    out += ["**Message**", "", _fence(cell.message), ""]
    status = cell.finish_reason or "unfinished"
    if cell.stopped:
        status += " (stopped by the user)"
    out += [f"**Recorded answer** (finish: {_code(status)})", "", _fence(cell.text or ""), ""]
    if cell.tool_calls:
        out += ["**Tool calls**", ""]
        for call in cell.tool_calls:
            args = json.dumps(call["arguments"], ensure_ascii=False)
            result = call["result"]
            got = (
                f" → {_code(result['output'][:200])} ({_ms(result['duration_ms'])})"
                if result
                else ""
            )
            out.append(f"- at {_ms(call['t_ms'])}: {_code(call['name'] + '(' + args + ')')}{got}")
        out.append("")
    for error in cell.errors:
        out.append(
            f"**Error** ({error['stage']}, {_code(error['code'])}): {_code(error['message'])}"
        )
    timing = cell.timing
    if timing:
        out += [
            "",
            "**Timing**: "
            + " · ".join(
                [
                    f"first token {_ms(timing.get('ttft_ms'))}",
                    f"first audio {_ms(timing.get('ttfa_ms'))}",
                    f"{timing.get('chunks', 0)} chunks",
                    f"total {_ms(timing.get('total_ms'))}",
                ]
            ),
        ]
    if cell.audio:
        pieces = len(cell.audio)
        out.append(
            f"\n{pieces} audio piece{'s were' if pieces != 1 else ' was'} spoken by "
            f"{_code(c.voice)}."
        )
    if c.voice_engine == "local":
        out.append(
            "\nThe voice was the playground's local Piper voice, which has no SDK: it is not "
            "reproduced here (the app's API speaks it)."
        )
    if effective.system is None and c.engine in SDK_ENGINES:
        out.append(f"\nThe system prompt of {_code(c.prompt)} was not recorded with this run.")
    return "\n".join(out)


def to_ipynb(
    nb: Notebook, *, app_url: str, resolve_prompt: PromptResolver | None = None
) -> dict[str, Any]:
    """The notebook as an nbformat v4 document (``json.dumps`` it to write a ``.ipynb``)."""
    app_url = _check_app_url(app_url)
    effective = [_effective(cell.config, resolve_prompt) for cell in nb.cells]
    engines = {cell.config.engine for cell in nb.cells}
    cells = [_markdown("intro", _intro(nb, app_url))]
    cells.append(
        _code_cell(
            "setup",
            _setup_source(
                app_url,
                sdk=bool(engines & set(SDK_ENGINES)),
                app=bool(engines - set(SDK_ENGINES)),
                deepgram=any(cell.config.voice_engine == "deepgram" for cell in nb.cells),
            ),
        )
    )
    if not nb.cells:
        cells.append(_markdown("empty", "No runs yet."))
    for index, (cell, eff) in enumerate(zip(nb.cells, effective, strict=True), start=1):
        n = f"_{index}"
        cells.append(_markdown(f"run{index}-summary", _summary(index, cell, eff)))
        results = [{"name": r["name"], "output": r["output"]} for r in cell.tool_results]
        source = _run_source(
            n, cell.config, cell.message, cell.history, eff, recorded_tool_results=results
        )
        source += f"\nrecorded{n} = {cell.text!r}"
        source += f'\nprint("\\nAnswer:\\n" + answer{n})'
        source += f'\nprint("\\nSame as recorded:", answer{n} == recorded{n})'
        cells.append(_code_cell(f"run{index}", source))
        if cell.config.voice_engine == "deepgram":
            cells.append(
                _code_cell(
                    f"run{index}-voice",
                    f"# Run {index} was spoken by Deepgram {cell.config.voice_name}: speak the "
                    "answer again\n"
                    f"audio{n} = speak(answer{n} or recorded{n}, {cell.config.voice_name!r})",
                )
            )
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


# -- View code ---------------------------------------------------------------------------------


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
    effective = _effective(config, resolve_prompt)
    sdk = config.engine in SDK_ENGINES
    deepgram = config.voice_engine == "deepgram"
    python = (
        f'"""Streaming Playground: {config.model} · {config.prompt} · {config.node} node."""\n'
        + _setup_source(app_url, sdk=sdk, app=not sdk, deepgram=deepgram)
        + "\n\n"
        + _run_source("", config, message, history, effective)
        + '\nprint("\\nAnswer:\\n" + answer)\n'
    )
    if deepgram:
        python += f"audio = speak(answer, {config.voice_name!r})\n"
    body = json.dumps(request_body(config, message, history), ensure_ascii=False)
    curl = (
        '# Add -H "Authorization: Bearer $PLAYGROUND_API_TOKEN" if the server sets a token.\n'
        f"curl -N {shlex.quote(app_url + '/v1/interact/stream')} \\\n"
        "  -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \\\n"
        f"  -d {shlex.quote(body)}\n"
    )
    return {"python": python, "curl": curl}
