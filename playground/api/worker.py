"""The app each API worker process builds (``uvicorn`` calls ``create_app`` in the worker)."""

from __future__ import annotations

from fastapi import FastAPI

from playground.api.app import build_api_app
from playground.services import make_services
from playground.settings import Settings

__all__ = ["create_app"]


def create_app() -> FastAPI:
    # The local engines load on first use: N workers warming N copies of the offline model at
    # once would hold every core at start-up for turns that mostly go upstream.
    return build_api_app(make_services(Settings()), warm_up=False)
