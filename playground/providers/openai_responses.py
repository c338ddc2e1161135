"""OpenAI and Azure OpenAI models over the Responses API (``POST /responses``).

Some models are served only there (``o3-pro``, ``gpt-5-pro``, the codex models), and it is the
only OpenAI API that streams a reasoning model's thinking, as a *reasoning summary*. Which model
takes this path is decided by ``uses_responses_api``: a built-in list of Responses-only models
plus ``PLAYGROUND_RESPONSES_MODELS``.

The rest of the app speaks Chat Completions (``ChatMessage`` history, chat-format function
tools, ``ToolCallFragment``s joined by index), so this module converts both ways: the history
and tools into Responses ``input`` items and function tools, and the stream's events back into
``ModelDelta``s. A function call is released whole, once the upstream marks its item done,
as one fragment; the agent node's buffer then sees a complete call, as it does from a chat model.
SDK errors are translated with ``translate_openai_error``; a failure reported inside the stream
(``response.failed``, ``error``) becomes a ``ProviderError`` here too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any, TypeVar

import httpx2
import openai
from openai import AsyncOpenAI

from playground.errors import ErrorCategory, ProviderError, TruncatedStreamError
from playground.providers.base import (
    ChatMessage,
    ContentDelta,
    GenerationOptions,
    ModelDelta,
    ReasoningDelta,
    StreamEnd,
    ToolCallFragment,
    Usage,
)
from playground.providers.openai_llm import translate_openai_error
from playground.providers.thinking import split_thinking
from playground.reasoning import family_of
from playground.settings import Settings

__all__ = [
    "RESPONSES_ONLY_MODELS",
    "OpenAIResponsesModel",
    "responses_input",
    "responses_tools",
    "uses_responses_api",
]

_T = TypeVar("_T")

RESPONSES_ONLY_MODELS: tuple[str, ...] = (
    "o1-pro*",
    "o3-pro*",
    "gpt-5*-pro*",
    "codex-mini*",
    "gpt-5*-codex*",
)
"""OpenAI models that Chat Completions refuses (case-insensitive ``fnmatch`` patterns), as of
2026-11 (platform.openai.com/docs/models: "Responses API only")."""

# What a ``response.failed`` / ``error`` code (openai.types.responses.ResponseError) means. Codes
# about the request itself (an invalid prompt or image, a policy) are refused requests that a
# retry cannot help; an unknown code counts as upstream trouble, as an ``error`` object in a chat
# stream does.
_FAILURE_CATEGORIES = {
    "server_error": ErrorCategory.SERVER,
    "rate_limit_exceeded": ErrorCategory.RATE_LIMIT,
    "vector_store_timeout": ErrorCategory.TIMEOUT,
}
_REFUSED_PREFIXES = ("invalid_", "image_", "unsupported_", "empty_", "failed_to_download")
_REFUSED_CODES = {"bio_policy", "misalignment_policy_violation", "data_residency_mismatch"}


def uses_responses_api(engine: str, model_name: str, settings: Settings) -> bool:
    """Whether ``engine:model_name`` is served over the Responses API.

    ``PLAYGROUND_RESPONSES_MODELS`` names models or globs (``gpt-5*``), optionally with the
    engine (``azure:my-o3-deployment``); a name without a colon matches any engine. The built-in
    Responses-only models count for OpenAI and Azure only: an OpenAI-compatible server decides
    for itself which of its models have a ``/responses`` route, so it is used only when named.
    """
    if engine not in ("openai", "azure", "compatible"):
        return False
    name = model_name.lower()
    # Gateways call models ``vendor/name``; the table's patterns are for the bare name.
    bare = name.rsplit("/", 1)[-1]
    for pattern in settings.playground_responses_models:
        pattern = pattern.lower()
        if ":" in pattern:
            if fnmatchcase(f"{engine}:{name}", pattern):
                return True
        elif fnmatchcase(name, pattern) or fnmatchcase(bare, pattern):
            return True
    if engine == "compatible":
        return False
    return any(fnmatchcase(bare, pattern) for pattern in RESPONSES_ONLY_MODELS)


def responses_input(messages: Iterable[ChatMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """Chat-format history as ``(instructions, input items)``.

    Leading system messages become ``instructions``; a later one stays in place as a system
    message. An assistant message's tool calls become ``function_call`` items and tool results
    ``function_call_output`` items, linked by ``call_id``. Item ids (``fc_…``) are never sent:
    with ``store=False`` there is no stored item for them to name, and naming one would make
    the API ask for the reasoning item that preceded it.
    """
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system" and not items:
            if message.content:
                instructions.append(message.content)
        elif message.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id or "",
                    "output": message.content or "",
                }
            )
        else:
            if message.content or not message.tool_calls:
                items.append({"role": message.role, "content": message.content or ""})
            for call in message.tool_calls:
                function = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": str(call.get("id") or ""),
                        "name": str(function.get("name") or ""),
                        "arguments": str(function.get("arguments") or "{}"),
                    }
                )
    return "\n\n".join(instructions) or None, items


def responses_tools(tools: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat-format function tools as Responses function tools (flat, not under ``function``).

    ``strict`` is sent as the chat tool had it (default off): the Responses API makes function
    tools strict unless told otherwise, and a strict tool's schema must list every property as
    required and forbid others, which the shop tools' optional fields do not.
    """
    converted: list[dict[str, Any]] = []
    for tool in tools:
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict):
            converted.append(dict(tool))  # already a Responses tool
            continue
        item: dict[str, Any] = {
            "type": "function",
            "name": function.get("name"),
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
            "strict": bool(function.get("strict", False)),
        }
        if function.get("description"):
            item["description"] = function["description"]
        converted.append(item)
    return converted


