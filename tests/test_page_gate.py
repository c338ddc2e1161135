"""The page is behind the same gate as the API: its turns (the public ``/turn``, reruns and the
arena) count against the same per-client rate limit and concurrency
cap, and with ``PLAYGROUND_API_TOKEN`` set the server's keys and endpoints are not spendable
anonymously through it — only the visitor's own session keys, or the access token.

Driven through ``gradio_client`` against a live server, the real ``openai`` client behind it
talking to the loopback fake.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gradio_client import Client  # type: ignore[import-untyped]

from playground.api.limits import ClientLimiter
from playground.catalog import Credentials
from playground.server import build_app
from playground.turn.arena import ArenaColumn, ArenaRun, run_arena
from playground.turn.gate import TurnGate, TurnRefused
from playground.turn.request import TurnRequest
from playground.turn.runner import TurnRunner
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import live_server, make_test_services

TOKEN = "page-token-0123456789"
OPENAI = "openai:gpt-4o-mini"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def page(fake: FakeOpenAI, **settings: object) -> Iterator[Client]:
    services = make_test_services(
        openai_api_key="server-key",
        openai_base_url=fake.base_url,
        playground_compatible_models="fake-model",
        **settings,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        client = Client(url, verbose=False, download_files=False)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture(scope="module")
def limited(fake: FakeOpenAI) -> Iterator[Client]:
    yield from page(fake, playground_rate_limit_per_minute=3)


@pytest.fixture(scope="module")
def guarded(fake: FakeOpenAI) -> Iterator[Client]:
    yield from page(fake, playground_api_token=TOKEN)


def answer(result: Any) -> str:
    replies = [m for m in result[0] if m["role"] == "assistant"]
    content = replies[-1]["content"]
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


def test_page_turns_over_the_rate_limit_are_refused_with_when_to_retry(
    limited: Client, fake: FakeOpenAI
) -> None:
    before = len(fake.chat_requests)
    texts = []
    fake.enqueue(*(Reply(chunks=[f"answer {i}"]) for i in range(3)))
    for i in range(5):
        result = limited.predict(f"hi {i}", api_name="/turn", voice="none", model=OPENAI)
        texts.append(answer(result))
    assert [t.startswith("answer") for t in texts] == [True, True, True, False, False]
    assert "Too many turns" in texts[3] and "try again in" in texts[3]
    assert len(fake.chat_requests) - before == 3, "refused turns never reach the upstream"


def test_without_the_access_token_the_page_spends_no_server_key(
    guarded: Client, fake: FakeOpenAI
) -> None:
    before = len(fake.chat_requests)
    # An anonymous visitor's page offers the local model by default; naming OpenAI is refused.
    refused = answer(guarded.predict("hi", api_name="/turn", voice="none", model=OPENAI))
    assert "access token" in refused.lower() or "OPENAI_API_KEY" in refused, refused
    compatible = answer(
        guarded.predict("hi", api_name="/turn", model="compatible:fake-model", voice="none")
    )
    assert "access token" in compatible.lower(), compatible
    assert len(fake.chat_requests) == before, "no upstream call was made on the server's behalf"


def test_the_access_token_or_the_visitors_own_key_opens_the_page(
    guarded: Client, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["with the token"]))
    text = answer(
        guarded.predict("hi", api_name="/turn", voice="none", model=OPENAI, access_token=TOKEN)
    )
    assert text.startswith("with the token")
    assert fake.chat_requests[-1].headers["authorization"] == "Bearer server-key"
    fake.enqueue(Reply(chunks=["with my key"]))
    text = answer(
        guarded.predict(
            "hi", api_name="/turn", voice="none", model=OPENAI, openai_api_key="sk-visitor-1"
        )
    )
    assert text.startswith("with my key")
    assert fake.chat_requests[-1].headers["authorization"] == "Bearer sk-visitor-1"
    wrong = answer(
        guarded.predict("hi", api_name="/turn", voice="none", model=OPENAI, access_token="nope")
    )
    assert not wrong.startswith("with"), wrong


async def test_a_repeated_arena_counts_every_column_of_every_round(fake: FakeOpenAI) -> None:
    services = make_test_services(openai_api_key="server-key", openai_base_url=fake.base_url)
    try:
        gate = TurnGate(ClientLimiter(per_minute=5, max_concurrent=4))
        for _ in range(10):
            fake.enqueue(Reply(chunks=["same answer"]))
        request = TurnRequest(message="hi", model="openai:gpt-4o-mini", voice="none")
        run = ArenaRun("hi", ["a", "b"], [ArenaColumn("a"), ArenaColumn("b")], repeat=10)
        before = len(fake.chat_requests)

        async def rounds() -> None:
            while active := run.next_round():
                columns = [run.columns[i] for i in active]
                async for _ in run_arena(
                    TurnRunner(services),
                    columns,
                    [request, request],
                    services.server_credentials,
                    gate=gate,
                    client="ip:1.2.3.4",
                ):
                    pass

        with pytest.raises(TurnRefused):
            await rounds()
        # Two rounds (four turns) fit in five turns a minute; the third is refused whole.
        assert len(run.rounds) == 3 and len(run.finished_rounds) == 2
        assert len(fake.chat_requests) - before == 4
        # Another client is not affected.
        release = gate.enter("ip:5.6.7.8")
        release()
    finally:
        await services.aclose()


async def test_a_refused_page_turn_releases_nothing_and_a_finished_one_releases_once() -> None:
    limiter = ClientLimiter(per_minute=100, max_concurrent=1)
    gate = TurnGate(limiter)
    release = gate.enter("ip:a")
    with pytest.raises(TurnRefused) as refused:
        gate.enter("ip:a")  # one at a time for this client
    assert refused.value.retry_after >= 1
    release()
    release()  # a second call is harmless: counted out once
    again = gate.enter("ip:a")
    again()
    await asyncio.sleep(0)
    assert Credentials(server_endpoints=False).server_endpoints is False


def test_an_oversized_page_request_is_refused_before_gradio_reads_it(fake: FakeOpenAI) -> None:
    services = make_test_services(playground_max_body_bytes=10_000)
    with live_server(build_app(services, warm_up=False)) as url:
        big = {"data": ["x" * 50_000], "fn_index": 0, "session_hash": "s"}
        response = httpx.post(f"{url}/gradio_api/queue/join", json=big, timeout=30)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        chunked = httpx.post(
            f"{url}/gradio_api/queue/join",
            content=iter([b'{"data": ["', b"y" * 20_000, b'"]}']),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert chunked.status_code == 413  # no Content-Length: counted as it arrives


def test_pages_may_load_images_only_from_this_server(fake: FakeOpenAI) -> None:
    services = make_test_services()
    with live_server(build_app(services, warm_up=False)) as url:
        for path in ("/", "/widget"):
            response = httpx.get(f"{url}{path}", timeout=30)
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == "img-src 'self' data: blob:"


def test_wrong_values_sent_to_the_page_name_the_field_and_never_dump_internals(
    limited: Client,
) -> None:
    # A script calling /turn may send any JSON: the chat says which field, nothing internal.
    cases: list[tuple[dict[str, object], str]] = [
        ({"message": ["a", "list"]}, "message"),
        ({"message": "hi", "node": "bogus"}, "node"),
        ({"message": "hi", "streaming": "yes"}, "streaming"),
        ({"message": "hi", "openai_api_key": 42}, "openai_api_key"),
    ]
    for values, field in cases:
        text = answer(limited.predict(api_name="/turn", voice="none", **values))
        assert field in text.lower(), (values, text)
        for leak in ("Traceback", "object has no attribute", "validation error", "pydantic"):
            assert leak not in text, (values, text)


class OutsideCaller:
    """A script speaking Gradio's queue protocol the way the page does: an event by its number
    (``fn_index``) through ``/gradio_api/queue/join``, even one hidden from the API docs."""

    def __init__(self, url: str) -> None:
        self.url = url
        config = httpx.get(f"{url}/config", timeout=30).json()
        self.elem_ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
        self.dependencies: list[dict[str, Any]] = config["dependencies"]

    def event_of(self, elem_id: str) -> dict[str, Any]:
        return next(
            d
            for d in self.dependencies
            if elem_id in (self.elem_ids.get(t[0]) for t in d["targets"])
        )

    def call(self, elem_id: str, data: list[object]) -> dict[str, Any]:
        event, session = self.event_of(elem_id), f"outside-{elem_id}"
        joined = httpx.post(
            f"{self.url}/gradio_api/queue/join",
            json={
                "data": data,
                "fn_index": event["id"],
                "trigger_id": event["targets"][0][0],
                "session_hash": session,
                "event_data": None,
            },
            timeout=30,
        )
        assert joined.status_code == 200, joined.text
        with httpx.stream(
            "GET", f"{self.url}/gradio_api/queue/data", params={"session_hash": session}, timeout=60
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    message: dict[str, Any] = json.loads(line.removeprefix("data:"))
                    if message.get("msg") == "process_completed":
                        return message
        raise AssertionError("the event never completed")


# model, prompt, streaming, temperature, max tokens, seed, reasoning effort
ARENA_COLUMN = [OPENAI, "default-prompt-node@1", True, "", "", "", ""]


def arena_inputs(
    message: object, repeat: object = 10, model: str = OPENAI, audible: object = "1"
) -> list[object]:
    """The arena's Send as the page sends it: message, state (the server's own), repeat, voice,
    spoken column, column count, four columns' configurations, the editor's text and the
    version it was opened from, the notebook's state (the server's own: a caller cannot name
    whose notebook keeps the run), the key the page made for the run's live feed, the four
    keys."""
    columns = [model, *ARENA_COLUMN[1:]] + ARENA_COLUMN * 3
    return [message, None, repeat, "none", audible, 2, *columns, "", "", None, "", "", "", "", ""]


def test_the_private_arena_event_called_from_outside_passes_the_same_token_rule(
    fake: FakeOpenAI,
) -> None:
    with live_server(
        build_app(
            make_test_services(
                openai_api_key="server-key",
                openai_base_url=fake.base_url,
                playground_api_token=TOKEN,
            ),
            warm_up=False,
        )
    ) as url:
        outside = OutsideCaller(url)
        assert outside.event_of("sp-arena-send")["api_visibility"] == "private"
        before = len(fake.chat_requests)
        done = outside.call("sp-arena-send", arena_inputs("hi"))
        assert done["success"], done
        assert "OPENAI_API_KEY" in json.dumps(done["output"]["data"])
        assert len(fake.chat_requests) == before, "no server key was spent for the script"


def test_the_private_arena_event_called_from_outside_passes_the_same_limits(
    fake: FakeOpenAI,
) -> None:
    with live_server(
        build_app(
            make_test_services(
                openai_api_key="server-key",
                openai_base_url=fake.base_url,
                playground_rate_limit_per_minute=3,
            ),
            warm_up=False,
        )
    ) as url:
        outside = OutsideCaller(url)
        fake.enqueue(*(Reply(chunks=["same answer"]) for _ in range(2)))
        before = len(fake.chat_requests)
        done = outside.call("sp-arena-send", arena_inputs("hi", repeat=10))
        assert done["success"], done
        shown = json.dumps(done["output"]["data"])
        assert "Round 2 of 10 did not start" in shown and "Too many turns" in shown
        # Ten rounds of two columns would be twenty upstream calls. A round takes its two turns
        # together, so three turns a minute allow one round; the second is refused whole.
        assert len(fake.chat_requests) - before == 2


def test_wrong_values_sent_to_the_arena_event_are_shown_not_raised(fake: FakeOpenAI) -> None:
    with live_server(build_app(make_test_services(), warm_up=False)) as url:
        outside = OutsideCaller(url)
        for data, field in (
            (arena_inputs("hi", model="bogus"), "model"),
            (arena_inputs(["a", "list"]), "message"),
            (arena_inputs("hi", repeat="lots"), "repeat"),
            (arena_inputs("hi", repeat=11), "repeat"),
            (arena_inputs("hi", audible="7"), "spoken column"),
        ):
            done = outside.call("sp-arena-send", data)
            assert done["success"], done  # shown in the tab, not a Gradio error toast
            shown = json.dumps(done["output"]["data"])
            assert field in shown.lower(), (field, shown)
            for leak in ("Traceback", "validation error", "pydantic"):
                assert leak not in shown, shown
