"""A loopback fake of the OpenAI HTTP API, for tests that drive the real ``openai`` SDK.

The server is a hand-written HTTP/1.1 server on raw asyncio streams rather than uvicorn/starlette:
faults such as "drop the TCP connection mid-body" and "notice the client hanging up during a
stall" need direct control of the socket, which an ASGI server deliberately hides.

    with FakeOpenAI() as fake:
        fake.enqueue(Reply(chunks=["Hi"]), Reply(fault="status", status=429))
        client = AsyncOpenAI(api_key="k", base_url=fake.base_url)

Every chat request (each SDK *retry* included) consumes one queued ``Reply``; when the queue
is empty ``fake.default_reply`` is served.
"""

from __future__ import annotations

import asyncio
import http
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Fault = Literal["drop", "error_event", "eof_no_done", "stall", "status"]

_AZURE_CHAT = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
# (type, code) pairs as the real API uses them, so SDK error objects look familiar.
_ERROR_KINDS = {
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
}
_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


@dataclass
class ToolCallSpec:
    name: str
    arguments: str
    call_id: str | None = None
    fragments: int = 3
    omit_index: bool = False  # mimics compat servers that leave out tool_call.index


GATE_TIMEOUT_S = 60.0


@dataclass
class Reply:
    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake", "."])
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    finish_reason: str | None = None
    usage: tuple[int, int] | None = (12, 5)
    cached_tokens: int = 0  # of the prompt tokens, served from the prompt cache
    # A reasoning model: these thinking deltas stream before the content, under
    # ``reasoning_field`` (vLLM/DeepSeek: reasoning_content; llama.cpp/Ollama: reasoning), and
    # the first content chunk leaves ``thinking_s`` after the first thinking delta.
    reasoning: list[str] = field(default_factory=list)
    reasoning_field: str = "reasoning_content"
    thinking_s: float = 0.0
    reasoning_tokens: int = 0
    delay: float = 0.0
    first_delay: float = 0.0
    fault: Fault | None = None
    fault_after: int = 2  # counts payload chunks (content + tool-call), not the role chunk
    status: int = 500
    # Synchronisation instead of timing: payload chunks from index ``gate_after`` on wait until
    # the test sets ``gate`` (at most ``GATE_TIMEOUT_S``), so "X happens before the text ends"
    # holds however slow the machine is.
    gate: threading.Event | None = None
    gate_after: int = 0


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def _split(text: str, pieces: int) -> list[str]:
    # Cut points land wherever the arithmetic says, i.e. inside keys, strings and escapes,
    # which is exactly what real servers do to JSON arguments.
    pieces = max(1, min(pieces, len(text)))
    cuts = [round(len(text) * i / pieces) for i in range(pieces + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _usage(usage: tuple[int, int], cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    prompt, completion = usage
    details = {
        "reasoning_tokens": reasoning,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": details,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
    }


def _error_body(status: int, message: str) -> dict[str, Any]:
    etype, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class FakeOpenAI:
    """Real HTTP server on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(self) -> None:
        self.default_reply = Reply()
        self.model_ids: list[str] = ["fake-model", "gpt-4o-mini"]
        # Fault injection for /v1/moderations: None answers normally; a status answers that
        # error (404 is what llama.cpp and other compatible servers without the route say).
        self.moderation_status: int | None = None
        # Replies chosen by the request's last message (a key found in it), not consumed: for
        # concurrent turns, whose order of arrival is not the order they were started in.
        self.replies_for: dict[str, Reply] = {}
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        # Chat requests being answered now, and the most there have been at once.
        self.open_chats = 0
        self.most_open_chats = 0
        self.completed_streams = 0
        self._queue: deque[Reply] = deque()
        self._cond = threading.Condition()
        self._waited = 0
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._conns: set[asyncio.Task[Any]] = set()

    # -- public API ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._sock is not None, "server not started"
        return int(self._sock.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._cond:
            return [r for r in self.requests if _is_chat(r.path)]

    def enqueue(self, *replies: Reply) -> None:
        with self._cond:
            self._queue.extend(replies)

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """Block until one more client disconnect than already waited for has been seen.

        Each successful call "uses up" one disconnect, so two early closes need two calls.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self.disconnects > self._waited, timeout):
                return False
            self._waited += 1
            return True

    # Same parameter name as the sync twin on purpose, hence the noqa.
    async def wait_for_disconnect_async(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Same as wait_for_disconnect, without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for_disconnect, timeout)

    def start(self) -> FakeOpenAI:
        # Binding here (not in the thread) makes the port known before start() returns.
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._run, name="FakeOpenAI", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("FakeOpenAI did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server plumbing -------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self._sock)
        self._ready.set()
        await self._stop.wait()
        server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        # Small SSE writes must leave at once (no Nagle delay), as from a real streaming server.
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._one_request(reader, writer):
                pass
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass  # client went away, or sent something this small parser does not handle
        except asyncio.CancelledError:
            # Only stop() cancels us. Swallowing it matters on 3.11, where asyncio's
            # connection callback calls task.exception() on a cancelled task and logs a traceback.
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False means the connection should be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # idle keep-alive connection closed by the client
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip()
            for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
        }
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        url = urlsplit(target)
        with self._cond:
            self.requests.append(
                RecordedRequest(method, url.path, dict(parse_qsl(url.query)), headers, body)
            )
        keep = headers.get("connection", "").lower() != "close"
        if method == "POST" and _is_chat(url.path):
            self._open_chats(+1)
            try:
                return (
                    await self._chat(reader, writer, body if isinstance(body, dict) else {})
                    and keep
                )
            finally:
                self._open_chats(-1)
        if method == "POST" and url.path == "/v1/moderations":
            if self.moderation_status is not None:
                status = self.moderation_status
                quick = {"retry-after": "0", "retry-after-ms": "1"}  # SDK retries stay fast
                await _send_json(writer, status, _error_body(status, f"Fake error {status}"), quick)
            else:
                await _send_json(writer, 200, _moderation(body))
        elif method == "GET" and url.path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for m in self.model_ids
            ]
            await _send_json(writer, 200, {"object": "list", "data": data})
        else:
            await _send_json(writer, 404, _error_body(404, f"No route {method} {url.path}"))
        return keep

    def _next_reply(self, body: dict[str, Any] | None = None) -> Reply:
        with self._cond:
            last = _last_message(body)
            for key, reply in self.replies_for.items():
                if key in last:
                    return reply
            return self._queue.popleft() if self._queue else self.default_reply

    def _open_chats(self, change: int) -> None:
        with self._cond:
            self.open_chats += change
            self.most_open_chats = max(self.most_open_chats, self.open_chats)

    def _count(self, attr: str) -> None:
        with self._cond:
            setattr(self, attr, getattr(self, attr) + 1)
            self._cond.notify_all()

    async def _chat(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: dict[str, Any]
    ) -> bool:
        reply = self._next_reply(body)
        model = str(body.get("model") or "fake-model")
        cid = f"chatcmpl-fake{next(self._ids)}"
        await asyncio.sleep(reply.first_delay)
        if reply.fault == "status":
            # openai only honours a delay > 0 (0 falls back to ~0.5 s backoff) and reads
            # retry-after-ms first, so the 1 ms header is what actually makes retries quick.
            extra = {"retry-after": "0", "retry-after-ms": "1"} if reply.status == 429 else {}
            await _send_json(
                writer, reply.status, _error_body(reply.status, f"Fake error {reply.status}"), extra
            )
            return True
        if not body.get("stream"):
            if reply.fault == "drop":
                return False
            if reply.fault == "stall":
                await asyncio.Event().wait()  # until the server stops
            # A complete answer arrives when generation would have finished streaming.
            await asyncio.sleep(reply.delay * len(reply.chunks))
            await _send_json(writer, 200, _completion(reply, cid, model))
            return True
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            b"x-request-id: req_" + cid.encode() + b"\r\n\r\n"
        )
        sender = asyncio.create_task(self._stream(writer, reply, cid, model, include_usage))
        # httpx never pipelines, so any read result during a stream means the peer hung up.
        watcher = asyncio.create_task(reader.read(1))
        try:
            await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also runs when the server stops and cancels this connection
            for task in (sender, watcher):
                task.cancel()
            await asyncio.gather(sender, watcher, return_exceptions=True)
        if sender.cancelled() or isinstance(sender.exception(), ConnectionError):
            self._count("disconnects")
            return False
        if exc := sender.exception():
            raise exc
        return sender.result()

    async def _stream(
        self, writer: asyncio.StreamWriter, reply: Reply, cid: str, model: str, include_usage: bool
    ) -> bool:
        """Write the SSE body; False means we dropped the connection on purpose."""
        created = int(time.time())

        def frame(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
            return _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": None,
                    "choices": choices,
                    "usage": usage,
                }
            )

        def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
            return frame([{"index": 0, "delta": d, "finish_reason": finish, "logprobs": None}])

        thinking = [delta({reply.reasoning_field: r, "content": None}) for r in reply.reasoning]
        payload = [delta({"content": c}) for c in reply.chunks]
        for i, tc in enumerate(reply.tool_calls):
            idx = {} if tc.omit_index else {"index": i}
            payload.append(
                delta(
                    {
                        "tool_calls": [
                            {
                                **idx,
                                "id": tc.call_id or f"call_fake{i}_{cid[-6:]}",
                                "type": "function",
                                "function": {"name": tc.name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            payload += [
                delta({"tool_calls": [{**idx, "function": {"arguments": piece}}]})
                for piece in _split(tc.arguments, tc.fragments)
            ]

        async def send(data: bytes, pause: float) -> None:
            if pause:  # skipping sleep(0) keeps a 2,000-chunk burst cheap
                await asyncio.sleep(pause)
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            if writer.transport.is_closing():
                raise ConnectionResetError
            await writer.drain()

        await send(delta({"role": "assistant", "content": ""}), 0.0)
        for n, data in enumerate(thinking):
            await send(data, reply.thinking_s / len(thinking) if n else 0.0)
        if thinking:
            await asyncio.sleep(reply.thinking_s / len(thinking))
        cut = len(payload) if reply.fault in (None, "eof_no_done") else reply.fault_after
        for n, data in enumerate(payload[:cut]):
            if reply.gate is not None and n == reply.gate_after:
                await asyncio.to_thread(reply.gate.wait, GATE_TIMEOUT_S)
            await send(data, reply.delay if n else 0.0)
        if reply.fault == "drop":
            writer.transport.close()  # FIN mid chunked body: the SDK sees an incomplete read
            return False
        if reply.fault == "stall":
            await asyncio.Event().wait()  # until the client leaves or the server stops
        last = b"data: [DONE]\n\n"
        if reply.fault == "error_event":
            await asyncio.sleep(reply.delay)
            last = _sse(
                {
                    "error": {
                        "message": "Fake mid-stream failure",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
            )
        elif reply.fault == "eof_no_done":
            last = b""
        else:
            finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
            await send(delta({}, finish), reply.delay)
            if include_usage and reply.usage is not None:
                usage = _usage(reply.usage, reply.cached_tokens, reply.reasoning_tokens)
                await send(frame([], usage), 0.0)
        # Counted before the last write so the count is already up when the client sees the end.
        self._count("completed_streams")
        writer.write((b"%x\r\n%s\r\n" % (len(last), last) if last else b"") + b"0\r\n\r\n")
        await writer.drain()
        return True


def _last_message(body: dict[str, Any] | None) -> str:
    messages = (body or {}).get("messages") or [{}]
    content = messages[-1].get("content")
    return content if isinstance(content, str) else ""


def _is_chat(path: str) -> bool:
    return path in _CHAT_PATHS or _AZURE_CHAT.match(path) is not None


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def _send_json(
    writer: asyncio.StreamWriter, status: int, obj: Any, extra: dict[str, str] | None = None
) -> None:
    data = json.dumps(obj).encode()
    head = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
    head += f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (extra or {}).items())
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()


def _completion(reply: Reply, cid: str, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(reply.chunks) or None,
        "refusal": None,
    }
    if reply.reasoning:
        message[reply.reasoning_field] = "".join(reply.reasoning)
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": tc.call_id or f"call_fake{i}_{cid[-6:]}",
                "type": "function",
                "function": {"name": tc.name, "arguments": tc.arguments},
            }
            for i, tc in enumerate(reply.tool_calls)
        ]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": (
            _usage(reply.usage, reply.cached_tokens, reply.reasoning_tokens)
            if reply.usage
            else None
        ),
    }


def _moderation(body: Any) -> dict[str, Any]:
    raw = body.get("input", "") if isinstance(body, dict) else ""
    items = raw if isinstance(raw, list) else [raw]
    results = []
    for item in items:
        text = item.get("text", "") if isinstance(item, dict) else str(item)
        flagged = "FLAGME" in text
        results.append(
            {
                "flagged": flagged,
                "categories": {c: flagged and c == "harassment" for c in _MODERATION_CATEGORIES},
                "category_scores": {
                    c: 0.97 if flagged and c == "harassment" else 0.0001
                    for c in _MODERATION_CATEGORIES
                },
                "category_applied_input_types": {c: ["text"] for c in _MODERATION_CATEGORIES},
            }
        )
    model = body.get("model") if isinstance(body, dict) else None
    return {"id": "modr-fake", "model": model or "omni-moderation-latest", "results": results}
