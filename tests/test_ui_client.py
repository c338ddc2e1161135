"""The page's one public Gradio endpoint, ``/turn``, driven end to end through ``gradio_client``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client  # type: ignore[import-untyped]

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import live_server, make_test_services

# Gradio 6.31's queue computes its analytics with a pandas option that pandas 3 deprecates; with
# warnings as errors that fails the server-side task after every queued event.
pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated")

SESSION_KEY = "sk-session-SECRET-0451"
CHUNKS = ["Streaming ", "answers ", "arrive ", "in ", "small ", "pieces."]
# Every finished answer ends with the prompt version, model and node that produced it (the
# default model: with OPENAI_BASE_URL on the fake, the first model the fake lists).
META = "\n\n<sub>default-prompt-node@1 · compatible:fake-model · prompt node</sub>"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def base_url(fake: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[Client]:
    gradio = Client(base_url, verbose=False, download_files=False)
    yield gradio
    gradio.close()


def assistant_text(chat: Any) -> str | None:
    """The last assistant message of a Chatbot value; None for a skipped (update) output."""
    if not isinstance(chat, list):
        return None
    replies = [m for m in chat if m["role"] == "assistant"]
    if not replies:
        return ""
    content = replies[-1]["content"]
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


def test_only_the_turn_endpoint_is_public(client: Client) -> None:
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/turn"]
    names = [p["parameter_name"] for p in endpoints["/turn"]["parameters"]]
    assert names[:2] == ["message", "model"] and "openai_api_key" in names


def test_a_turn_streams_growing_text_and_ends_with_the_answer(
    client: Client, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=CHUNKS, delay=0.12))
    job = client.submit(
        "How does streaming work?", api_name="/turn", voice="none", openai_api_key=SESSION_KEY
    )
    outputs = list(job)
    assert job.status().success

    texts = [t for t in (assistant_text(o[0]) for o in outputs) if t]
    # Several distinct, growing snapshots: streamed, not delivered all at once.
    distinct = list(dict.fromkeys(texts))
    assert len(distinct) >= 3
    assert all(b.startswith(a.rstrip("…")) for a, b in zip(distinct, distinct[1:], strict=False))
    assert distinct[-1] == "".join(CHUNKS) + META

    final_chat = job.outputs()[-1][0]
    assert final_chat[0]["role"] == "user"
    assert assistant_text(final_chat) == "".join(CHUNKS) + META
    summary = next(o[1] for o in reversed(outputs) if isinstance(o[1], str))
    assert "TTFT" in summary and "Total" in summary

    # The pasted key was used for this request only, and no output ever carries it.
    assert fake.chat_requests[-1].headers["authorization"] == f"Bearer {SESSION_KEY}"
    assert SESSION_KEY not in json.dumps(outputs, default=str)


def test_without_a_session_key_the_server_key_is_used(client: Client, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["Hi."]))
    result = client.predict("Hello", api_name="/turn", voice="none")
    assert assistant_text(result[0]) == "Hi." + META
    assert fake.chat_requests[-1].headers["authorization"] == "Bearer test-key"


def test_the_first_offline_run_says_the_model_is_loading(client: Client) -> None:
    # The module's app skips the start-up warm-up, so the offline model is not loaded yet.
    job = client.submit("Hi", api_name="/turn", model="local:smollm2-135m", voice="none")
    outputs = list(job)
    assert job.status().success
    summaries = [o[1] for o in outputs if isinstance(o[1], str)]
    assert "Loading the offline model" in summaries[0]
    assert assistant_text(outputs[-1][0])  # and then it answered


def test_values_outside_the_pickers_get_a_clear_error_in_the_chat(client: Client) -> None:
    # The endpoint takes its inputs as sent (no Gradio preprocessing): the turn validates them.
    result = client.predict("Hi", api_name="/turn", model="nonsense:xyz", voice="none")
    text = assistant_text(result[0]) or ""
    assert "nonsense:xyz" in text or "unknown model" in text.lower(), text
    result = client.predict("Hi", api_name="/turn", version="99", voice="none")
    text = assistant_text(result[0]) or ""
    assert "99" in text, text
