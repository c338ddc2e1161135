"""Hardening of the HTTP API, end to end against a live server and the fake OpenAI server:
who a client is (limits, conversations), resume edge cases, bodies the parser cannot take,
CORS scope, Voiceflow auth and usage, idempotent retries, and the shape of 4xx bodies."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator

import httpx
import pytest

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import SSEEvent, live_server, make_test_services, parse_sse_lines

VF_PATH = "/v2/project/default-prompt-node/user/{user}/interact/stream"
GRACE_S = 1.5


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def serve(fake: FakeOpenAI, **settings: object) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake.base_url, **settings
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI) -> Iterator[str]:
    # Behind a (pretend) proxy: X-Forwarded-For lets one test play several clients.
    yield from serve(
        fake,
        playground_trust_forwarded_for=True,
        playground_resume_grace_s=GRACE_S,
        playground_keepalive_s=0.2,
    )


def post_turn(url: str, headers: dict[str, str] | None = None) -> list[SSEEvent]:
    with (
        httpx.Client(timeout=20) as client,
        client.stream(
            "POST", f"{url}/v1/interact/stream", json={"message": "go"}, headers=headers or {}
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        return list(parse_sse_lines(response.iter_lines()))


def voiceflow(
    url: str, user: str, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        url + VF_PATH.format(user=user),
        params={"completion_events": "true"},
        json={"action": {"type": "text", "payload": message}},
        headers=headers or {},
        timeout=20,
    )


def assert_clean_error(response: httpx.Response, status: int, field: str) -> None:
    """Our error shape only: a code, a message of ours, the field; no exception text or dump."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["field"] == field
    text = response.text.lower()
    for leak in ("traceback", "exception", "errors.pydantic.dev", "set_int_max_str_digits"):
        assert leak not in text


# -- 4: limits keyed on the validated token or the address -----------------------------------


