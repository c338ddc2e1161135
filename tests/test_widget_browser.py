"""The embeddable widget streams a chat inside a page served from another origin."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

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


@pytest.fixture(scope="module")
def host_page(app_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A page on another origin (another port) that embeds the widget with one script tag."""
    root: Path = tmp_path_factory.mktemp("host")
    (root / "index.html").write_text(
        "<!doctype html><html><body><h1>Some other site</h1>"
        "<div id='chat' style='height:420px'></div>"
        f"<script src='{app_url}/widget.js' data-target='#chat' data-title='Help'></script>"
        "</body></html>"
    )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


async def test_the_widget_streams_a_reply_on_another_origin(
    host_page: str, app_url: str, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=[f"part{i} " for i in range(10)], delay=0.12))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(host_page)
            frame_element = await page.wait_for_selector("iframe")
            assert frame_element is not None
            frame = await frame_element.content_frame()
            assert frame is not None
            assert frame.url.startswith(app_url), "the chat runs on the playground's origin"
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
