"""Builds the one ASGI app (UI + HTTP API on one port) and runs it with uvicorn."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import gradio as gr
import uvicorn
from fastapi import FastAPI

from playground.api.app import api_app
from playground.api.limits import make_limiter, make_shared_turns
from playground.api.routes import build_api_router
from playground.services import Services, make_services
from playground.settings import Settings
from playground.turn.gate import TurnGate
from playground.turn.runner import TurnRunner
from playground.ui.app import PAGE_CSS, PAGE_HEAD, build_ui
from playground.ui.live_feed import LiveFeeds, live_router
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

    app = api_app(services, router, [api_runs, page_turns], shared, warm_up=warm_up)
    # Before the page is mounted at the root, which would otherwise take the path.
    live_feeds = LiveFeeds()
    app.include_router(live_router(live_feeds))
    blocks = build_ui(services, runner, page_turns, live_feeds)
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