def test_random_authorization_headers_do_not_get_fresh_rate_limit_buckets(
    fake: FakeOpenAI,
) -> None:
    for url in serve(fake, playground_rate_limit_per_minute=2):
        statuses = [
            httpx.post(
                f"{url}/v1/interact/stream",
                json={"message": "hi"},
                headers={"Authorization": f"Bearer {secrets.token_hex(8)}"},
                timeout=20,
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


def test_extra_spaces_around_the_token_are_the_same_client(fake: FakeOpenAI) -> None:
    for url in serve(fake, playground_api_token="s3cret", playground_rate_limit_per_minute=2):
        statuses = [
            httpx.post(
                f"{url}/v1/interact/stream",
                json={"message": "hi"},
                headers={"Authorization": auth},
                timeout=20,
            ).status_code
            for auth in ("Bearer s3cret", "Bearer   s3cret", "bearer  s3cret")
        ]
        assert statuses == [200, 200, 429]


def test_behind_a_proxy_the_client_is_the_entry_the_proxy_appended(fake: FakeOpenAI) -> None:
    def turn(url: str, forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded}
        return httpx.post(
            f"{url}/v1/interact/stream", json={"message": "hi"}, headers=headers, timeout=20
        ).status_code

    for url in serve(fake, playground_trust_forwarded_for=True, playground_rate_limit_per_minute=2):
        spoofed = [turn(url, f"10.0.0.{i}, 203.0.113.7") for i in range(3)]
        assert spoofed == [200, 200, 429], "the client-written left part is ignored"
        assert turn(url, "10.0.0.1, 203.0.113.8") == 200, "another real address is another client"


# -- 10: Voiceflow conversations belong to their caller ----------------------------------------


def test_voiceflow_conversations_are_bound_to_the_caller_not_just_the_user_id(
    api: str, fake: FakeOpenAI
) -> None:
    alice = {"X-Forwarded-For": "198.51.100.1"}
    mallory = {"X-Forwarded-For": "198.51.100.2"}
    fake.enqueue(Reply(chunks=["Noted."]), Reply(chunks=["Hi."]), Reply(chunks=["Sure."]))
    assert voiceflow(api, "alice", "my PIN is 4321", alice).status_code == 200
    assert voiceflow(api, "alice", "what did I say?", mallory).status_code == 200
    seen_by_mallory = [m["content"] for m in fake.chat_requests[-1].body["messages"][1:]]
    assert seen_by_mallory == ["what did I say?"]
    assert voiceflow(api, "alice", "and now?", alice).status_code == 200
    seen_by_alice = [m["content"] for m in fake.chat_requests[-1].body["messages"][1:]]
    assert seen_by_alice == ["my PIN is 4321", "Noted.", "and now?"]


# -- 14, 20: resume edge cases -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-2", "-1000000", "abc", "1.5", "9" * 5000], ids=lambda v: v[:8])
def test_a_last_event_id_that_is_not_an_id_is_a_400_naming_it(api: str, value: str) -> None:
    turn_id = post_turn(api)[0].data["turn_id"]
    response = httpx.get(
        f"{api}/v1/turns/{turn_id}/events", headers={"Last-Event-ID": value}, timeout=20
    )
    assert_clean_error(response, 400, "Last-Event-ID")
    query = httpx.get(f"{api}/v1/turns/{turn_id}/events", params={"last_event_id": value})
    assert_clean_error(query, 400, "last_event_id")


def test_a_finished_turn_read_to_its_end_answers_204(api: str) -> None:
    events = post_turn(api)
    turn_id, end_id = events[0].data["turn_id"], events[-1].id
    assert events[-1].event == "end" and end_id is not None
    done = httpx.get(f"{api}/v1/turns/{turn_id}/events", headers={"Last-Event-ID": str(end_id)})
    assert done.status_code == 204 and done.content == b""
    # One frame short of the end still gets that frame.
    last = httpx.get(
        f"{api}/v1/turns/{turn_id}/events", headers={"Last-Event-ID": str(int(end_id) - 1)}
    )
    assert last.status_code == 200
    assert [e.event for e in parse_sse_lines(iter(last.text.splitlines()))] == ["end"]


def test_every_event_stream_starts_with_a_retry_inside_the_grace(api: str) -> None:
    with httpx.Client(timeout=20) as client:
        with client.stream("POST", f"{api}/v1/interact/stream", json={"message": "go"}) as posted:
            lines = posted.iter_lines()
            first = next(lines)
            rest = list(parse_sse_lines(lines))
        turn_id = rest[0].data["turn_id"]
        with client.stream("GET", f"{api}/v1/turns/{turn_id}/events") as resumed:
            resumed_first = next(resumed.iter_lines())
    assert first.startswith("retry: ") and resumed_first == first
    assert 0 < int(first.removeprefix("retry: ")) < GRACE_S * 1000


# -- 15: bodies the JSON parser cannot take --------------------------------------------------


@pytest.mark.parametrize("raw", [b"[" * 100_000, b"1" * 5_000], ids=["deep", "long-int"])
@pytest.mark.parametrize("path", ["/v1/interact/stream", VF_PATH.format(user="u")])
def test_unparseable_json_is_a_400_on_both_streaming_routes(
    api: str, path: str, raw: bytes
) -> None:
    response = httpx.post(
        api + path, content=raw, headers={"Content-Type": "application/json"}, timeout=20
    )
    assert_clean_error(response, 400, "body")
    assert response.json()["error"]["code"] == "invalid_json"


# -- 16: 4xx bodies name the field and carry no internals ---------------------------------------


def test_api_4xx_bodies_name_the_field_and_never_dump_internals(api: str) -> None:
    bad_flag = httpx.post(
        api + VF_PATH.format(user="u"),
        params={"completion_events": "maybe"},
        json={"action": {"type": "text", "payload": "hi"}},
    )
    assert_clean_error(bad_flag, 422, "completion_events")
    bad_json = httpx.post(
        f"{api}/v1/interact/stream",
        content=b'{"message": ',
        headers={"Content-Type": "application/json"},
    )
    assert_clean_error(bad_json, 400, "body")
    assert "Expecting value" not in bad_json.text
    for path in ("/v1/interact/stream", VF_PATH.format(user="u")):
        not_an_object = httpx.post(api + path, json=["a"])
        assert_clean_error(not_an_object, 422, "(body)")
        assert "Request" not in not_an_object.text, "no internal class names"
    bad_type = httpx.post(f"{api}/v1/interact/stream", json={"message": "x", "history": "no"})
    assert_clean_error(bad_type, 422, "history")
    assert '"no"' not in bad_type.text, "the input is not echoed"
    not_json = httpx.post(f"{api}/v1/interact/stream", content=b"x")
    assert not_json.status_code in (400, 415)


# -- 17: CORS only on the API and the widget -----------------------------------------------------


@pytest.mark.parametrize("path", ["/gradio_api/queue/join", "/config", "/"])
def test_the_pages_own_routes_get_no_cors_headers(api: str, path: str) -> None:
    origin = {"Origin": "http://evil.example"}
    preflight = httpx.options(
        api + path, headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    simple = httpx.get(api + path, headers=origin)
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize(
    "path", ["/v1/interact/stream", VF_PATH.format(user="u"), "/widget", "/v1/models"]
)
def test_the_api_and_widget_keep_their_cors(api: str, path: str) -> None:
    preflight = httpx.options(
        api + path,
        headers={
            "Origin": "http://example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"


# -- 19: Voiceflow-style raw key ----------------------------------------------------------------


def test_the_voiceflow_route_accepts_the_raw_key_voiceflow_clients_send(fake: FakeOpenAI) -> None:
    key = "VF.DM.0123456789abcdef"
    for url in serve(fake, playground_api_token=key):
        assert voiceflow(url, "u", "hi", {"Authorization": key}).status_code == 200
        assert voiceflow(url, "u", "hi", {"Authorization": f"Bearer {key}"}).status_code == 200
        wrong = voiceflow(url, "u", "hi", {"Authorization": key + "x"})
        assert wrong.status_code == 401 and key not in wrong.text
        raw_on_v1 = httpx.post(
            f"{url}/v1/interact/stream", json={"message": "x"}, headers={"Authorization": key}
        )
        assert raw_on_v1.status_code == 401, "the raw form is only for the Voiceflow route"


# -- 21: Idempotency-Key -------------------------------------------------------------------------


def test_a_retried_post_with_the_same_idempotency_key_attaches_to_its_turn(
    api: str, fake: FakeOpenAI
) -> None:
    gate = threading.Event()
    chunks = [f"c{i} " for i in range(6)]
    fake.enqueue(Reply(chunks=chunks, gate=gate, gate_after=2))
    requests_before = len(fake.chat_requests)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    with httpx.Client(timeout=20) as client:
        with client.stream(
            "POST", f"{api}/v1/interact/stream", json={"message": "go"}, headers=key
        ) as response:
            first: list[SSEEvent] = []
            for event in parse_sse_lines(response.iter_lines()):
                first.append(event)
                if event.event == "completion-continue":
                    break  # the connection drops mid-answer
        retry_headers = {**key, "Last-Event-ID": str(first[-1].id)}
        with client.stream(
            "POST", f"{api}/v1/interact/stream", json={"message": "go"}, headers=retry_headers
        ) as response:
            gate.set()
            rest = list(parse_sse_lines(response.iter_lines()))
    assert len(fake.chat_requests) == requests_before + 1, "no second turn upstream"
    ids = [int(e.id) for e in first + rest if e.id is not None]
    assert ids == list(range(len(ids))), "every frame once, in order"
    text = "".join(e.data["text"] for e in first + rest if e.event == "completion-continue")
    assert text == "".join(chunks)
    # Another caller with the same key gets a turn of its own.
    other = post_turn(api, {**key, "X-Forwarded-For": "192.0.2.99"})
    assert other[0].data["turn_id"] != first[0].data["turn_id"]
    assert len(fake.chat_requests) == requests_before + 2


def test_a_malformed_idempotency_key_is_a_400_naming_it(api: str) -> None:
    response = httpx.post(
        f"{api}/v1/interact/stream", json={"message": "x"}, headers={"Idempotency-Key": "a" * 300}
    )
    assert_clean_error(response, 400, "Idempotency-Key")


# -- 22: Voiceflow usage ---------------------------------------------------------------------------


def test_voiceflow_end_trace_omits_unknown_token_counts(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["Hi"], usage=None))
    response = voiceflow(api, "usage-less", "hello")
    traces = [json.loads(line[6:]) for line in response.text.splitlines() if line[:6] == "data: "]
    tokens = traces[-1]["payload"]["tokens"]
    assert traces[-1]["payload"]["state"] == "end"
    assert "answer" not in tokens and "query" not in tokens and "total" not in tokens
    fake.enqueue(Reply(chunks=["Hi"], usage=(7, 3)))
    response = voiceflow(api, "usage-full", "hello")
    traces = [json.loads(line[6:]) for line in response.text.splitlines() if line[:6] == "data: "]
    assert {k: traces[-1]["payload"]["tokens"][k] for k in ("answer", "query", "total")} == {
        "answer": 3,
        "query": 7,
        "total": 10,
    }