def _reasons(model: str, options: GenerationOptions) -> bool:
    """A reasoning model: one given an effort, or one the model table says takes one."""
    if options.reasoning_effort is not None:
        return True
    family = family_of(model)
    return family is not None and bool(family.efforts)


class OpenAIResponsesModel:
    """Streams a model response as ``ModelDelta``s; closing the iterator closes the HTTP stream.

    Requests go through the client's public lower-level ``post`` to ``/responses`` rather than
    ``responses.create``: the same SDK request path (auth, Azure's ``/openai/responses``,
    retries, status errors, SSE decoding), minus pydantic. The SDK builds its typed event models
    on first use: in a fresh process the first turn's first delta came 0.9 s late and
    ``response.completed`` 3.3 s after the last delta (openai 3.63), then ~150 µs per event.
    Events are read once and dropped here, so the JSON is read as it comes, by the event names
    and fields of ``openai.types.responses``.
    """

    def __init__(self, client: AsyncOpenAI, provider: str) -> None:
        self._client = client
        self._provider = provider

    @staticmethod
    def unsent(options: GenerationOptions) -> tuple[str, ...]:
        """The options set that this API has no field for (so they are not sent)."""
        return tuple(
            name
            for name, value in (("seed", options.seed), ("stop", options.stop))
            if value is not None and value != ()
        )

    def _body(
        self, model: str, messages: list[ChatMessage], options: GenerationOptions
    ) -> dict[str, Any]:
        """The ``/responses`` request body for one call (without ``stream``)."""
        instructions, items = responses_input(messages)
        # store=False: the app keeps the conversation itself and never refers to a stored
        # response, so nothing is left on the upstream (as with Chat Completions' default).
        body: dict[str, Any] = {"model": model, "input": items, "store": False}
        if instructions is not None:
            body["instructions"] = instructions
        if options.temperature is not None:
            body["temperature"] = options.temperature
        if options.top_p is not None:
            body["top_p"] = options.top_p
        if options.max_tokens is not None:
            # Counts thinking and answer together, as max_completion_tokens does.
            body["max_output_tokens"] = options.max_tokens
        if _reasons(model, options):
            reasoning: dict[str, Any] = {"summary": "auto"}
            if options.reasoning_effort is not None:
                reasoning["effort"] = options.reasoning_effort
            body["reasoning"] = reasoning
        if options.tools:
            body["tools"] = responses_tools(options.tools)
        # ``seed`` and ``stop`` have no Responses equivalent and the API rejects unknown
        # fields, so they are not sent.
        return body

    async def stream(
        self, model: str, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ModelDelta]:
        body = self._body(model, messages, options)
        try:
            deltas = self._stream(body) if options.stream else self._completed(body)
            # Open-weight models behind a compatible server may still write <think> inline.
            async for delta in split_thinking(deltas):
                yield delta
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc, self._provider) from exc

    async def _post(self, body: dict[str, Any], *, stream: bool) -> Any:
        return await self._client.post(
            "/responses",
            body={**body, "stream": stream},
            options={"security": {"bearer_auth": True}},
            cast_to=object,
            stream=stream,
            stream_cls=openai.AsyncStream[object],
        )

    async def _stream(self, body: dict[str, Any]) -> AsyncGenerator[ModelDelta, None]:
        async def open_stream(sent: dict[str, Any]) -> openai.AsyncStream[object]:
            opened: openai.AsyncStream[object] = await self._post(sent, stream=True)
            return opened

        stream = await _without_summary_if_refused(open_stream, body)
        calls = _FunctionCalls()
        thought = False  # a summary part after earlier thinking starts a new paragraph
        end: StreamEnd | None = None
        # `async with` closes the response on cancel or early exit, so Stop really stops billing.
        async with stream:
            async for event in stream:
                at = time.monotonic()
                if not isinstance(event, dict):
                    continue
                kind = event.get("type")
                if kind in _TEXT_DELTAS:
                    # A refusal is what the user gets instead of an answer: shown as one.
                    if text := _text(event.get("delta")):
                        yield ContentDelta(text=text, at=at)
                elif kind in _THINKING_DELTAS:
                    # OpenAI's models stream a summary; open-weight ones behind a compatible
                    # server stream the thinking itself (reasoning_text).
                    if text := _text(event.get("delta")):
                        thought = True
                        yield ReasoningDelta(text=text, at=at)
                elif kind == "response.reasoning_summary_part.added":
                    if thought:
                        yield ReasoningDelta(text="\n\n", at=at)
                elif kind == "response.function_call_arguments.delta":
                    calls.argument_delta(event.get("item_id"), _text(event.get("delta")))
                elif kind == "response.function_call_arguments.done":
                    calls.arguments_done(event.get("item_id"), _text(event.get("arguments")))
                elif kind == "response.output_item.done":
                    if (fragment := calls.release(event.get("item"), at)) is not None:
                        yield fragment
                elif kind in ("response.completed", "response.incomplete"):
                    response = _object(event.get("response"))
                    # Calls whose item was never marked done still arrive whole in the output.
                    for fragment in calls.release_all(response.get("output"), at):
                        yield fragment
                    end = _end(response, calls.count, at)
                elif kind == "response.failed":
                    raise self._failure(_object(_object(event.get("response")).get("error")))
                elif kind == "error":
                    raise self._failure(event)
        if end is None:
            raise TruncatedStreamError(self._provider)
        yield end

    async def _completed(self, body: dict[str, Any]) -> AsyncGenerator[ModelDelta, None]:
        async def answer(sent: dict[str, Any]) -> object:
            return await self._post(sent, stream=False)

        response = _object(await _without_summary_if_refused(answer, body))
        at = time.monotonic()
        if response.get("status") == "failed":
            raise self._failure(_object(response.get("error")))
        thinking: list[str] = []
        text: list[str] = []
        for item in _objects(response.get("output")):
            if item.get("type") == "reasoning":
                parts = _objects(item.get("summary")) + _objects(item.get("content"))
                thinking += [t for part in parts if (t := _text(part.get("text")))]
            elif item.get("type") == "message":
                for part in _objects(item.get("content")):
                    text.append(_text(part.get("text")) or _text(part.get("refusal")))
        if thinking:
            yield ReasoningDelta(text="\n\n".join(thinking), at=at)
        if "".join(text):
            yield ContentDelta(text="".join(text), at=at)
        calls = _FunctionCalls()
        for fragment in calls.release_all(response.get("output"), at):
            yield fragment
        yield _end(response, calls.count, at)

    def _failure(self, error: dict[str, Any]) -> ProviderError:
        """A failure the upstream reported inside a response (``response.failed``'s error, an
        ``error`` event), as a ``ProviderError``."""
        code = _text(error.get("code"))
        message = _text(error.get("message")) or "the response failed"
        if code in _REFUSED_CODES or code.startswith(_REFUSED_PREFIXES):
            category = ErrorCategory.BAD_REQUEST
        else:
            category = _FAILURE_CATEGORIES.get(code, ErrorCategory.SERVER)
        if category is ErrorCategory.SERVER:
            # The same words as an `error` object in a chat stream.
            request = httpx2.Request("POST", f"{self._client.base_url}responses")
            return translate_openai_error(
                openai.APIError(message, request, body=error), self._provider
            )
        detail = f"{message} ({code})" if code else message
        return ProviderError(
            f"{self._provider}: {detail}", category=category, provider=self._provider
        )


