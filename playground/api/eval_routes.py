"""Evals over HTTP: ``POST /v1/evals`` streams an eval's results, ``GET /v1/evals/{id}`` returns
what an eval stored.

A bad case, configuration or assertion is a 422 naming the field before the stream starts. The
eval runs on its own task and its frames are kept, so the stream only follows it; when the
client goes away the eval gets the turns' grace period and is then stopped (its turns in flight
close their upstreams, what finished is kept). Evals are kept per caller, bounded in number:
another caller's eval id is unknown to you. With Redis (``PLAYGROUND_REDIS_URL``) every replica
reads and cancels an eval any replica runs (``state.redis_evals``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from playground.api.errors import SSE_RESPONSES, error_response, read_json, validation_error
from playground.api.limits import make_limiter
from playground.api.sse import SSE_HEADERS, DisconnectAwareStreamingResponse, sse_frame
from playground.api.turn_frames import KEEPALIVE
from playground.errors import ConfigError
from playground.evals.compare import compare_evals
from playground.evals.files import results_csv
from playground.evals.record import EvalRecord, settings_of
from playground.evals.request import EvalRequest
from playground.evals.results import CaseResult
from playground.evals.run import EvalEnded, EvalEvent, EvalRun, EvalStarted
from playground.prompts.store import InvalidPromptError
from playground.services import Services
from playground.state.redis_evals import SharedEval, SharedEvals
from playground.turn.gate import Limiter, TurnGate, TurnRefused
from playground.turn.runner import TurnRunner

__all__ = ["MAX_RUNNING_EVALS", "EvalStore", "add_eval_routes", "eval_payload", "results_csv"]

Guard = Callable[[Request], JSONResponse | None]
ClientOf = Callable[[Request], str]
_KEPT_EVALS = 100
# Each run of an eval passes the client's limits, but an eval waiting on them still holds a task
# and its request: a client may have this many running at once.
MAX_RUNNING_EVALS = 2
_NO_RATE = 1_000_000  # evals a minute: not limited as such (each run is a turn, which is)


def eval_payload(event: EvalEvent) -> tuple[str, dict[str, Any]]:
    """One eval event as the API sends it: its SSE event name and JSON data."""
    match event:
        case EvalStarted():
            return "eval-start", asdict(event)
        case CaseResult():
            return "case-result", _result(event)
        case EvalEnded():
            return "eval-end", {
                "summary": [asdict(s) for s in event.summary],
                "finished": event.finished,
                "runs": event.runs,
                "stopped": event.stopped,
                "changed": [asdict(c) for c in event.changed],
                "streaming_variance": (
                    asdict(event.streaming_variance) if event.streaming_variance else None
                ),
            }


def _result(result: CaseResult) -> dict[str, Any]:
    return {
        "case": result.case,
        "configuration": result.configuration,
        "repeat": result.repeat,
        "text": result.text,
        "passed": result.passed,
        "assertions": [asdict(a) for a in result.assertions],
        "finish_reason": result.finish_reason,
        "timing": asdict(result.timing) if result.timing is not None else None,
        "usage": asdict(result.usage) if result.usage is not None else None,
        "cost": asdict(result.cost) if result.cost is not None else None,
        "error": result.error,
    }


@dataclass(eq=False)
class _KeptEval:
    run: EvalRun
    owner: str
    frames: list[bytes] = field(default_factory=list)
    payloads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    done: bool = False
    ending: bool = False  # its last events are in: its end is being written
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _grace: asyncio.TimerHandle | None = None

    def add(self, name: str, data: dict[str, Any]) -> None:
        self.payloads.append((name, data))
        self.frames.append(sse_frame(name, data, len(self.frames)))
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout_s: float) -> bool:
        changed = self._changed
        try:
            async with asyncio.timeout(timeout_s):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    def stop_after(self, grace_s: float) -> None:
        if not self.done:
            self._grace = asyncio.get_running_loop().call_later(grace_s, self.run.stop)

    def followed(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def shared(self) -> SharedEval:
        """What this replica shows of it (and writes for the others, with Redis)."""
        return SharedEval(*self.snapshot())

    def snapshot(self) -> tuple[dict[str, Any], EvalRecord]:
        return self.stored(), self.record()

    def record(self) -> EvalRecord:
        request = self.run.request
        return EvalRecord(
            eval_id=self.run.eval_id,
            cases=request.cases,
            labels=tuple(
                f"{n}: {c.model or 'default model'}"
                for n, c in enumerate(request.configurations, 1)
            ),
            results=tuple(self.run.results),
            runs=request.runs,
            stopped=self.run.stopped,
            settings=tuple(settings_of(c) for c in request.configurations),
        )

    def stored(self) -> dict[str, Any]:
        """What ``GET /v1/evals/{id}`` answers: the request's shape, the status, the results."""
        results = [data for name, data in self.payloads if name == "case-result"]
        ended = next((data for name, data in self.payloads if name == "eval-end"), None)
        over = self.done or self.ending
        status = "running" if not over else ("stopped" if self.run.stopped else "finished")
        request = self.run.request
        return {
            "eval_id": self.run.eval_id,
            "status": status,
            "cases": len(request.cases),
            "configurations": [
                c.model_dump(exclude={"message"}, exclude_unset=True)
                for c in request.configurations
            ],
            "repeat": request.repeat,
            "runs": request.runs,
            "results": results,
            "summary": ended["summary"] if ended is not None else None,
            "changed": ended["changed"] if ended is not None else None,
            "streaming_variance": ended["streaming_variance"] if ended is not None else None,
        }


