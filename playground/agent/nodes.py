"""Prompt Node and Agent Node: from chat messages to a stream of node outputs.

A Prompt Node is one streamed completion. An Agent Node loops: it streams the model's text,
buffers tool-call fragments until each call is whole, runs the tools, hands the results back to
the model, and stops when the model answers without tools or the round limit is reached.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from playground.agent.tool_process import ToolProcesses
from playground.agent.tools import TOOL_PROCESSES, TOOLS, Tool, ToolError
from playground.prompts.library import ExitPath
from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    LLMProvider,
    ReasoningDelta,
    StreamEnd,
    ToolCallFragment,
    Usage,
)

__all__ = [
    "EXIT_TOOL",
    "CompletedToolCall",
    "ExitTaken",
    "NodeOutput",
    "ToolCallBuffer",
    "ToolOutcome",
    "run_agent_node",
    "exit_tool_schema",
    "run_prompt_node",
    "run_tool",
]

MAX_TOOL_ROUNDS = 5
TOOL_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CompletedToolCall:
    call_id: str
    name: str
    raw_arguments: str
    arguments: dict[str, Any]
    error: str | None
    at: float


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    call_id: str
    name: str
    output: str
    is_error: bool
    started_at: float
    ended_at: float


@dataclass(frozen=True, slots=True)
class ExitTaken:
    """The agent collected what its exit path needs and left the conversation loop."""

    path: str
    fields: dict[str, Any]
    at: float


NodeOutput = ContentDelta | ReasoningDelta | CompletedToolCall | ToolOutcome | ExitTaken | StreamEnd

EXIT_TOOL = "exit_path"


def exit_tool_schema(exit_paths: tuple[ExitPath, ...]) -> dict[str, Any]:
    """The synthetic tool an Agent Node calls to take one of its prompt's exit paths."""
    described = "; ".join(
        f"{p.name}: {p.description} (needs {', '.join(p.required_fields) or 'nothing'})"
        for p in exit_paths
    )
    return {
        "type": "function",
        "function": {
            "name": EXIT_TOOL,
            "description": f"Leave the conversation through an exit path once its required "
            f"fields are collected. Paths: {described}",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "enum": [p.name for p in exit_paths]},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["path", "fields"],
                "additionalProperties": False,
            },
        },
    }


def _check_exit(
    call: CompletedToolCall, exit_paths: tuple[ExitPath, ...]
) -> tuple[ToolOutcome, ExitTaken | None]:
    started = time.monotonic()
    by_name = {p.name: p for p in exit_paths}
    path = by_name.get(str(call.arguments.get("path", "")))
    fields = call.arguments.get("fields")
    if call.error is not None:
        problem: str | None = call.error
    elif path is None:
        problem = f"unknown exit path; use one of {', '.join(by_name) or '(none)'}"
    elif not isinstance(fields, dict):
        problem = "'fields' must be an object"
    else:
        missing = [f for f in path.required_fields if not str(fields.get(f, "")).strip()]
        problem = f"still missing: {', '.join(missing)}; ask the user" if missing else None
    if problem is not None or path is None or not isinstance(fields, dict):
        output = f"error: {problem}"
        return ToolOutcome(call.call_id, call.name, output, True, started, time.monotonic()), None
    ended = time.monotonic()
    outcome = ToolOutcome(
        call.call_id, call.name, f"exit path {path.name} taken", False, started, ended
    )
    return outcome, ExitTaken(path.name, dict(fields), ended)


@dataclass
class _PartialCall:
    call_id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallBuffer:
    """Joins streamed tool-call fragments by index; a call is released only when complete.

    A call is complete when a fragment for a later index arrives or the stream ends::

        buf.add(ToolCallFragment(index=0, name="calc", arguments='{"expr'))  -> []
        buf.add(ToolCallFragment(index=0, arguments='ession": "1+1"}'))       -> []
        buf.add(ToolCallFragment(index=1, name="time"))                      -> [calc call]
        buf.finish()                                                          -> [time call]
    """

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}
        self._released: set[int] = set()
        self.all_calls: list[CompletedToolCall] = []

    def add(self, fragment: ToolCallFragment) -> list[CompletedToolCall]:
        partial = self._calls.setdefault(fragment.index, _PartialCall())
        if fragment.call_id:
            partial.call_id = fragment.call_id
        if fragment.name:
            partial.name += fragment.name
        if fragment.arguments:
            partial.arguments.append(fragment.arguments)
        earlier = [i for i in self._calls if i < fragment.index and i not in self._released]
        return [self._release(i, fragment.at) for i in sorted(earlier)]

    def finish(self, at: float | None = None) -> list[CompletedToolCall]:
        stamp = time.monotonic() if at is None else at
        pending = [i for i in self._calls if i not in self._released]
        return [self._release(i, stamp) for i in sorted(pending)]

    def _release(self, index: int, at: float) -> CompletedToolCall:
        self._released.add(index)
        partial = self._calls[index]
        raw = "".join(partial.arguments)
        arguments: dict[str, Any] = {}
        error: str | None = None
        try:
            parsed = json.loads(raw) if raw.strip() else {}
            if isinstance(parsed, dict):
                arguments = parsed
            else:
                error = "arguments must be a JSON object"
        except json.JSONDecodeError as exc:
            error = f"arguments are not valid JSON ({exc.msg} at character {exc.pos})"
        call = CompletedToolCall(
            call_id=partial.call_id or f"call_{index}",
            name=partial.name or "(unnamed)",
            raw_arguments=raw,
            arguments=arguments,
            error=error,
            at=at,
        )
        self.all_calls.append(call)
        return call