# Event types (openai.types.responses.Response*Event) that carry answer or thinking text.
_TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
_THINKING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


class _FunctionCalls:
    """The function calls of one response, each released once, whole, in output order."""

    def __init__(self) -> None:
        self.count = 0
        self._released: set[str] = set()
        self._arguments: dict[str, list[str]] = {}

    def argument_delta(self, item_id: Any, delta: str) -> None:
        self._arguments.setdefault(str(item_id), []).append(delta)

    def arguments_done(self, item_id: Any, arguments: str) -> None:
        self._arguments[str(item_id)] = [arguments]

    def release(self, item: Any, at: float) -> ToolCallFragment | None:
        """The fragment for a finished ``function_call`` output item; None for other items and
        for a call already released."""
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return None
        item_id = _text(item.get("id"))
        call_id = _text(item.get("call_id"))
        key = item_id or call_id
        if key in self._released:
            return None
        self._released.add(key)
        # The done item carries the final arguments; the streamed ones stand in if it does not.
        arguments = _text(item.get("arguments")) or "".join(self._arguments.get(item_id, ()))
        fragment = ToolCallFragment(
            index=self.count,
            at=at,
            call_id=call_id or None,
            name=_text(item.get("name")) or None,
            arguments=arguments,
        )
        self.count += 1
        return fragment

    def release_all(self, output: Any, at: float) -> list[ToolCallFragment]:
        released = (self.release(item, at) for item in _objects(output))
        return [fragment for fragment in released if fragment is not None]