class EvalStore:
    """The evals of every caller, the newest ``max_evals`` (running ones are never dropped)."""

    def __init__(
        self,
        running: Limiter,
        max_evals: int = _KEPT_EVALS,
        shared: SharedEvals | None = None,
    ) -> None:
        self._evals: OrderedDict[str, _KeptEval] = OrderedDict()
        self._max = max_evals
        # How many evals each caller runs at once (across replicas, with Redis).
        self.running = running
        self.shared = shared  # the evals of every replica, with Redis

    def start(self, kept: _KeptEval) -> None:
        """Run ``kept``, which ``running`` admitted (released when it ends)."""
        self._evals[kept.run.eval_id] = kept
        ended = partial(self.running.release, kept.owner)
        kept.task = asyncio.create_task(_record(kept, self.shared, ended))
        for eval_id in [i for i, e in self._evals.items() if e.done]:
            if len(self._evals) <= self._max:
                break
            del self._evals[eval_id]

    def find(self, eval_id: str, owner: str) -> _KeptEval | None:
        kept = self._evals.get(eval_id)
        return kept if kept is not None and kept.owner == owner else None

    async def aclose(self) -> None:
        """Stop every running eval and wait for it to record its end."""
        running = [e for e in self._evals.values() if not e.done and e.task is not None]
        for kept in running:
            kept.run.stop()
        tasks = [e.task for e in running if e.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
        if self.shared is not None:
            await self.shared.aclose()


async def _record(kept: _KeptEval, shared: SharedEvals | None, ended: Callable[[], None]) -> None:
    run = kept.run
    published = (
        await shared.started(run.eval_id, kept.owner, run.stop, kept.snapshot)
        if shared is not None
        else None
    )
    try:
        async for event in run.events():
            kept.add(*eval_payload(event))
            if published is not None:
                published.changed()
    except Exception as exc:  # noqa: BLE001 - an eval never dies silently
        kept.run.stop()
        kept.add("error", {"code": "internal", "message": f"{type(exc).__name__}: {exc}"})
        kept.add("eval-end", {"summary": [], "finished": 0, "runs": 0, "stopped": True})
    finally:
        # The other replicas get its last state before its stream's end goes out: a client
        # that read the end finds the eval ended through any replica.
        kept.ending = True
        try:
            if published is not None:
                await published.close()
        finally:
            kept.add("end", {})
            kept.finish()
            ended()


def _too_many(message: str, retry_after: int = 5) -> JSONResponse:
    response = error_response(429, "rate_limited", message)
    response.headers["Retry-After"] = str(retry_after)
    return response


class _EvalRoutes:
    def __init__(
        self,
        services: Services,
        runner: TurnRunner,
        gate: TurnGate,
        unauthorized: Guard,
        client_of: ClientOf,
        shared: SharedEvals | None,
    ) -> None:
        self.services = services
        self.runner = runner
        self.gate = gate
        self.unauthorized = unauthorized
        self.client_of = client_of
        running = make_limiter(
            services.settings, "evals", per_minute=_NO_RATE, max_concurrent=MAX_RUNNING_EVALS
        )
        self.store = EvalStore(running, shared=shared)

    async def start(self, request: Request) -> Any:
        if (denied := self.unauthorized(request)) is not None:
            return denied
        settings = self.services.settings
        data = await read_json(request, settings.playground_max_body_bytes)
        if isinstance(data, JSONResponse):
            return data
        if not isinstance(data, dict):
            return error_response(
                422, "invalid_request", "the body must be a JSON object", "(body)"
            )
        client = self.client_of(request)
        try:
            body = EvalRequest.model_validate(data)
            run = EvalRun(
                body, self.runner, self.services.server_credentials, client, gate=self.gate
            )
            run.check()
        except ValidationError as exc:
            return validation_error(exc)
        except InvalidPromptError as exc:
            return error_response(422, "invalid_prompt", exc.message, exc.field)
        except ConfigError as exc:
            return error_response(422, "invalid_request", exc.message, exc.field)
        try:
            busy = self.store.running.admit(client) is not None
        except TurnRefused as exc:  # the shared count cannot be reached
            return _too_many(exc.message, exc.retry_after)
        if busy:
            return _too_many(
                f"{MAX_RUNNING_EVALS} evals of yours are running; wait for one to end or cancel it"
            )
        kept = _KeptEval(run=run, owner=client)
        self.store.start(kept)
        return DisconnectAwareStreamingResponse(
            self._follow(kept), media_type="text/event-stream", headers=SSE_HEADERS
        )

    async def _follow(self, kept: _KeptEval) -> AsyncIterator[bytes]:
        settings = self.services.settings
        position = 0
        kept.followed()
        try:
            while True:
                if position < len(kept.frames):
                    batch = kept.frames[position:]
                    position += len(batch)
                    yield b"".join(batch)
                    continue
                if kept.done:
                    return
                if not await kept.changed(settings.playground_keepalive_s):
                    yield KEEPALIVE
        finally:
            # Gone before the end: the eval gets the turns' grace, then stops.
            kept.stop_after(settings.playground_resume_grace_s)

    async def _find(
        self, request: Request, eval_id: str, field: str = "eval_id"
    ) -> _KeptEval | SharedEval | JSONResponse:
        """The caller's eval: run here, else (with Redis) as the replica running it wrote it."""
        if (denied := self.unauthorized(request)) is not None:
            return denied
        client = self.client_of(request)
        found: _KeptEval | SharedEval | None = self.store.find(eval_id, client)
        if found is None and self.store.shared is not None:
            found = await self.store.shared.find(eval_id, client)
        if found is None:
            return error_response(
                404, "unknown_eval", f"no eval {eval_id[:64]!r} (or it expired)", field
            )
        return found

    async def _shown(
        self, request: Request, eval_id: str, field: str = "eval_id"
    ) -> SharedEval | JSONResponse:
        found = await self._find(request, eval_id, field)
        return found.shared() if isinstance(found, _KeptEval) else found

    async def get(self, request: Request, eval_id: str) -> Any:
        shown = await self._shown(request, eval_id)
        return shown.stored if isinstance(shown, SharedEval) else shown

    async def cancel(self, request: Request, eval_id: str) -> Any:
        found = await self._find(request, eval_id)
        if isinstance(found, JSONResponse):
            return found
        if isinstance(found, _KeptEval) and not found.done:
            found.run.stop()
            return {"eval_id": eval_id, "status": "stopping"}
        shared = self.store.shared
        # Run by another replica: it stops it, as it would its own cancel.
        if isinstance(found, SharedEval) and not found.done and shared is not None:
            stopping = await shared.cancel(eval_id)
            return {"eval_id": eval_id, "status": "stopping" if stopping else "finished"}
        return {"eval_id": eval_id, "status": "finished"}

    async def results_csv(self, request: Request, eval_id: str) -> Any:
        shown = await self._shown(request, eval_id)
        if not isinstance(shown, SharedEval):
            return shown
        return Response(
            results_csv(shown.record.results),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{eval_id}.csv"'},
        )

    async def compare(self, request: Request, eval_id: str, before_id: str) -> Any:
        after = await self._shown(request, eval_id)
        if not isinstance(after, SharedEval):
            return after
        before = await self._shown(request, before_id, "before_id")
        if not isinstance(before, SharedEval):
            return before
        old, new = before.record, after.record
        if not new.same_test_set(old):
            return error_response(
                422,
                "not_comparable",
                "the two evals ran different cases or a different number of configurations",
                "before_id",
            )
        comparison = compare_evals(old.results, new.results, len(new.cases), len(new.labels))
        return {"eval_id": eval_id, "before_id": before_id, **asdict(comparison)}


def add_eval_routes(
    router: APIRouter,
    services: Services,
    runner: TurnRunner,
    gate: TurnGate,
    unauthorized: Guard,
    client_of: ClientOf,
    shared: SharedEvals | None = None,
) -> EvalStore:
    """Add the eval routes; the store is returned so the server can stop running evals.
    ``shared``: the evals of every replica (with Redis)."""
    routes = _EvalRoutes(services, runner, gate, unauthorized, client_of, shared)
    router.add_api_route(
        "/v1/evals",
        routes.start,
        methods=["POST"],
        summary="Run test cases against 1-4 configurations; stream each result as it finishes",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": EvalRequest.model_json_schema(
                            ref_template="#/components/schemas/{model}"
                        )
                    }
                },
            }
        },
        response_class=DisconnectAwareStreamingResponse,
        responses=SSE_RESPONSES,
    )
    router.add_api_route(
        "/v1/evals/{eval_id}",
        routes.get,
        methods=["GET"],
        summary="An eval's stored results (yours only), running or finished",
    )
    router.add_api_route(
        "/v1/evals/{eval_id}/cancel",
        routes.cancel,
        methods=["POST"],
        summary="Stop an eval now: runs in flight stop, what finished is kept; its stream ends "
        "with eval-end (stopped) and end",
    )
    router.add_api_route(
        "/v1/evals/{eval_id}/results.csv",
        routes.results_csv,
        methods=["GET"],
        summary="An eval's results as CSV, one row per run",
        response_class=Response,
    )
    router.add_api_route(
        "/v1/evals/{eval_id}/compare/{before_id}",
        routes.compare,
        methods=["GET"],
        summary="This eval against an earlier one of the same cases: what now fails, what now "
        "passes, and both summaries",
    )
    return routes.store
