"""The widget's publishable key (``PLAYGROUND_WIDGET_TOKEN``) with the API behind
``PLAYGROUND_API_TOKEN``: it starts turns on the prompts and models it allows and does nothing
else, it is no identity (limits count per visitor address), and ``/widget`` may be embedded
only by the sites listed in ``PLAYGROUND_WIDGET_ORIGINS``. End to end, against a live server
and the fake OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx
import pytest

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.support import live_server, make_test_services, parse_sse_lines

API_TOKEN = "full-access-secret"
WIDGET_TOKEN = "pk_widget_publishable"
WIDGET = {"Authorization": f"Bearer {WIDGET_TOKEN}"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def url(fake: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_api_token=API_TOKEN,
        playground_widget_token=WIDGET_TOKEN,
        playground_widget_prompts="support-agent",
        # The default model: with OPENAI_BASE_URL on the fake, the first model the fake lists.
        playground_widget_models="compatible:fake-model",
        playground_widget_origins="https://shop.example, https://help.example",
        playground_trust_forwarded_for=True,  # lets one test play several visitors
        playground_max_concurrent_turns=1,
    )
    with live_server(build_app(services, warm_up=False)) as base:
        yield base


def turn(url: str, body: Mapping[str, object], headers: Mapping[str, str]) -> httpx.Response:
    with httpx.Client(timeout=20) as client:
        response = client.post(f"{url}/v1/interact/stream", json=body, headers=headers)
        response.read()
        return response


def test_the_widget_key_starts_a_turn_on_an_allowed_prompt(url: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["Happy ", "to help."]))
    response = turn(url, {"message": "hi", "prompt": "support-agent"}, WIDGET)
    assert response.status_code == 200
    events = list(parse_sse_lines(iter(response.text.splitlines())))
    assert [e.event for e in events][-2:] == ["completion-end", "end"]
    assert events[-2].data["text"] == "Happy to help."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "hi", "prompt": "json-extractor"}, "prompt"),
        ({"message": "hi"}, "prompt"),  # the default prompt is not on the widget's list
        ({"message": "hi", "prompt": "support-agent", "model": "openai:gpt-4o"}, "model"),
        # A draft is any system text under any id: never through the publishable key.
        (
            {
                "message": "hi",
                "prompt_draft": {
                    "id": "support-agent",
                    "title": "t",
                    "node": "prompt",
                    "format": "v2",
                    "system": "Reveal everything.",
                },
            },
            "prompt_draft",
        ),
    ],
)
def test_the_widget_key_is_refused_outside_its_prompts_and_models(
    url: str, fake: FakeOpenAI, body: dict[str, object], field: str
) -> None:
    calls = len(fake.requests)
    response = turn(url, body, WIDGET)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden" and error["field"] == field
    assert WIDGET_TOKEN not in response.text and API_TOKEN not in response.text
    assert len(fake.requests) == calls, "nothing was spent upstream"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/prompts"),
        ("GET", "/v1/prompts/support-agent"),
        ("GET", "/v1/prompts/support-agent/versions/1"),
        ("POST", "/v1/prompts/support-agent/versions"),
        ("GET", "/v1/turns/nope/events"),
        ("POST", "/v1/turns/nope/cancel"),
        ("POST", "/v2/project/support-agent/user/alice/interact/stream"),
    ],
)
def test_the_widget_key_opens_nothing_but_the_turn_route(url: str, method: str, path: str) -> None:
    response = httpx.request(method, url + path, headers=WIDGET, json={}, timeout=20)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_without_either_key_the_turn_route_stays_closed(url: str) -> None:
    body = {"message": "hi", "prompt": "support-agent"}
    assert turn(url, body, {}).status_code == 401
    assert turn(url, body, {"Authorization": "Bearer wrong"}).status_code == 401


def test_the_full_token_is_not_scoped(url: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["{}"]))
    body = {"message": "hi", "prompt": "json-extractor", "model": "openai:gpt-4o"}
    response = turn(url, body, {"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 200


def test_the_widget_key_is_no_identity_limits_count_per_visitor(url: str, fake: FakeOpenAI) -> None:
    """One visitor at its concurrency cap does not use up the key for the others."""
    fake.enqueue(Reply(chunks=["slow ", "answer"], delay=1.0))
    fake.enqueue(Reply(chunks=["other ", "visitor"]))
    body = {"message": "hi", "prompt": "support-agent"}
    first = {**WIDGET, "X-Forwarded-For": "198.51.100.1"}
    with (
        httpx.Client(timeout=20) as client,
        client.stream("POST", f"{url}/v1/interact/stream", json=body, headers=first) as held,
    ):
        assert held.status_code == 200
        lines = held.iter_lines()
        next(line for line in lines if line.startswith("event: completion-start"))
        again = turn(url, body, first)
        assert again.status_code == 429, "the same visitor is at its cap"
        other = turn(url, body, {**WIDGET, "X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 200, "another visitor with the same key is not"
        list(lines)


def test_only_the_listed_sites_may_embed_the_widget(url: str) -> None:
    response = httpx.get(f"{url}/widget", timeout=20)
    assert response.status_code == 200
    policies = response.headers.get_list("content-security-policy")
    assert "frame-ancestors 'self' https://shop.example https://help.example" in policies
    assert any("img-src 'self' data: blob:" in policy for policy in policies)


def test_by_default_any_site_may_embed_the_widget(fake: FakeOpenAI) -> None:
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    with live_server(build_app(services, warm_up=False)) as base:
        response = httpx.get(f"{base}/widget", timeout=20)
    policies = response.headers.get_list("content-security-policy")
    assert not any("frame-ancestors" in policy for policy in policies)
