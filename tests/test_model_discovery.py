"""Model discovery: with ``OPENAI_BASE_URL`` on a compatible server, the models offered are the
ones it lists at ``GET /v1/models`` (through the real ``openai`` SDK, against the loopback fake),
labelled with its host and never as OpenAI; a failure is a reason, and a refresh recovers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import gradio as gr
import httpx
import pytest
from fastapi import FastAPI

from playground.catalog import TOKEN_NEEDED, Credentials, compatible_names
from playground.errors import MissingKeyError
from playground.model_discovery import is_openai, server_host
from playground.server import build_app
from playground.services import Services
from playground.turn.arena import ArenaSession
from playground.turn.gate import TurnGate
from playground.turn.runner import TurnRunner
from playground.ui.arena_tab import ArenaTab, ColumnConfig
from playground.ui.settings_panel import SettingsPanel
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import PAGE_LOAD_MS, chromium, serve_page
from tests.support import live_server, make_test_services, stream_events

FAKE_MODELS = ["qwen2.5", "llama3.2"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.model_ids = list(FAKE_MODELS)
        yield server


@pytest.fixture(scope="module")
def api(fake: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def host_of(fake: FakeOpenAI) -> str:
    return f"127.0.0.1:{fake.port}"


def listed(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/models", headers=headers, timeout=20)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def by_id(models: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in models["data"]}


def models_calls(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/models"))


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused) until a test serves it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def models_server(ids: list[str]) -> FastAPI:
    """A compatible server that has come up: it lists ``ids`` and does nothing else."""
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": "t"} for i in ids],
        }

    return app


# -- the listing ------------------------------------------------------------------------------


def test_the_fakes_models_are_offered_under_its_host_and_one_is_the_default(
    api: str, fake: FakeOpenAI
) -> None:
    models = listed(api)
    items = by_id(models)
    host = host_of(fake)
    for name in FAKE_MODELS:
        item = items[f"compatible:{name}"]
        assert item == {
            "id": f"compatible:{name}",
            "engine": "compatible",
            "label": f"{host} · {name}",
            "available": True,
            "source": "discovered",
            "host": host,
        }
    assert models["default"] == "compatible:qwen2.5", "the first model the server lists"
    # Never offered as OpenAI: the base URL is the fake, not OpenAI.
    openai = items["openai:gpt-4o-mini"]
    assert openai["available"] is False and host in openai["reason"]
    offered = [m for m in models["data"] if m["available"]]
    assert not [m for m in offered if "OpenAI" in m["label"]]
    assert items["local:smollm2-135m"]["source"] == "local"
    discovery = models["discovery"]
    assert discovery["host"] == host and discovery["models"] == 2
    assert discovery["error"] is None and discovery["fetched_at"]


def test_a_turn_without_a_model_runs_on_a_model_the_server_has(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["From ", "qwen."]))
    response, events = stream_events(api, {"message": "hi", "voice": "none"})
    assert response.status_code == 200
    assert events[0].data["model"] == "compatible:qwen2.5"
    assert events[-2].data["text"] == "From qwen."
    sent = fake.chat_requests[-1]
    assert sent.body["model"] == "qwen2.5"
    assert sent.headers["authorization"] == "Bearer test-key"


def test_a_model_the_server_did_not_list_still_streams(api: str, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=["Behind ", "a gateway."]))
    response, events = stream_events(
        api, {"message": "hi", "model": "compatible:not-listed-7b", "voice": "none"}
    )
    assert response.status_code == 200
    assert events[0].data["model"] == "compatible:not-listed-7b"
    assert events[-2].data["text"] == "Behind a gateway."
    assert fake.chat_requests[-1].body["model"] == "not-listed-7b"


def test_an_openai_id_sent_anyway_still_runs_on_the_server(api: str, fake: FakeOpenAI) -> None:
    # Existing clients keep working: the id runs where it always did, with the OpenAI key.
    fake.enqueue(Reply(chunks=["Same ", "server."]))
    _, events = stream_events(api, {"message": "hi", "model": "openai:gpt-4o", "voice": "none"})
    assert events[0].data["model"] == "openai:gpt-4o"
    assert events[-2].data["text"] == "Same server."
    assert fake.chat_requests[-1].body["model"] == "gpt-4o"


def test_the_refresh_route_asks_again_and_answers_the_new_list(api: str, fake: FakeOpenAI) -> None:
    before = models_calls(fake)
    fake.model_ids = [*FAKE_MODELS, "mistral-small"]
    try:
        response = httpx.post(f"{api}/v1/models/refresh", timeout=20)
        assert response.status_code == 200
        assert models_calls(fake) == before + 1
        refreshed = by_id(response.json())
        assert refreshed["compatible:mistral-small"]["source"] == "discovered"
        assert "compatible:mistral-small" in by_id(listed(api)), "the cache holds the new list"
    finally:
        fake.model_ids = list(FAKE_MODELS)
        httpx.post(f"{api}/v1/models/refresh", timeout=20)
    schema = httpx.get(f"{api}/openapi.json", timeout=20).json()
    assert "post" in schema["paths"]["/v1/models/refresh"]


# -- failures -----------------------------------------------------------------------------------


def test_a_server_that_cannot_list_gives_a_reason_and_the_app_still_serves(
    fake: FakeOpenAI,
) -> None:
    # A wrong base path: the fake answers 404, as a misconfigured server would.
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=f"{fake.base_url}/nope"
    )
    with live_server(build_app(services, warm_up=False)) as url:
        models = listed(url)
        row = by_id(models)["compatible:"]
        assert row["available"] is False
        assert row["reason"].startswith(f"{host_of(fake)} did not list its models")
        assert "404" in row["reason"] and "compatible:<model>" in row["reason"]
        assert models["discovery"]["error"] and models["discovery"]["models"] is None
        assert models["default"] == "local:smollm2-135m"
        # Naming a model is still possible; only the turn itself meets the server's 404.
        refused = httpx.post(
            f"{url}/v1/interact/stream",
            json={"message": "hi", "model": "compatible:", "voice": "none"},
            timeout=20,
        )
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "model"
        assert httpx.get(f"{url}/healthz", timeout=20).status_code == 200


def test_a_later_refresh_recovers_and_a_failed_one_keeps_the_last_good_list() -> None:
    port = closed_port()
    services = make_test_services(openai_base_url=f"http://127.0.0.1:{port}/v1")
    host = f"127.0.0.1:{port}"
    with live_server(build_app(services, warm_up=False)) as url:
        down = listed(url)
        assert "could not connect" in by_id(down)["compatible:"]["reason"]
        with live_server(models_server(["phi-4"]), port=port):
            up = httpx.post(f"{url}/v1/models/refresh", timeout=20).json()
        assert "compatible:" not in by_id(up)
        assert by_id(up)["compatible:phi-4"]["label"] == f"{host} · phi-4"
        assert up["default"] == "compatible:phi-4" and up["discovery"]["error"] is None
        # The server went away again: the list it gave is kept, and the failure is reported.
        again = httpx.post(f"{url}/v1/models/refresh", timeout=20).json()
        assert by_id(again)["compatible:phi-4"]["available"] is True
        assert "compatible:" not in by_id(again)
        assert again["discovery"]["models"] == 1
        assert "could not connect" in again["discovery"]["error"]


def test_the_refresh_route_is_behind_the_api_token(fake: FakeOpenAI) -> None:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake.base_url, playground_api_token="s3cret"
    )
    with live_server(build_app(services, warm_up=False)) as url:
        before = models_calls(fake)
        denied = httpx.post(f"{url}/v1/models/refresh", timeout=20)
        assert denied.status_code == 401
        assert models_calls(fake) == before, "a refused caller makes the server ask nothing"
        ok = httpx.post(
            f"{url}/v1/models/refresh", headers={"Authorization": "Bearer s3cret"}, timeout=20
        )
        assert ok.status_code == 200 and models_calls(fake) == before + 1


# -- what is offered, at the catalog -------------------------------------------------------------


async def discovered(fake: FakeOpenAI, **settings: Any) -> Services:
    services = make_test_services(openai_base_url=fake.base_url, **settings)
    await services.refresh_models()
    return services


def compatible_ids(services: Services, creds: Credentials | None = None) -> list[str]:
    models = services.catalog.models(creds or services.server_credentials)
    return [m.id for m in models if m.engine == "compatible"]


async def test_configured_names_are_added_first_and_the_default_is_one_the_server_lists(
    fake: FakeOpenAI,
) -> None:
    services = await discovered(fake, playground_compatible_models="my-finetune, llama3.2")
    try:
        assert compatible_ids(services) == [
            "compatible:my-finetune",
            "compatible:llama3.2",
            "compatible:qwen2.5",
        ]
        sources = {m.id: m.source for m in services.catalog.models(services.server_credentials)}
        assert sources["compatible:my-finetune"] == "configured"
        assert sources["compatible:llama3.2"] == "discovered"
        default = services.catalog.default_model(services.server_credentials)
        assert default.id == "compatible:llama3.2", "listed by the server, first of the offered"
    finally:
        await services.aclose()


async def test_a_list_starting_with_equals_offers_only_its_names(fake: FakeOpenAI) -> None:
    services = await discovered(fake, playground_compatible_models="=llama3.2,gateway-only")
    try:
        assert compatible_ids(services) == ["compatible:llama3.2", "compatible:gateway-only"]
        # Restricting the offer does not restrict what a request may name.
        qwen = services.catalog.resolve_model("compatible:qwen2.5", services.server_credentials)
        assert qwen.label == f"{host_of(fake)} · qwen2.5" and qwen.source == "requested"
    finally:
        await services.aclose()


def test_the_configured_list_is_read_as_documented() -> None:
    assert compatible_names(()) == ((), False)
    assert compatible_names(("a", "b", "a")) == (("a", "b"), False)
    assert compatible_names(("=a", "b")) == (("a", "b"), True)
    assert compatible_names(("a", "=b")) == (("a", "b"), False)


async def test_refreshes_at_once_share_one_request(fake: FakeOpenAI) -> None:
    services = make_test_services(openai_base_url=fake.base_url)
    try:
        assert services.discovery is not None
        before = models_calls(fake)
        first, second = await asyncio.gather(
            services.discovery.refresh(), services.discovery.refresh()
        )
        assert first is second and first.models == tuple(FAKE_MODELS)
        assert models_calls(fake) == before + 1
    finally:
        await services.aclose()


async def test_a_visitor_without_the_token_cannot_name_an_unlisted_model(
    fake: FakeOpenAI,
) -> None:
    services = await discovered(fake, playground_api_token="s3cret")
    try:
        visitor = Credentials(server_endpoints=False)
        offered = [m for m in services.catalog.models(visitor) if m.engine == "compatible"]
        assert offered and all(m.reason == TOKEN_NEEDED for m in offered)
        for model in ("compatible:qwen2.5", "compatible:not-listed"):
            with pytest.raises(MissingKeyError, match="access token"):
                services.catalog.resolve_model(model, visitor)
    finally:
        await services.aclose()


def test_with_openais_own_base_url_nothing_is_asked_and_openai_stays_openai() -> None:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url="https://api.openai.com/v1"
    )
    creds = services.server_credentials
    assert services.discovery is None
    mini = next(m for m in services.catalog.models(creds) if m.id == "openai:gpt-4o-mini")
    assert mini.available and mini.label == "OpenAI · gpt-4o-mini"
    assert services.catalog.default_model(creds).id == "openai:gpt-4o-mini"


def test_hosts_are_shown_without_credentials_and_only_openais_host_is_openai() -> None:
    assert server_host("http://127.0.0.1:8080/v1") == "127.0.0.1:8080"
    assert server_host("https://user:secret@gateway.example/api/v1") == "gateway.example"
    assert server_host("http://[::1]:11434/v1") == "[::1]:11434"
    assert is_openai("https://api.openai.com/v1") and is_openai("https://API.openai.com")
    assert not is_openai("http://127.0.0.1:8080/v1")
    assert not is_openai("https://api.openai.com.evil.example/v1")


# -- the page's picker ---------------------------------------------------------------------------


def panel_of(services: Services) -> SettingsPanel:
    panel = SettingsPanel(services)
    with gr.Blocks():
        panel.render()
    return panel


def choice_ids(update: dict[str, Any]) -> list[str]:
    return [value for _, value in update["choices"]]


async def test_the_pickers_refresh_shows_the_new_list_and_keeps_the_pick(
    fake: FakeOpenAI,
) -> None:
    services = await discovered(fake)
    try:
        panel = panel_of(services)
        assert panel.models_refresh.visible is True
        assert panel.built_model == "compatible:qwen2.5"
        fake.model_ids = [*FAKE_MODELS, "gemma3"]
        picker, status = await panel.refresh_models("compatible:llama3.2", "", "", "", "")
        assert "compatible:gemma3" in choice_ids(picker)
        assert (f"{host_of(fake)} · gemma3", "compatible:gemma3") in picker["choices"]
        # Kept by leaving the picker's value alone: a model picked while the list loaded stays.
        assert "value" not in picker, "the picked model is kept"
        assert status["visible"] is True and "lists 3 models" in status["value"]
        # A picked model the server no longer lists gives way to the default.
        fake.model_ids = ["qwen2.5"]
        picker, _ = await panel.refresh_models("compatible:gemma3", "", "", "", "")
        assert picker["value"] == "compatible:qwen2.5"
    finally:
        fake.model_ids = list(FAKE_MODELS)
        await services.aclose()


async def test_the_pickers_refresh_shows_why_the_list_is_missing(fake: FakeOpenAI) -> None:
    services = make_test_services(openai_base_url=f"{fake.base_url}/nope")
    try:
        panel = panel_of(services)
        picker, status = await panel.refresh_models(panel.built_model, "", "", "", "")
        assert "compatible:" in choice_ids(picker)
        assert status["visible"] is True
        assert status["value"].startswith(f"{host_of(fake)} did not list its models")
        # A page loading now shows the same reason under the picker.
        _, on_load = panel.current_models(panel.built_model)
        assert on_load["visible"] is True and "did not list" in on_load["value"]
    finally:
        await services.aclose()


async def test_a_page_loaded_after_a_refresh_offers_the_new_list() -> None:
    port = closed_port()
    services = make_test_services(openai_base_url=f"http://127.0.0.1:{port}/v1")
    try:
        panel = panel_of(services)  # built before the server could list its models
        assert panel.built_model == "local:smollm2-135m"
        with live_server(models_server(["phi-4"]), port=port):
            await services.refresh_models()  # someone's refresh, once the server came up
        picker, status = panel.current_models(panel.built_model)
        assert picker["value"] == "compatible:phi-4", "nobody had chosen: today's default"
        assert "compatible:phi-4" in choice_ids(picker)
        assert status["visible"] is False
        picked, _ = panel.current_models("local:smollm2-135m")
        unknown, _ = panel.current_models("compatible:gone")
        assert picked["value"] == "compatible:phi-4"  # still the built value: nobody chose it
        assert unknown["value"] == "compatible:phi-4", "a value no longer offered gives way"
    finally:
        await services.aclose()


async def test_a_visitor_without_the_token_does_not_make_the_server_ask(
    fake: FakeOpenAI,
) -> None:
    services = await discovered(fake, playground_api_token="s3cret")
    try:
        panel = panel_of(services)
        before = models_calls(fake)
        _, status = await panel.refresh_models(panel.built_model, "", "", "", "")
        assert models_calls(fake) == before
        assert status["value"] == TOKEN_NEEDED
        _, status = await panel.refresh_models(panel.built_model, "", "", "", "s3cret")
        assert models_calls(fake) == before + 1 and "lists 2 models" in status["value"]
    finally:
        await services.aclose()


async def test_a_typed_model_the_server_did_not_list_is_sent_as_typed_under_its_host(
    fake: FakeOpenAI,
) -> None:
    services = await discovered(fake)
    try:
        panel = panel_of(services)
        host = host_of(fake)
        picker, status = panel.on_model_typed("mistral-nemo", "", "", "", "")
        assert picker["value"] == "compatible:mistral-nemo", "a bare name is the server's"
        assert (f"{host} · mistral-nemo", "compatible:mistral-nemo") in picker["choices"]
        assert status["visible"] is True
        assert status["value"] == (
            f"mistral-nemo is not in {host}'s list; it is sent as typed and the server decides."
        )
        # A listed model chosen from the list changes nothing else.
        picker, status = panel.on_model_typed("compatible:llama3.2", "", "", "", "")
        assert picker == gr.update() and status == gr.update()
        # A tag after a colon is part of a server's name (Ollama's llama3:8b).
        picker, _ = panel.on_model_typed("llama3:8b", "", "", "", "")
        assert picker["value"] == "compatible:llama3:8b"
        # An engine named explicitly is kept: a model OpenAI does not have is refused with the
        # reason, and the picker goes back to the default.
        picker, status = panel.on_model_typed("openai:not-a-model", "", "", "", "")
        assert picker["value"] == "compatible:qwen2.5"
        assert "unknown model 'openai:not-a-model'" in status["value"]
    finally:
        await services.aclose()


async def test_a_typed_model_is_refused_without_the_token_when_one_is_set(
    fake: FakeOpenAI,
) -> None:
    services = await discovered(fake, playground_api_token="s3cret")
    try:
        panel = panel_of(services)
        picker, status = panel.on_model_typed("mistral-nemo", "", "", "", "")
        assert picker["value"] == panel.catalog.default_model(panel.anonymous_creds).id
        assert TOKEN_NEEDED in status["value"]
        picker, _ = panel.on_model_typed("mistral-nemo", "", "", "", "s3cret")
        assert picker["value"] == "compatible:mistral-nemo"
    finally:
        await services.aclose()


def test_without_a_compatible_server_a_typed_name_is_not_anyones() -> None:
    services = make_test_services()
    panel = panel_of(services)
    assert services.catalog.typed_model(" llama3:8b ") == "llama3:8b"
    picker, status = panel.on_model_typed("llama3:8b", "", "", "", "")
    assert picker["value"] == panel.catalog.default_model(panel.anonymous_creds).id
    assert "unknown model 'llama3:8b'" in status["value"]


def test_without_a_compatible_server_there_is_no_refresh_button() -> None:
    services = make_test_services()
    panel = panel_of(services)
    assert panel.models_refresh.visible is False
    assert services.discovery is None


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated")
def test_the_refresh_button_beside_the_picker_updates_it_in_the_page(fake: FakeOpenAI) -> None:
    host = host_of(fake)
    with serve_page(fake) as url, chromium() as browser:
        page = browser.new_page()
        try:
            page.goto(url, timeout=PAGE_LOAD_MS)
            page.wait_for_selector("#sp-models-refresh", timeout=PAGE_LOAD_MS)
            assert page.input_value("#sp-model input") == f"{host} · qwen2.5"
            fake.model_ids = [*FAKE_MODELS, "gemma3"]
            page.click("#sp-models-refresh")
            page.wait_for_function(
                "() => (document.querySelector('#sp-models-status') || {}).innerText"
                "?.includes('lists 3 models')",
                timeout=20_000,
            )
            assert page.input_value("#sp-model input") == f"{host} · qwen2.5", "the pick is kept"
            page.click("#sp-model input")
            option = page.locator("ul[role=listbox] li", has_text=f"{host} · gemma3")
            option.first.wait_for(timeout=10_000)
            # The arena's column pickers follow the refresh.
            page.keyboard.press("Escape")
            page.get_by_role("tab", name="Arena").click()
            page.click("#sp-arena-model-1 input")
            option.first.wait_for(timeout=10_000)
            page.keyboard.press("Escape")
            page.get_by_role("tab", name="Chat").click()
            # A name the server does not list, typed into the picker, is sent as typed.
            page.fill("#sp-model input", "mistral-nemo")
            page.press("#sp-model input", "Enter")
            page.wait_for_function(
                "() => (document.querySelector('#sp-models-status') || {}).innerText"
                "?.includes('not in')",
                timeout=20_000,
            )
            assert page.input_value("#sp-model input") == f"{host} · mistral-nemo"
        finally:
            fake.model_ids = list(FAKE_MODELS)
            page.close()


async def test_a_name_typed_into_an_arena_column_is_the_servers_too(fake: FakeOpenAI) -> None:
    services = await discovered(fake)
    try:
        settings = panel_of(services)
        arena = ArenaTab(TurnRunner(services), settings, TurnGate(None))
        prompt = settings.default_prompt
        ref = f"{prompt.id}@{prompt.version}"
        typed, listed = arena.requests(
            "hi",
            ArenaSession(),
            [ColumnConfig("llama3:8b", ref), ColumnConfig("compatible:qwen2.5", ref)],
        )
        assert (typed.model, listed.model) == ("compatible:llama3:8b", "compatible:qwen2.5")
    finally:
        await services.aclose()
