"""``python -m benchmarks.serve KIND --port N``: one app under test, in its own process.

The app runs apart from the benchmark's clients and fakes, as it would in production: in one
process they would share a GIL, and the clients' own work (50 connection pools, SSE parsing)
would be billed to the app. Settings come from the environment only, never a ``.env``.

* ``playground``: the real app, ``build_app(services, warm_up=False)``;
* ``relay``: the ``scale`` baseline, a minimal FastAPI relay over one shared SDK client;
* ``minimal-chat``: the ``ui`` baseline, a bare ``gr.ChatInterface`` whose async generator
  streams from ``OPENAI_BASE_URL`` through the openai SDK, yielding the cumulative text.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import playground  # noqa: F401  (first: importing it keeps gradio and the hub offline)

# isort: split
import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI


def playground_app() -> Any:
    from playground.server import build_app
    from playground.services import make_services
    from playground.settings import Settings

    return build_app(make_services(Settings(_env_file=None)), warm_up=False)


def minimal_chat_app() -> Any:
    client = AsyncOpenAI(
        api_key=os.environ["OPENAI_API_KEY"], base_url=os.environ["OPENAI_BASE_URL"]
    )

    async def chat(message: str, history: list[Any]) -> AsyncIterator[str]:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": message}], stream=True
        )
        text = ""
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                    yield text

    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    return gr.mount_gradio_app(app, gr.ChatInterface(chat, api_name="chat"), path="")


def relay_app() -> Any:
    """The ``scale`` baseline: a minimal FastAPI relay, one shared ``AsyncOpenAI`` client, each
    text delta passed on as an SSE frame in the API's shape."""
    client = AsyncOpenAI(
        api_key=os.environ["OPENAI_API_KEY"], base_url=os.environ["OPENAI_BASE_URL"]
    )
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})

    # Request and StreamingResponse are imported at module level: FastAPI resolves these
    # annotations (strings here) in the module's namespace.
    @app.post("/v1/interact/stream")
    async def interact(request: Request) -> StreamingResponse:
        body = await request.json()

        async def frames() -> AsyncIterator[str]:
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": body["message"]}],
                stream=True,
            )
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        data = {"text": chunk.choices[0].delta.content, "t_ms": 0}
                        yield f"event: completion-continue\ndata: {json.dumps(data)}\n\n"
            yield "event: completion-end\ndata: {}\n\nevent: end\ndata: {}\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return app


def gradio_audio_app() -> Any:
    """The ``player`` baseline: Gradio's own streaming player fed WAV pieces on a schedule."""
    import asyncio
    import time

    from benchmarks.player import PIECE_SCHEDULE_S, tone_wav

    async def speak() -> AsyncIterator[bytes]:
        started = time.monotonic()
        for at in PIECE_SCHEDULE_S:
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            yield tone_wav(1.2)

    with gr.Blocks() as demo:
        go = gr.Button("Speak", elem_id="go")
        audio = gr.Audio(streaming=True, autoplay=True, elem_id="player")
        go.click(speak, None, audio)
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    return gr.mount_gradio_app(app, demo, path="")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["playground", "minimal-chat", "gradio-audio", "relay"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    builders = {
        "playground": playground_app,
        "minimal-chat": minimal_chat_app,
        "gradio-audio": gradio_audio_app,
        "relay": relay_app,
    }
    app = builders[args.kind]()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
