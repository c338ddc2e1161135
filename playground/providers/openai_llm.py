"""OpenAI, Azure OpenAI and OpenAI-compatible chat models through the official ``openai`` SDK.

One implementation serves all three: they differ only in how the client is built. SDK exceptions
are translated into ``ProviderError`` here and nowhere else. Clients are pooled per
(endpoint, key) so connections are reused between turns while one user's key never serves another.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

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
from playground.providers.thinking import split_thinking

__all__ = ["OpenAIChatModel", "OpenAIClientPool", "translate_openai_error"]

_STATUS_CATEGORIES = {
    400: ErrorCategory.BAD_REQUEST,
    401: ErrorCategory.AUTH,
    403: ErrorCategory.AUTH,
    404: ErrorCategory.BAD_REQUEST,
    408: ErrorCategory.TIMEOUT,
    409: ErrorCategory.SERVER,
    422: ErrorCategory.BAD_REQUEST,
    429: ErrorCategory.RATE_LIMIT,
}

_FIX_HINTS = {
    ErrorCategory.AUTH: "check the API key (set it in .env or paste a key in the session settings)",
    ErrorCategory.RATE_LIMIT: "wait a moment and retry, or use another model",
    ErrorCategory.CONNECTIVITY: "check the endpoint URL and that the server is running",
    ErrorCategory.TIMEOUT: "the upstream stopped sending; retry",
    ErrorCategory.SERVER: "the upstream failed; retry",
}


def translate_openai_error(exc: Exception, provider: str) -> ProviderError:
    """Map an ``openai`` exception onto the project's error with a fix-it message."""
    if isinstance(exc, openai.APITimeoutError):
        category, status = ErrorCategory.TIMEOUT, None
    elif isinstance(exc, openai.APIConnectionError):
        category, status = ErrorCategory.CONNECTIVITY, None
    elif isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        category = _STATUS_CATEGORIES.get(
            status, ErrorCategory.SERVER if status >= 500 else ErrorCategory.BAD_REQUEST
        )
    elif isinstance(exc, openai.APIError):
        # An error object inside the stream: the upstream gave up mid-answer.
        category, status = ErrorCategory.SERVER, None
    else:
        category, status = ErrorCategory.INTERNAL, None
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = _FIX_HINTS.get(category)
    message = f"{provider}: {detail}" + (f" — {hint}." if hint else "")
    return ProviderError(message, category=category, provider=provider, status_code=status)