def _end(response: dict[str, Any], calls: int, at: float) -> StreamEnd:
    if response.get("status") == "incomplete":
        reason = _object(response.get("incomplete_details")).get("reason")
        finish = "content_filter" if reason == "content_filter" else "length"
    else:
        finish = "tool_calls" if calls else "stop"
    return StreamEnd(finish_reason=finish, at=at, usage=_usage(response.get("usage")))


def _usage(counts: Any) -> Usage | None:
    """``response.usage`` in the chat vocabulary; compatible servers may leave out the details."""
    if not isinstance(counts, dict):
        return None
    prompt = int(counts.get("input_tokens") or 0)
    completion = int(counts.get("output_tokens") or 0)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(counts.get("total_tokens") or 0) or prompt + completion,
        cached_tokens=int(_object(counts.get("input_tokens_details")).get("cached_tokens") or 0),
        reasoning_tokens=int(
            _object(counts.get("output_tokens_details")).get("reasoning_tokens") or 0
        ),
    )


def _object(value: Any) -> dict[str, Any]:
    """A JSON object field, tolerating a missing or null one."""
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array field, tolerating a missing or null one."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


async def _without_summary_if_refused(
    create: Callable[[dict[str, Any]], Awaitable[_T]], kwargs: dict[str, Any]
) -> _T:
    """``create(kwargs)``; if the upstream refuses the reasoning summary, once more without it.

    OpenAI gives reasoning summaries only to verified organisations and answers the others with
    a 400 naming ``reasoning.summary``; the model answers without one, so a turn should not fail
    for the sake of its Thinking block.
    """
    try:
        return await create(kwargs)
    except openai.BadRequestError as exc:
        reasoning = kwargs.get("reasoning")
        refused = exc.param == "reasoning.summary" or "summar" in (exc.message or "").lower()
        if not refused or not isinstance(reasoning, dict) or "summary" not in reasoning:
            raise
        trimmed = {key: value for key, value in reasoning.items() if key != "summary"}
        retry = {key: value for key, value in kwargs.items() if key != "reasoning"}
        if trimmed:
            retry["reasoning"] = trimmed
        return await create(retry)
