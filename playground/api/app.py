"""The HTTP API as an ASGI app of its own (``/v1/*``, ``/v2/*``, the widget, ``/healthz``), with
the lifespan every process serving it needs; ``playground.server`` mounts the page on it, and
API workers (``python -m playground.api --workers N``) serve it alone. Nothing here imports
Gradio, so a worker starts without the page's weight."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI

from playground.api.cors import ApiCORSMiddleware
from playground.api.limits import make_limiter, make_shared_turns
from playground.api.routes import add_health, build_api_router, hoist_schema_defs
from playground.api.widget import add_widget
from playground.http_guards import BodyLimit, ContentSecurity
from playground.services import Services
from playground.state.redis_turns import SharedTurns
from playground.turn.runner import TurnRunner

__all__ = ["Closable", "api_app", "build_api_app"]

log = logging.getLogger("playground")


class Closable(Protocol):
    """What runs turns in this process, stopped at shutdown."""

    async def aclose(self) -> None: ...


def build_api_app(services: Services, *, warm_up: bool = True) -> FastAPI:
    """The API alone, for an API worker: its own limiter (in Redis when set) and turns."""
    runner = TurnRunner(services)
    s = services.settings
    shared = make_shared_turns(s)
    router, api_runs = build_api_router(services, runner, make_limiter(s), shared)
    services.list_models_before_start()
    return api_app(services, router, [api_runs], shared, warm_up=warm_up)


def api_app(
    services: Services,
    router: APIRouter,
    runs: Sequence[Closable],
    shared: SharedTurns | None,
    *,
    warm_up: bool,
) -> FastAPI:
    """The API's FastAPI app around ``router``; ``runs``: what to stop at shutdown."""
    s = services.settings

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Everything built so far (Gradio, pandas, the SDKs: a few hundred thousand objects)
        # lives as long as the process. Left in the collector's generations, every full
        # collection walks all of it, and under a burst of turns those pauses land on the
        # first chunks; frozen, collections only see what the turns themselves allocate. (No
        # collection first: it would cost start-up time to save a little memory.)
        gc.freeze()
        warm = asyncio.create_task(_warm_up(services)) if warm_up else None
        if shared is not None:
            await shared.start()
        try:
            yield
        finally:
            if warm is not None:
                warm.cancel()
            # The one shutdown path: running turns of every surface are stopped (their
            # upstreams close, their logs end with a stopped completion) and awaited before the
            # provider clients they use are closed.
            await asyncio.gather(*(run.aclose() for run in runs))
            if shared is not None:
                await shared.aclose()
            await services.aclose()

    app = FastAPI(
        title="Streaming Playground API",
        version="1.0",
        description="Stream LLM answers (text, tool calls, audio) as server-sent events.",
        lifespan=lifespan,
    )
    app.add_middleware(
        ApiCORSMiddleware,
        # Deliberate: the API is meant to be called from other origins (the widget, client
        # apps); it uses bearer tokens, never cookies, so credentials stay off. Only the API
        # and widget paths: the page's own routes must not be drivable from other sites.
        allow_origins=list(services.settings.playground_cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Accept",
            "Last-Event-ID",
            "Idempotency-Key",
        ],
        expose_headers=["Retry-After"],
        allow_credentials=False,
    )
    # Added after CORS, so they wrap it: a refused body never reaches Gradio's parser.
    app.add_middleware(BodyLimit, max_bytes=s.playground_max_body_bytes)
    app.add_middleware(ContentSecurity)
    app.include_router(router)
    _publish_openapi(app)
    add_health(app, services)
    add_widget(app, services.settings)
    return app


def _publish_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = hoist_schema_defs(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _warm_up(services: Services) -> None:
    # Load the offline model and voice in the background so the first turn is not a cold start,
    # and check the Deepgram key once so a rejected key shows on its voices, not mid-answer.
    warmers: tuple[tuple[str, Callable[[], Awaitable[object]]], ...] = (
        ("Deepgram key", lambda: services.engines.check_voice_key(services.server_credentials)),
        ("local model", services.engines.local_model.warm_up),
        ("local voice", services.engines.local_voice.warm_up),
        # Last: only spoken turns need it, and its first decode is the slow one.
        ("local speech-to-text", services.engines.local_listener.warm_up),
    )
    for name, warm in warmers:
        try:
            await warm()
        except Exception as exc:  # noqa: BLE001 - a missing engine is reported when used
            log.warning("could not warm up the %s: %s", name, exc)
