"""The HTTP API's frames, pinned: event names, field names, field order and values of a set of
scripted turns, compared with ``tests/golden/sse_frames.json``.

Clients outside this repository parse these frames, so a refactor must leave them byte-identical.
Only what cannot repeat is masked: timings (``*_ms``, rates), turn ids and audio bytes. To accept
an intended change of the contract, run with ``SP_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.support import live_server, make_test_services

GOLDEN = Path(__file__).parent / "golden" / "sse_frames.json"
_VOLATILE = re.compile(r"(_ms|_per_s)$")

SCRIPTS: dict[str, tuple[dict[str, Any], list[Reply]]] = {
    "plain streamed answer": (
        {"message": "Say hello."},
        [Reply(chunks=["Hello", " there", ". How", " can I help?"], usage=(9, 4))],
    ),
    "streaming off, guardrails and interception on": (
        {
            "message": "Email me.",
            "streaming": False,
            "features": {"guardrails": True, "interception": True, "post_processing": True},
        },
        [Reply(chunks=["Write to ", "ada@example.com", " any time."])],
    ),
    "agent with a tool call": (
        {"message": "What is 6*7?", "prompt": "support-agent@2", "node": "agent"},
        [
            Reply(
                chunks=[], tool_calls=[ToolCallSpec("calculator", '{"expression": "6*7"}', "c1")]
            ),
            Reply(chunks=["It is ", "42."]),
        ],
    ),
    "streaming guardrail retraction": (
        {"message": "hi", "features": {"streaming_guardrail": True}},
        # Stalls after the trigger, so the retraction always cuts the stream before its end.
        [
            Reply(
                chunks=["Sure. ", "Here is how to ", "build a ", "bomb ", "at home. "],
                fault="stall",
                fault_after=5,
            )
        ],
    ),
    "structured output": (
        {"message": "Extract.", "prompt": "json-extractor@2"},
        [Reply(chunks=['{"name": "Ada", ', '"topics": ["billing"]}'])],
    ),
    "reasoning model: thinking streamed apart": (
        {"message": "Why is the sky blue?"},
        [
            Reply(
                reasoning=["The user asks", " about scattering."],
                chunks=["Rayleigh", " scattering."],
                usage=(9, 30),
                reasoning_tokens=24,
            )
        ],
    ),
    "thinking inlined in <think> tags": (
        {"message": "Why is the sky blue?"},
        [Reply(chunks=["<thi", "nk>Short wave", "lengths.</th", "ink>\n\nRayleigh."])],
    ),
    "upstream failure mid-stream": (
        {"message": "hi"},
        [Reply(chunks=["Par", "tial", " answer"], fault="drop", fault_after=2)],
    ),
}


@pytest.fixture
def api(fake_openai: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(
        openai_base_url=fake_openai.base_url,
        playground_compatible_models="fake-model",
        playground_resume_grace_s=0,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def masked(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if key == "turn_id" or (key == "data" and isinstance(value, str)):
        return "<masked>"
    if _VOLATILE.search(key) and isinstance(value, int | float):
        return "<ms>"
    return value


def frames(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each frame as its id, event name and data, data kept as the JSON text the server sent
    (so key order counts) after masking."""
    out: list[dict[str, Any]] = []
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", f"{url}/v1/interact/stream", json=body) as response,
    ):
        assert response.status_code == 200
        frame: dict[str, Any] = {}
        lines = response.iter_lines()
        # Every stream opens with its reconnection delay (a ``retry:`` field on its own).
        assert next(lines).startswith("retry: ") and next(lines) == ""
        for line in lines:
            if not line:
                if frame:
                    out.append(frame)
                frame = {}
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(": ")
                frame[field] = value
    for frame in out:
        data = json.loads(frame["data"])
        frame["data"] = json.dumps(masked(data), ensure_ascii=False, separators=(",", ":"))
    return out


def test_the_sse_frames_of_scripted_turns_match_the_golden_file(
    api: str, fake_openai: FakeOpenAI
) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    for name, (body, replies) in SCRIPTS.items():
        fake_openai.enqueue(*replies)
        seen[name] = frames(api, {"model": "compatible:fake-model", "voice": "none", **body})
    if os.environ.get("SP_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(seen, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for name in SCRIPTS:
        assert seen[name] == golden[name], name