async def run_prompt_node(
    llm: LLMProvider, model: str, messages: list[ChatMessage], options: GenerationOptions
) -> AsyncIterator[NodeOutput]:
    """One completion; tool-call fragments are dropped because a Prompt Node has no tools."""
    async for delta in llm.stream(model, messages, replace(options, tools=())):
        if not isinstance(delta, ToolCallFragment):
            yield delta


async def run_tool(
    call: CompletedToolCall,
    *,
    tools: Mapping[str, Tool] = TOOLS,
    timeout_s: float = TOOL_TIMEOUT_S,
    processes: ToolProcesses = TOOL_PROCESSES,
) -> ToolOutcome:
    """Run one tool call; every failure, including a timeout, becomes an error outcome.

    A CPU-bound tool runs in a worker process that is killed at the timeout, so the work really
    stops; the others (lookups) run on a thread.
    """
    started = time.monotonic()
    tool = tools.get(call.name)
    if call.error is not None:
        output, is_error = f"error: {call.error}; send the arguments again as a JSON object", True
    elif tool is None:
        output, is_error = f"error: there is no tool named {call.name!r}", True
    else:
        try:
            if tool.cpu_bound:
                output = await processes.call(tool.run, call.arguments, timeout_s)
            else:
                output = await asyncio.wait_for(
                    asyncio.to_thread(tool.run, call.arguments), timeout_s
                )
            is_error = False
        except ToolError as exc:
            output, is_error = f"error: {exc}", True
        except TimeoutError:
            output, is_error = f"error: the tool took longer than {timeout_s:g} s", True
        except Exception as exc:  # noqa: BLE001 - a broken tool must not end the turn
            output, is_error = f"error: the tool failed ({type(exc).__name__}: {exc})", True
    return ToolOutcome(call.call_id, call.name, output, is_error, started, time.monotonic())


def _add_usage(total: Usage | None, more: Usage | None) -> Usage | None:
    if more is None:
        return total
    if total is None:
        return more
    return Usage(
        total.prompt_tokens + more.prompt_tokens,
        total.completion_tokens + more.completion_tokens,
        total.total_tokens + more.total_tokens,
        total.cached_tokens + more.cached_tokens,
        total.reasoning_tokens + more.reasoning_tokens,
    )


async def run_agent_node(
    llm: LLMProvider,
    model: str,
    messages: list[ChatMessage],
    options: GenerationOptions,
    *,
    exit_paths: tuple[ExitPath, ...] = (),
    max_rounds: int = MAX_TOOL_ROUNDS,
) -> AsyncIterator[NodeOutput]:
    """The tool loop; text streams through while tool calls are buffered until complete.

    With ``exit_paths`` the model may call ``exit_path``; once its required fields are all
    present the loop ends there (finish reason ``exit_path``), otherwise the model is told
    what is still missing and the conversation goes on.
    """
    conversation = list(messages)
    usage: Usage | None = None
    for _ in range(max_rounds):
        buffer = ToolCallBuffer()
        text: list[str] = []
        end: StreamEnd | None = None
        async for delta in llm.stream(model, conversation, options):
            if isinstance(delta, ContentDelta):
                text.append(delta.text)
                yield delta
            elif isinstance(delta, ReasoningDelta):
                yield delta
            elif isinstance(delta, ToolCallFragment):
                for call in buffer.add(delta):
                    yield call
            else:
                end = delta
        assert end is not None  # providers raise instead of ending without a StreamEnd
        usage = _add_usage(usage, end.usage)
        for call in buffer.finish(end.at):
            yield call
        if not buffer.all_calls:
            yield replace(end, usage=usage)
            return
        conversation.append(
            ChatMessage(
                role="assistant",
                content="".join(text) or None,
                tool_calls=tuple(
                    {
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.raw_arguments or "{}"},
                    }
                    for call in buffer.all_calls
                ),
            )
        )
        exits = {
            call.call_id: _check_exit(call, exit_paths)
            for call in buffer.all_calls
            if call.name == EXIT_TOOL
        }
        others = [call for call in buffer.all_calls if call.name != EXIT_TOOL]
        ran = iter(await asyncio.gather(*(run_tool(call) for call in others)))
        taken: ExitTaken | None = None
        for call in buffer.all_calls:
            outcome, exit_taken = (
                exits[call.call_id] if call.call_id in exits else (next(ran), None)
            )
            taken = taken or exit_taken
            yield outcome
            conversation.append(
                ChatMessage(
                    role="tool",
                    content=outcome.output,
                    tool_call_id=outcome.call_id,
                    name=outcome.name,
                )
            )
        if taken is not None:
            yield taken
            yield StreamEnd(finish_reason="exit_path", at=taken.at, usage=usage)
            return
    yield StreamEnd(finish_reason="max_tool_rounds", at=time.monotonic(), usage=usage)
