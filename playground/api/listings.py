"""What exists and whether it is available: ``/v1/models``, ``/v1/voices``, ``/v1/prompts``, and
``/healthz``. Read-only views of the services; no request input. ``POST /v1/models/refresh`` asks
the compatible server for its models again, then answers as ``/v1/models``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from playground.catalog import CatalogEntry
from playground.model_discovery import ModelListing
from playground.services import Services

__all__ = ["add_health", "models", "prompts", "refresh_models", "voices"]


def _entry(entry: CatalogEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "engine": entry.engine,
        "label": entry.label,
        "available": entry.available,
    }
    if not entry.available:
        item["reason"] = entry.reason
    return item


def _model(entry: CatalogEntry) -> dict[str, Any]:
    item = {**_entry(entry), "source": entry.source}
    if entry.host is not None:
        item["host"] = entry.host
    return item


def _discovery(listing: ModelListing | None) -> dict[str, Any] | None:
    """How the compatible server's list was last asked for (null: there is no such server)."""
    if listing is None:
        return None
    fetched = listing.fetched_at
    return {
        "host": listing.host,
        "models": len(listing.models) if listing.models is not None else None,
        "fetched_at": fetched.isoformat(timespec="seconds") if fetched is not None else None,
        "error": listing.error,
    }


def models(services: Services) -> dict[str, Any]:
    creds = services.server_credentials
    catalog = services.catalog
    discovery = services.discovery
    return {
        "data": [_model(e) for e in catalog.models(creds)],
        "default": catalog.default_model(creds).id,
        "discovery": _discovery(discovery.listing if discovery is not None else None),
    }


async def refresh_models(services: Services) -> dict[str, Any]:
    await services.refresh_models()
    return models(services)


def voices(services: Services) -> dict[str, Any]:
    creds = services.server_credentials
    return {"data": [_entry(e) for e in services.catalog.voices(creds)]}


def prompts(services: Services) -> dict[str, Any]:
    library = services.prompts
    return {
        "data": [
            {
                "id": p.id,
                "version": p.version,
                "ref": p.ref,
                "title": p.title,
                "node": p.node,
                "format": p.format,
                "tools": list(p.tools),
                "has_output_schema": p.output_schema is not None,
                "default_for_node": p.default_for_node,
                "available": True,
            }
            for p in library.all()
        ],
        "problems": [{"path": p.path, "message": p.message} for p in library.problems],
    }


def add_health(app: FastAPI, services: Services) -> None:
    @app.get("/healthz", summary="Liveness and what is ready")
    async def healthz() -> dict[str, Any]:
        local = services.engines.local_model
        return {
            "status": "ok",
            "local_model": "loaded" if local.load_seconds is not None else "not loaded",
            "prompts": sum(len(v) for v in services.prompts.prompts.values()),
            "prompt_problems": len(services.prompts.problems),
        }
