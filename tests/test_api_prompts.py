"""Prompt versions over HTTP and unsaved drafts: ``GET /v1/prompts/{id}``, ``GET
/v1/prompts/{id}/versions/{n}``, ``POST /v1/prompts/{id}/versions`` (201, 422 naming the field,
403 read-only, concurrent posts distinct), ``prompt_draft`` in ``POST /v1/interact/stream``
(reported as ``id@draft:<hash>``), and ``top_p`` / ``stop`` reaching the upstream.

The real ``openai`` client behind the app talks to the loopback fake; each writable server gets
its own copy of the shipped prompt folder.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import SSEEvent, live_server, make_test_services, stream_events

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
TOKEN = "prompts-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODEL = "openai:gpt-4o-mini"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def serve(fake: FakeOpenAI, folder: Path, **settings: Any) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_prompts_dir=str(folder),
        playground_api_token=TOKEN,
        playground_rate_limit_per_minute=1_000,
        **settings,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "prompts"
    shutil.copytree(PROMPTS, copy)
    return copy


@pytest.fixture
def api(fake: FakeOpenAI, folder: Path) -> Iterator[str]:
    yield from serve(fake, folder, playground_prompts_writable=True)


@pytest.fixture(scope="module")
def read_only(fake: FakeOpenAI) -> Iterator[str]:
    yield from serve(fake, PROMPTS, playground_prompts_writable=False)


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Greeter",
        "node": "prompt",
        "format": "v2",
        "system": "You are {{name}}. Greet the user.",
        "variables": {"name": "Greeter Bot"},
    }
    return {**base, **changes}


def listed_sha256(folder: Path, name: str) -> str:
    for line in (folder / "VERSIONS.sha256").read_text().splitlines():
        if line.endswith(f"  {name}"):
            return line.split()[0]
    raise AssertionError(f"{name} is not listed")


def turn(url: str, **body: Any) -> list[SSEEvent]:
    response, events = stream_events(
        url, {"message": "hi", "model": MODEL, "voice": "none", **body}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    return events


# -- reading ---------------------------------------------------------------------------------


def test_a_prompts_history_lists_every_version_with_its_hash(read_only: str) -> None:
    response = httpx.get(f"{read_only}/v1/prompts/summariser", headers=AUTH, timeout=20)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "summariser"
    assert [v["version"] for v in body["versions"]] == [1, 2]
    first = body["versions"][0]
    assert set(first) == {"version", "ref", "title", "note", "created", "sha256"}
    assert first["ref"] == "summariser@1"
    assert first["sha256"] == listed_sha256(PROMPTS, "summariser/v1.yaml")


def test_one_version_is_the_whole_prompt_document(read_only: str) -> None:
    response = httpx.get(
        f"{read_only}/v1/prompts/support-agent/versions/2", headers=AUTH, timeout=20
    )
    assert response.status_code == 200
    doc = response.json()
    for name in (
        "id", "version", "title", "node", "format", "description", "system", "variables",
        "tools", "output_schema", "exit_paths", "defaults", "note", "created", "sha256",
    ):  # fmt: skip
        assert name in doc, name
    assert (doc["id"], doc["version"], doc["node"]) == ("support-agent", 2, "agent")
    assert doc["tools"] == ["order_status", "kb_search"]
    assert doc["sha256"] == listed_sha256(PROMPTS, "support-agent/v2.yaml")


@pytest.mark.parametrize(
    ("path", "code", "field"),
    [
        ("/v1/prompts/nope", "unknown_prompt", "id"),
        ("/v1/prompts/nope/versions/1", "unknown_prompt", "id"),
        ("/v1/prompts/summariser/versions/9", "unknown_version", "version"),
        ("/v1/prompts/summariser/versions/١", "unknown_version", "version"),
        ("/v1/prompts/summariser/versions/latest", "unknown_version", "version"),
    ],
)
def test_unknown_prompts_and_versions_are_404_naming_the_field(
    read_only: str, path: str, code: str, field: str
) -> None:
    response = httpx.get(read_only + path, headers=AUTH, timeout=20)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/prompts/summariser"),
        ("GET", "/v1/prompts/summariser/versions/1"),
        ("POST", "/v1/prompts/summariser/versions"),
    ],
)
def test_every_prompt_route_needs_the_token(read_only: str, method: str, path: str) -> None:
    response = httpx.request(method, read_only + path, json=document(), timeout=20)
    assert response.status_code == 401


# -- saving ----------------------------------------------------------------------------------


def test_a_posted_document_becomes_the_next_version_everywhere_at_once(
    api: str, folder: Path, fake: FakeOpenAI
) -> None:
    new = document(title="Summariser, shorter", system="Summarise in one line.", note="shorter")
    response = httpx.post(
        f"{api}/v1/prompts/summariser/versions", json=new, headers=AUTH, timeout=20
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": "summariser",
        "version": 3,
        "ref": "summariser@3",
        "sha256": hashlib.sha256((folder / "summariser" / "v3.yaml").read_bytes()).hexdigest(),
    }
    assert response.headers["location"] == "/v1/prompts/summariser/versions/3"
    assert listed_sha256(folder, "summariser/v3.yaml") == body["sha256"]
    # The history, the document, the listing and a turn all see it without a restart.
    history = httpx.get(f"{api}/v1/prompts/summariser", headers=AUTH, timeout=20).json()
    latest = history["versions"][-1]
    assert (latest["version"], latest["note"], latest["title"]) == (3, "shorter", new["title"])
    assert latest["created"] is not None
    listing = httpx.get(f"{api}/v1/prompts", headers=AUTH, timeout=20).json()["data"]
    assert "summariser@3" in {p["ref"] for p in listing}
    fake.enqueue(Reply(chunks=["ok"]))
    events = turn(api, prompt="summariser@3")
    assert events[0].data["prompt"] == "summariser@3"
    assert fake.chat_requests[-1].body["messages"][0]["content"] == "Summarise in one line."


def test_a_new_id_creates_the_prompt_at_version_one(api: str, folder: Path) -> None:
    response = httpx.post(
        f"{api}/v1/prompts/greeter/versions", json=document(), headers=AUTH, timeout=20
    )
    assert response.status_code == 201
    assert response.json()["ref"] == "greeter@1"
    assert (folder / "greeter" / "v1.yaml").is_file()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"node": "robot"}, "node"),
        ({"output_schema": {"type": "nonsense"}}, "output_schema"),
        ({"version": 4}, "version"),
        ({"id": "someone-else"}, "id"),
        ({"tools": "calculator"}, "tools"),
        ({"surprise": True}, "surprise"),
        ({"tools": ["calculator", "teleport"]}, "tools"),
    ],
)
def test_an_invalid_document_is_422_naming_the_field_and_nothing_is_written(
    api: str, folder: Path, changes: dict[str, Any], field: str
) -> None:
    before = sorted(p.name for p in (folder / "summariser").iterdir())
    response = httpx.post(
        f"{api}/v1/prompts/summariser/versions",
        json=document(**changes),
        headers=AUTH,
        timeout=20,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert sorted(p.name for p in (folder / "summariser").iterdir()) == before


@pytest.mark.parametrize("body", [[1, 2], "text", 5])
def test_a_body_that_is_not_a_document_is_422(api: str, body: Any) -> None:
    response = httpx.post(
        f"{api}/v1/prompts/summariser/versions", json=body, headers=AUTH, timeout=20
    )
    assert response.status_code == 422


def test_a_read_only_store_answers_403_saying_why(read_only: str) -> None:
    response = httpx.post(
        f"{read_only}/v1/prompts/summariser/versions", json=document(), headers=AUTH, timeout=20
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "read_only" and "PLAYGROUND_PROMPTS_WRITABLE" in error["message"]
    assert not (PROMPTS / "summariser" / "v3.yaml").exists()


def test_concurrent_posts_never_reuse_a_version(api: str, folder: Path) -> None:
    def post(i: int) -> int:
        response = httpx.post(
            f"{api}/v1/prompts/greeter/versions",
            json=document(title=f"take {i}"),
            headers=AUTH,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["version"])

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(post, range(12)))
    assert sorted(versions) == list(range(1, 13))
    history = httpx.get(f"{api}/v1/prompts/greeter", headers=AUTH, timeout=20).json()
    assert sorted({v["title"] for v in history["versions"]}) == sorted(
        f"take {i}" for i in range(12)
    )


# -- drafts and the new request fields ---------------------------------------------------------


def test_a_draft_runs_unsaved_and_is_reported_by_its_hash(read_only: str, fake: FakeOpenAI) -> None:
    draft = document(id="greeter", defaults={"temperature": 0.3, "max_tokens": 50})
    fake.enqueue(Reply(chunks=["Hello!"]), Reply(chunks=["Hello!"]), Reply(chunks=["Hi"]))
    first = turn(read_only, prompt_draft=draft, variables={"name": "Ada"})
    request = fake.chat_requests[-1].body
    again = turn(read_only, prompt_draft=draft)
    changed = turn(read_only, prompt_draft={**draft, "system": "Say hi."})
    ref = first[0].data["prompt"]
    prompt_id, _, tail = ref.partition("@draft:")
    assert prompt_id == "greeter" and len(tail) == 12 and int(tail, 16) >= 0
    assert again[0].data["prompt"] == ref, "the same content has the same hash"
    assert changed[0].data["prompt"] != ref
    assert request["messages"][0]["content"] == "You are Ada. Greet the user."
    assert (request["temperature"], request["max_tokens"]) == (0.3, 50)
    assert first[-2].event == "completion-end" and first[-2].data["text"] == "Hello!"
    assert not (PROMPTS / "greeter").exists(), "a draft is never written"


def test_a_draft_without_an_id_is_named_draft(read_only: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["ok"]))
    events = turn(read_only, prompt_draft=document())
    assert events[0].data["prompt"].startswith("draft@draft:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt_draft": document(format="v9")}, "prompt_draft.format"),
        ({"prompt_draft": document(output_schema={"type": 5})}, "prompt_draft.output_schema"),
        ({"prompt_draft": document(system=None)}, "prompt_draft.system"),
        ({"prompt_draft": document(), "prompt": "summariser@1"}, "prompt_draft"),
        ({"prompt_draft": "not a document"}, "prompt_draft"),
        ({"prompt_draft": document(tools=["teleport"])}, "prompt_draft.tools"),
        ({"top_p": 1.5}, "top_p"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
    ],
)
def test_bad_drafts_and_parameters_are_422_naming_the_field(
    read_only: str, fake: FakeOpenAI, body: dict[str, Any], field: str
) -> None:
    calls = len(fake.requests)
    response, _ = stream_events(read_only, {"message": "hi", "model": MODEL, **body}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert len(fake.requests) == calls


def test_top_p_and_stop_reach_the_upstream(read_only: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["a"]), Reply(chunks=["b"]), Reply(chunks=["c"]))
    turn(read_only, top_p=0.4, stop=["\n\n", "END"])
    sent = fake.chat_requests[-1].body
    assert (sent["top_p"], sent["stop"]) == (0.4, ["\n\n", "END"])
    turn(read_only, stop="END")
    assert fake.chat_requests[-1].body["stop"] == ["END"]
    # A prompt's own defaults apply when the request leaves them out.
    turn(read_only, prompt_draft=document(defaults={"top_p": 0.9, "stop": ["STOP"]}))
    sent = fake.chat_requests[-1].body
    assert (sent["top_p"], sent["stop"]) == (0.9, ["STOP"])
