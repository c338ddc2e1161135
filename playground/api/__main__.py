"""``python -m playground.api --workers N``: the HTTP API alone (no page), served by N worker
processes on one port, for one machine's cores. More than one worker shares its limits and turns
through Redis, so ``PLAYGROUND_REDIS_URL`` is required for that (a turn started through one
worker is resumed or cancelled through any other). The page stays on its own process
(``python app.py``): its sessions live in that process."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn

from playground.settings import Settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m playground.api",
        description="Serve the Streaming Playground HTTP API (no page) from N worker processes.",
    )
    parser.add_argument("--host", default=settings.server_host)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers: a whole number of at least 1")
    if args.workers > 1 and not settings.playground_redis_url:
        parser.error(
            "--workers above 1 needs PLAYGROUND_REDIS_URL: the workers share their limits and "
            "turns through Redis (without it, each would count and keep its own)"
        )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(
        f"Streaming Playground API on http://{args.host}:{args.port} ({args.workers} workers)",
        flush=True,
    )
    uvicorn.run(
        "playground.api.worker:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
