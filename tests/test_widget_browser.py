"""The embeddable widget streams a chat inside a page served from another origin; with the API
behind a token it works with the site's publishable widget key and says plainly when the key is
missing; and a Markdown image in an answer is never fetched."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Frame, Page, async_playwright

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import CHROMIUM_ARGS
from tests.support import live_server, make_test_services

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def app_url(fake: FakeOpenAI) -> Iterator[str]:
    services = make_test_services(openai_api_key="test-key", openai_base_url=fake.base_url)
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class HostSite:
    """Pages on another origin (another port), each embedding the widget with one script tag;
    also a place a leaked image URL would be fetched from (``requests`` records every path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        site = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                site.requests.append(self.path)
                super().do_GET()

        handler = functools.partial(Handler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, name: str, script: str) -> str:
        (self.root / name).write_text(
            "<!doctype html><html><body><h1>Some other site</h1>"
            f"<div id='chat' style='height:420px'></div>{script}</body></html>"
        )
        return f"{self.origin}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostSite]:
    host = HostSite(tmp_path_factory.mktemp("host"))
    yield host
    host.close()


@pytest.fixture(scope="module")
def host_page(app_url: str, site: HostSite) -> str:
    return site.page(
        "index.html",
        f"<script src='{app_url}/widget.js' data-target='#chat' data-title='Help'></script>",
    )


@pytest.fixture(scope="module")
def locked_app_url(fake: FakeOpenAI) -> Iterator[str]:
    """The API behind PLAYGROUND_API_TOKEN; the widget has its own publishable key."""
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_api_token="full-access-secret",
        playground_widget_token="pk_widget",
        playground_widget_prompts="support-agent",
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


async def open_widget(browser: Browser, url: str, app_url: str) -> tuple[Page, Frame, list[str]]:
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    frame_element = await page.wait_for_selector("iframe")
    assert frame_element is not None
    frame = await frame_element.content_frame()
    assert frame is not None
    assert frame.url.startswith(app_url), "the chat runs on the playground's origin"
    await frame.wait_for_selector("#input")
    return page, frame, errors


async def send(frame: Frame, message: str) -> None:
    await frame.fill("#input", message)
    await frame.click("#send")
    await frame.wait_for_function(
        "() => window.widgetState.done + window.widgetState.errors.length >= 1", timeout=30_000
    )


async def test_with_the_api_behind_a_token_the_widget_runs_on_its_publishable_key(
    locked_app_url: str, site: HostSite, fake: FakeOpenAI
) -> None:
    keyed = site.page(
        "keyed.html",
        f"<script src='{locked_app_url}/widget.js' data-target='#chat' data-prompt='support-agent'"
        " data-token='pk_widget'></script>",
    )
    keyless = site.page(
        "keyless.html",
        f"<script src='{locked_app_url}/widget.js' data-target='#chat' "
        "data-prompt='support-agent'></script>",
    )
    fake.enqueue(Reply(chunks=["Happy ", "to ", "help."]))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            _, frame, errors = await open_widget(browser, keyed, locked_app_url)
            assert "pk_widget" not in frame.url.split("#")[0], "the key stays in the fragment"
            await send(frame, "Where is my order?")
            state = await frame.evaluate("() => window.widgetState")
            assert state["errors"] == [] and state["done"] == 1
            assert await frame.text_content(".bot") == "Happy to help."
            assert errors == []

            _, frame, errors = await open_widget(browser, keyless, locked_app_url)
            await send(frame, "Hello?")
            state = await frame.evaluate("() => window.widgetState")
            assert state["done"] == 0 and len(state["errors"]) == 1
            shown = await frame.text_content(".bot") or ""
            assert "not available" in shown and "widget key is missing" in shown
            assert "full-access-secret" not in shown
            assert errors == []
        finally:
            await browser.close()
    assert not any("pk_widget" in path for path in site.requests), "the key never left the page"


async def test_a_markdown_image_in_an_answer_is_never_fetched(
    host_page: str, app_url: str, site: HostSite, fake: FakeOpenAI
) -> None:
    leak = f"{site.origin}/leak.png?secret=order-4521"
    fake.enqueue(Reply(chunks=["Here: ", f"![pixel]({leak}) ", f'<img src="{leak}&html=1">']))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            _, frame, errors = await open_widget(browser, host_page, app_url)
            await send(frame, "Show me a picture")
            assert "leak.png" in (await frame.text_content(".bot") or ""), "shown as text"
            # No image element exists, so nothing can be fetched, now or later.
            assert await frame.evaluate("() => document.images.length") == 0
            assert errors == []
        finally:
            await browser.close()
    assert not any("leak.png" in path for path in site.requests), site.requests


async def test_the_widget_streams_a_reply_on_another_origin(
    host_page: str, app_url: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=[f"part{i} " for i in range(10)], delay=0.12))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page, frame, errors = await open_widget(browser, host_page, app_url)
            await frame.fill("#input", "Hello from another site")
            await frame.click("#send")
            seen: list[int] = []
            for _ in range(40):
                text = await frame.evaluate(
                    "() => (document.querySelector('.bot') || {}).textContent || ''"
                )
                seen.append(len(text))
                if "part9" in text:
                    break
                await asyncio.sleep(0.1)
            assert "part0" in text and "part9" in text
            growing = [n for n in seen if 0 < n < len(text)]
            assert growing, "the reply grew while it streamed"
            await frame.wait_for_function("() => window.widgetState.done === 1", timeout=30_000)
            state = await frame.evaluate("() => window.widgetState")
            assert state["chunks"] == 10 and state["done"] == 1 and state["errors"] == []
            assert errors == []
        finally:
            await browser.close()
