"""A loopback fake of the OpenAI HTTP API, for tests that drive the real ``openai`` SDK.

The server is a hand-written HTTP/1.1 server on raw asyncio streams rather than uvicorn/starlette:
faults such as "drop the TCP connection mid-body" and "notice the client hanging up during a
stall" need direct control of the socket, which an ASGI server deliberately hides.

    with FakeOpenAI() as fake:
        fake.enqueue(Reply(chunks=["Hi"]), Reply(fault="status", status=429))
        client = AsyncOpenAI(api_key="k", base_url=fake.base_url)

Every chat request (each SDK *retry* included) consumes one queued ``Reply``; when the queue
is empty ``fake.default_reply`` is served. Responses API requests (``POST /v1/responses``, and
Azure's ``/openai/responses``) consume the same replies, streamed as Responses events: thinking
as a reasoning summary, text as output text, tool calls as function-call items.
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
# Azure's Responses route takes no deployment; newer Azure clients use its /openai/v1/ API.
_RESPONSES_PATHS = ("/v1/responses", "/responses", "/openai/responses", "/openai/v1/responses")
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
    error_param: str | None = None  # the error object's ``param`` for fault="status"
    # Over the Responses API, how fault="error_event" fails: a ``response.failed`` event (with
    # ``error_code``), or a bare ``error`` event.
    error_event: Literal["response.failed", "error"] = "response.failed"
    error_code: str = "server_error"
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


def _error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    etype, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


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

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        with self._cond:
            return [r for r in self.requests if r.path in _RESPONSES_PATHS]

    def enqueue(self, *replies: Reply) -> None:
        with self._cond:
            self._queue.extend(replies)

    def forget_replies(self) -> None:
        """Drop the replies queued or keyed by a test, so none is left for the next one."""
        with self._cond:
            self._queue.clear()
            self.replies_for.clear()

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
        if method == "POST" and url.path in _RESPONSES_PATHS:
            self._open_chats(+1)
            try:
                return (
                    await self._responses(reader, writer, body if isinstance(body, dict) else {})
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
            await _send_status_fault(writer, reply)
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
        return await self._until_sent_or_hung_up(reader, sender)

    async def _until_sent_or_hung_up(
        self, reader: asyncio.StreamReader, sender: asyncio.Task[bool]
    ) -> bool:
        """Wait for a streaming body to be written, noticing a client that hangs up first."""
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

    async def _responses(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: dict[str, Any]
    ) -> bool:
        reply = self._next_reply(body)
        model = str(body.get("model") or "fake-model")
        rid = f"resp_fake{next(self._ids)}"
        await asyncio.sleep(reply.first_delay)
        if reply.fault == "status":
            await _send_status_fault(writer, reply)
            return True
        if not body.get("stream"):
            if reply.fault == "drop":
                return False
            if reply.fault == "stall":
                await asyncio.Event().wait()  # until the server stops
            await asyncio.sleep(reply.delay * len(reply.chunks))
            response = _Response(reply, rid, model, body)
            await _send_json(writer, 200, response.final())
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            b"x-request-id: req_" + rid.encode() + b"\r\n\r\n"
        )
        response = _Response(reply, rid, model, body)
        sender = asyncio.create_task(self._stream_response(writer, response))
        return await self._until_sent_or_hung_up(reader, sender)

    async def _stream_response(self, writer: asyncio.StreamWriter, response: _Response) -> bool:
        """Write a Responses SSE body in the real API's order; False means we dropped the
        connection on purpose. Faults, gates and delays count payload events (text and
        function-call argument deltas) as chat chunks are counted."""
        reply = response.reply
        events = _ResponseEvents()
        await _send_chunk(writer, events.frame("response.created", response=response.snapshot()))
        await _send_chunk(
            writer, events.frame("response.in_progress", response=response.snapshot())
        )
        if reply.reasoning:
            opening, deltas, closing = events.reasoning(response)
            for data in opening:
                await _send_chunk(writer, data)
            pause = reply.thinking_s / len(deltas)
            for n, data in enumerate(deltas):
                await _send_chunk(writer, data, pause if n else 0.0)
            await asyncio.sleep(pause)
            for data in closing:
                await _send_chunk(writer, data)
        frames = events.answer(response)
        payloads = sum(1 for _, payload in frames if payload)
        cut = payloads if reply.fault in (None, "eof_no_done") else reply.fault_after
        n = 0
        for data, payload in frames:
            if payload:
                if n == cut:
                    break
                if reply.gate is not None and n == reply.gate_after:
                    await asyncio.to_thread(reply.gate.wait, GATE_TIMEOUT_S)
                await _send_chunk(writer, data, reply.delay if n else 0.0)
                n += 1
            else:
                await _send_chunk(writer, data)
        if reply.fault == "drop":
            writer.transport.close()  # FIN mid chunked body: the SDK sees an incomplete read
            return False
        if reply.fault == "stall":
            await asyncio.Event().wait()  # until the client leaves or the server stops
        if reply.fault == "error_event":
            await asyncio.sleep(reply.delay)
            if reply.error_event == "error":
                last = events.frame(
                    "error",
                    code=reply.error_code,
                    message="Fake mid-stream failure",
                    param=None,
                )
            else:
                error = {"code": reply.error_code, "message": "Fake mid-stream failure"}
                last = events.frame(
                    "response.failed", response=response.snapshot("failed", error=error)
                )
        elif reply.fault == "eof_no_done":
            last = b""  # a clean end with no response.completed
        else:
            await asyncio.sleep(reply.delay)
            final = response.final()
            incomplete = final["status"] == "incomplete"
            name = "response.incomplete" if incomplete else "response.completed"
            last = events.frame(name, response=final)
        # Counted before the last write so the count is already up when the client sees the end.
        self._count("completed_streams")
        writer.write((b"%x\r\n%s\r\n" % (len(last), last) if last else b"") + b"0\r\n\r\n")
        await writer.drain()
        return True


def _last_message(body: dict[str, Any] | None) -> str:
    if body is not None and "input" in body and "messages" not in body:
        return _last_input(body["input"])
    messages = (body or {}).get("messages") or [{}]
    content = messages[-1].get("content")
    return content if isinstance(content, str) else ""


def _last_input(items: Any) -> str:
    """The text of a Responses request's last input item (a tool result's output included)."""
    if isinstance(items, str):
        return items
    last = items[-1] if isinstance(items, list) and items else {}
    if not isinstance(last, dict):
        return ""
    content = last.get("content", last.get("output"))
    if isinstance(content, list):  # input_text parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
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


async def _send_status_fault(writer: asyncio.StreamWriter, reply: Reply) -> None:
    # openai only honours a delay > 0 (0 falls back to ~0.5 s backoff) and reads
    # retry-after-ms first, so the 1 ms header is what actually makes retries quick.
    extra = {"retry-after": "0", "retry-after-ms": "1"} if reply.status == 429 else {}
    body = _error_body(reply.status, f"Fake error {reply.status}", reply.error_param)
    await _send_json(writer, reply.status, body, extra)


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes, pause: float = 0.0) -> None:
    """One HTTP chunk of a streaming body, after ``pause`` seconds."""
    if pause:
        await asyncio.sleep(pause)
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    if writer.transport.is_closing():
        raise ConnectionResetError
    await writer.drain()


def _call_id(tc: ToolCallSpec, index: int, rid: str) -> str:
    return tc.call_id or f"call_fake{index}_{rid[-6:]}"


def _responses_usage(usage: tuple[int, int], cached: int, reasoning: int) -> dict[str, Any]:
    prompt, completion = usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


@dataclass
class _Response:
    """One Responses API answer to ``body``: its output items and the response object."""

    reply: Reply
    rid: str
    model: str
    body: dict[str, Any]
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def text(self) -> str:
        return "".join(self.reply.chunks)

    def reasoning_item(self, summary: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": f"rs_{self.rid}", "type": "reasoning", "summary": summary}

    def message_item(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": f"msg_{self.rid}",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def call_item(self, index: int, status: str, arguments: str) -> dict[str, Any]:
        tc = self.reply.tool_calls[index]
        return {
            "id": f"fc_{index}_{self.rid}",
            "type": "function_call",
            "status": status,
            "call_id": _call_id(tc, index, self.rid),
            "name": tc.name,
            "arguments": arguments,
        }

    def output(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if self.reply.reasoning:
            summary = "".join(self.reply.reasoning)
            items.append(self.reasoning_item([{"type": "summary_text", "text": summary}]))
        if self.reply.chunks:
            text = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
            items.append(self.message_item("completed", [text]))
        items += [
            self.call_item(i, "completed", tc.arguments)
            for i, tc in enumerate(self.reply.tool_calls)
        ]
        return items

    def snapshot(
        self, status: str = "in_progress", *, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The response object as the stream shows it before the end: no output yet."""
        body = self.body
        asked = body.get("reasoning")
        reasoning: dict[str, Any] = asked if isinstance(asked, dict) else {}
        return {
            "id": self.rid,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": self.model,
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {
                "effort": reasoning.get("effort"),
                "summary": reasoning.get("summary"),
            },
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": {},
        }

    def final(self) -> dict[str, Any]:
        """The finished response: ``incomplete`` for finish_reason length/content_filter."""
        reply = self.reply
        reason = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(
            reply.finish_reason or ""
        )
        response = self.snapshot("incomplete" if reason else "completed")
        response["incomplete_details"] = {"reason": reason} if reason else None
        response["output"] = self.output()
        if reply.usage is not None:
            response["usage"] = _responses_usage(
                reply.usage, reply.cached_tokens, reply.reasoning_tokens
            )
        return response


