"""Builds the one ASGI app (UI + HTTP API on one port) and runs it with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI

from playground.api.cors import ApiCORSMiddleware
from playground.api.limits import make_limiter, make_shared_turns
from playground.api.routes import add_health, build_api_router, hoist_schema_defs
from playground.api.widget import add_widget
from playground.http_guards import BodyLimit, ContentSecurity
from playground.services import Services, make_services
from playground.settings import Settings
from playground.turn.gate import TurnGate
from playground.turn.runner import TurnRunner
from playground.ui.app import PAGE_CSS, PAGE_HEAD, build_ui
from playground.ui.live_turns import LiveTurns

__all__ = ["build_app", "main"]

log = logging.getLogger("playground")


def build_app(services: Services, *, warm_up: bool = True) -> FastAPI:
    runner = TurnRunner(services)
    s = services.settings
    # One limiter for every surface: a client's turns count once, from the API or the page.
    limiter = make_limiter(s)
    shared = make_shared_turns(s)
    router, api_runs = build_api_router(services, runner, limiter, shared)
    # Before the page is built: its pickers, their defaults and /turn's default model are fixed
    # then, and should be what the compatible server lists. Bounded by the discovery's short
    # timeout; a failure is kept as the reason shown, never raised.
    services.list_models_before_start()
    page_turns = _page_turns(services, runner, TurnGate(limiter))

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
            # The one shutdown path: running turns of both surfaces are stopped (their
            # upstreams close, their logs end with a stopped completion) and awaited before the
            # provider clients they use are closed.
            await asyncio.gather(api_runs.aclose(), page_turns.aclose())
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
    blocks = build_ui(services, runner, page_turns)
    mounted: FastAPI = gr.mount_gradio_app(
        app,
        blocks,
        path="",
        run_history=False,
        footer_links=["gradio", "settings"],
        css=PAGE_CSS,
        head=PAGE_HEAD,
        # The page's only upload is a notebook import: refuse bigger files before they land.
        max_file_size=services.settings.playground_max_upload_bytes,
    )
    # Gradio checks that a file an event names was uploaded (is in its upload folder) only
    # once ``launch`` has set this; mounted, it never is, and an event could name any file on
    # the server for Gradio to copy into its cache. Mounted is launched, for that check.
    blocks.has_launched = True
    return mounted


def _page_turns(services: Services, runner: TurnRunner, gate: TurnGate) -> LiveTurns:
    """The page's turns (chat, reruns, each run of a comparison), through the API's gate."""
    return LiveTurns(
        runner,
        notebooks=services.notebooks,
        prompts=lambda: services.prompts,  # as it is at each run: versions are added live
        grace_s=services.settings.playground_page_resume_grace_s,
        gate=gate,
    )


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


def main(argv: Sequence[str] | None = None) -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description="Serve the Streaming Playground UI and API.")
    parser.add_argument("--host", default=settings.server_host)
    parser.add_argument("--port", type=int, default=settings.gradio_server_port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = build_app(make_services(settings))
    print(f"Streaming Playground on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=3
    )