class OpenAIChatModel:
    """Streams a chat completion as ``ModelDelta``s; closing the iterator closes the HTTP stream."""

    def __init__(self, client: AsyncOpenAI, provider: str) -> None:
        self._client = client
        self._provider = provider

    async def stream(
        self, model: str, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ModelDelta]:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [m.to_openai() for m in messages],
        }
        if options.temperature is not None:
            kwargs["temperature"] = options.temperature
        if options.max_tokens is not None:
            kwargs[options.token_limit_field] = options.max_tokens
        if options.reasoning_effort is not None:
            kwargs["reasoning_effort"] = options.reasoning_effort
        if options.seed is not None:
            kwargs["seed"] = options.seed
        if options.top_p is not None:
            kwargs["top_p"] = options.top_p
        if options.stop:
            kwargs["stop"] = list(options.stop)
        if options.tools:
            kwargs["tools"] = list(options.tools)
        try:
            deltas = self._stream(kwargs) if options.stream else self._completed(kwargs)
            async for delta in split_thinking(deltas):
                yield delta
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc, self._provider) from exc

    async def _stream(self, kwargs: dict[str, Any]) -> AsyncGenerator[ModelDelta, None]:
        finish_reason: str | None = None
        usage: Usage | None = None
        # The client's public lower-level ``post`` rather than ``chat.completions.create``: the
        # same SDK request path (auth, Azure deployment routing, retries, status errors, SSE
        # decoding, in-stream ``error`` objects raised as ``APIError``), minus the two costs
        # that made the SDK most of the app's CPU under load: the recursive TypedDict
        # transform of a body that is already plain JSON, and building a pydantic
        # ``ChatCompletionChunk`` for every chunk, which is read once and dropped here.
        stream = await self._client.post(
            "/chat/completions",
            body={**kwargs, "stream": True, "stream_options": {"include_usage": True}},
            options={"security": {"bearer_auth": True}},
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )
        # `async with` closes the response on cancel or early exit, so Stop really stops billing.
        async with stream:
            async for chunk in stream:
                at = time.monotonic()
                if not isinstance(chunk, dict):
                    continue
                if (counts := chunk.get("usage")) is not None:
                    usage = _usage(counts)
                for choice in _dicts(chunk.get("choices")):
                    delta = choice.get("delta") or {}
                    # vLLM and DeepSeek send thinking as `reasoning_content`, llama.cpp's
                    # server, Ollama and OpenRouter as `reasoning`.
                    thinking = delta.get("reasoning_content") or delta.get("reasoning")
                    if thinking and isinstance(thinking, str):
                        yield ReasoningDelta(text=thinking, at=at)
                    content = delta.get("content")
                    if content and isinstance(content, str):
                        yield ContentDelta(text=content, at=at)
                    for position, call in enumerate(_dicts(delta.get("tool_calls"))):
                        function = call.get("function")
                        function = function if isinstance(function, dict) else None
                        index = call.get("index")
                        yield ToolCallFragment(
                            # Some compatible servers omit `index`; fall back to the position.
                            index=index if isinstance(index, int) else position,
                            at=at,
                            call_id=call.get("id"),
                            name=function.get("name") if function else None,
                            arguments=(function.get("arguments") or "") if function else "",
                        )
                    if reason := choice.get("finish_reason"):
                        finish_reason = str(reason)
        if finish_reason is None:
            raise TruncatedStreamError(self._provider)
        yield StreamEnd(finish_reason=finish_reason, at=time.monotonic(), usage=usage)

    async def _completed(self, kwargs: dict[str, Any]) -> AsyncGenerator[ModelDelta, None]:
        for delta in await self._complete(kwargs):
            yield delta

    async def _complete(self, kwargs: dict[str, Any]) -> list[ModelDelta]:
        completion = await self._client.chat.completions.create(**kwargs, stream=False)
        at = time.monotonic()
        deltas: list[ModelDelta] = []
        if not completion.choices:
            raise TruncatedStreamError(self._provider)
        choice = completion.choices[0]
        # Compatible servers' thinking arrives as extra fields the SDK keeps but does not type.
        extra = choice.message.model_extra or {}
        thinking = extra.get("reasoning_content") or extra.get("reasoning")
        if thinking and isinstance(thinking, str):
            deltas.append(ReasoningDelta(text=thinking, at=at))
        if choice.message.content:
            deltas.append(ContentDelta(text=choice.message.content, at=at))
        for index, call in enumerate(choice.message.tool_calls or ()):
            function = getattr(call, "function", None)
            if function is None:
                continue
            deltas.append(
                ToolCallFragment(
                    index=index,
                    at=at,
                    call_id=call.id,
                    name=function.name,
                    arguments=function.arguments,
                )
            )
        usage = (
            Usage(
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                total_tokens=completion.usage.total_tokens,
                cached_tokens=_cached(completion.usage.prompt_tokens_details),
                reasoning_tokens=_reasoning_tokens(completion.usage.completion_tokens_details),
            )
            if completion.usage
            else None
        )
        deltas.append(StreamEnd(finish_reason=choice.finish_reason or "stop", at=at, usage=usage))
        return deltas


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array field, tolerating a missing or null one."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _usage(counts: Any) -> Usage | None:
    if not isinstance(counts, dict):
        return None
    details = counts.get("prompt_tokens_details")
    completion = counts.get("completion_tokens_details")
    return Usage(
        prompt_tokens=int(counts.get("prompt_tokens") or 0),
        completion_tokens=int(counts.get("completion_tokens") or 0),
        total_tokens=int(counts.get("total_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
        reasoning_tokens=(
            int(completion.get("reasoning_tokens") or 0) if isinstance(completion, dict) else 0
        ),
    )


def _reasoning_tokens(details: Any) -> int:
    """Thinking tokens from the SDK's ``completion_tokens_details`` (absent on many servers)."""
    return int(getattr(details, "reasoning_tokens", None) or 0)


def _cached(details: Any) -> int:
    """Cached prompt tokens from the SDK's ``prompt_tokens_details`` (absent on many servers)."""
    return int(getattr(details, "cached_tokens", None) or 0)


# Streams one connection pool serves before another is opened beside it, and the most pools.
_STREAMS_PER_POOL = 8
_MAX_POOLS = 8
# The SDK's own default limits (per pool here).
_POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


@dataclass(eq=False)
class _Pool:
    transport: httpx2.AsyncHTTPTransport
    in_flight: int = 0


class _PooledTransport(httpx2.AsyncBaseTransport):
    """Connection pools of a few busy connections each, added as concurrency grows.

    httpcore's pool probes the socket of every idle connection whenever a request starts or a
    response closes, so one pool serving 50 concurrent streams does O(n) probes per request,
    O(n²) per burst: the largest cost left in the app's profile under load. A request goes to
    the first pool with fewer than ``_STREAMS_PER_POOL`` responses open, so light traffic stays
    on one pool and its warm connections. The pools share one TLS context (building one costs
    ~35 ms of CPU).
    """

    def __init__(self) -> None:
        self._ssl = httpx2.create_ssl_context()
        self._pools: list[_Pool] = []

    def _pick(self) -> _Pool:
        for pool in self._pools:
            if pool.in_flight < _STREAMS_PER_POOL:
                return pool
        if len(self._pools) < _MAX_POOLS:
            pool = _Pool(httpx2.AsyncHTTPTransport(verify=self._ssl, limits=_POOL_LIMITS))
            self._pools.append(pool)
            return pool
        return min(self._pools, key=lambda pool: pool.in_flight)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        pool = self._pick()
        pool.in_flight += 1
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.in_flight -= 1
            raise
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _CountedStream(response.stream, pool)
        return response

    async def aclose(self) -> None:
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.transport.aclose()


class _CountedStream(httpx2.AsyncByteStream):
    """A response body that gives its pool's slot back when closed."""

    def __init__(self, stream: httpx2.AsyncByteStream, pool: _Pool) -> None:
        self._stream = stream
        self._pool: _Pool | None = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.in_flight -= 1
            self._pool = None
        await self._stream.aclose()


class _HttpClient(openai.DefaultAsyncHttpxClient):
    """The SDK's default HTTP client, closed when garbage-collected as the SDK's own one is, so
    an evicted SDK client does not leave its pooled connections open."""

    def __del__(self) -> None:
        if self.is_closed:
            return
        with contextlib.suppress(Exception):  # no running loop: the sockets close with it
            closing = asyncio.get_running_loop().create_task(self.aclose())
            closing.add_done_callback(lambda task: task.cancelled() or task.exception())


class OpenAIClientPool:
    """Builds SDK clients on demand and keeps a few warm; ``aclose()`` at shutdown."""

    def __init__(self, *, timeout_s: float, max_clients: int = 32) -> None:
        self._timeout_s = timeout_s
        self._max_clients = max_clients
        self._clients: OrderedDict[str, AsyncOpenAI] = OrderedDict()

    def openai(self, *, api_key: str, base_url: str | None) -> AsyncOpenAI:
        key = self._cache_key("openai", api_key, base_url or "")
        return self._get(
            key,
            lambda: AsyncOpenAI(
                api_key=api_key,
                # Passed explicitly so OPENAI_BASE_URL is a deliberate choice, not an SDK default.
                base_url=base_url or "https://api.openai.com/v1",
                timeout=self._timeout(),
                max_retries=1,
                http_client=self._http_client(),
            ),
        )

    def azure(self, *, api_key: str, endpoint: str, api_version: str) -> AsyncOpenAI:
        key = self._cache_key("azure", api_key, endpoint, api_version)
        return self._get(
            key,
            lambda: AsyncAzureOpenAI(
                api_key=api_key,
                azure_endpoint=endpoint,
                api_version=api_version,
                timeout=self._timeout(),
                max_retries=1,
                http_client=self._http_client(),
            ),
        )

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.close()

    def _timeout(self) -> httpx2.Timeout:
        # The read timeout is the longest silence tolerated between two chunks of a stream.
        return httpx2.Timeout(self._timeout_s, connect=5.0)

    def _http_client(self) -> httpx2.AsyncClient:
        # The SDK's default client (redirects, proxies from the environment), over our pools;
        # the timeout is the SDK client's, applied per request.
        return _HttpClient(timeout=self._timeout(), transport=_PooledTransport())

    def _get(self, key: str, build: Any) -> AsyncOpenAI:
        client = self._clients.get(key)
        if client is None:
            client = build()
            self._clients[key] = client
            if len(self._clients) > self._max_clients:
                # Evicted clients are left to the GC rather than closed: a turn may still use one.
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return client

    @staticmethod
    def _cache_key(*parts: str) -> str:
        # Hash so raw keys are not kept as dict keys (they would show up in debug dumps).
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