class _ResponseEvents:
    """Builds Responses SSE frames (``event:`` + ``data:``), numbering them in order."""

    def __init__(self) -> None:
        self._sequence = itertools.count()

    def frame(self, kind: str, /, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": next(self._sequence), **fields}
        return (
            b"event: "
            + kind.encode()
            + b"\ndata: "
            + json.dumps(data, separators=(",", ":")).encode()
            + b"\n\n"
        )

    def reasoning(self, response: _Response) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """The reasoning item's frames: opening, one summary delta per thinking piece, closing."""
        item_id, summary = f"rs_{response.rid}", "".join(response.reply.reasoning)
        at = {"item_id": item_id, "output_index": 0, "summary_index": 0}
        opening = [
            self.frame(
                "response.output_item.added", output_index=0, item=response.reasoning_item([])
            ),
            self.frame(
                "response.reasoning_summary_part.added",
                **at,
                part={"type": "summary_text", "text": ""},
            ),
        ]
        deltas = [
            self.frame("response.reasoning_summary_text.delta", **at, delta=piece)
            for piece in response.reply.reasoning
        ]
        done = [{"type": "summary_text", "text": summary}]
        closing = [
            self.frame("response.reasoning_summary_text.done", **at, text=summary),
            self.frame("response.reasoning_summary_part.done", **at, part=done[0]),
            self.frame(
                "response.output_item.done", output_index=0, item=response.reasoning_item(done)
            ),
        ]
        return opening, deltas, closing

    def answer(self, response: _Response) -> list[tuple[bytes, bool]]:
        """The message and function-call items' frames, each marked True when it is payload."""
        reply = response.reply
        index = 1 if reply.reasoning else 0
        frames: list[tuple[bytes, bool]] = []
        if reply.chunks:
            item_id = f"msg_{response.rid}"
            at = {"item_id": item_id, "output_index": index, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            whole = {**empty, "text": response.text}
            frames += [
                (
                    self.frame(
                        "response.output_item.added",
                        output_index=index,
                        item=response.message_item("in_progress", []),
                    ),
                    False,
                ),
                (self.frame("response.content_part.added", **at, part=empty), False),
            ]
            frames += [
                (self.frame("response.output_text.delta", **at, delta=c, logprobs=[]), True)
                for c in reply.chunks
            ]
            frames += [
                (
                    self.frame("response.output_text.done", **at, text=response.text, logprobs=[]),
                    False,
                ),
                (self.frame("response.content_part.done", **at, part=whole), False),
                (
                    self.frame(
                        "response.output_item.done",
                        output_index=index,
                        item=response.message_item("completed", [whole]),
                    ),
                    False,
                ),
            ]
            index += 1
        for i, tc in enumerate(reply.tool_calls):
            item_id = f"fc_{i}_{response.rid}"
            at = {"item_id": item_id, "output_index": index}
            frames.append(
                (
                    self.frame(
                        "response.output_item.added",
                        output_index=index,
                        item=response.call_item(i, "in_progress", ""),
                    ),
                    False,
                )
            )
            frames += [
                (self.frame("response.function_call_arguments.delta", **at, delta=piece), True)
                for piece in _split(tc.arguments, tc.fragments)
            ]
            frames += [
                (
                    self.frame(
                        "response.function_call_arguments.done",
                        **at,
                        name=tc.name,
                        arguments=tc.arguments,
                    ),
                    False,
                ),
                (
                    self.frame(
                        "response.output_item.done",
                        output_index=index,
                        item=response.call_item(i, "completed", tc.arguments),
                    ),
                    False,
                ),
            ]
            index += 1
        return frames


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
