"""Shared by the browser tests: Debian's Chromium under Playwright, and the app on loopback
against a fake OpenAI server with the local voice warmed up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import APIResponse, Browser, Page, Request, Route, sync_playwright

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI
from tests.support import live_server, make_test_services

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
# Loading the page (Gradio's scripts, a fresh context's empty cache) is not what a test measures;
# on two busy cores it has taken over 10 s, so the first waits get longer than the default.
PAGE_LOAD_MS = 30_000
_ENV_KEYS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "DEEPGRAM_API_KEY")


# A microphone without a person: Chromium grants the permission and records ``{wav}`` (played
# once, then silence, with ``%noloop``).
FAKE_MIC_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--use-file-for-fake-audio-capture={wav}%noloop",
]


def chromium_args(mic_wav: str | None = None) -> list[str]:
    """Chromium's flags; with ``mic_wav``, its microphone hears that file once."""
    if mic_wav is None:
        return list(CHROMIUM_ARGS)
    return [*CHROMIUM_ARGS, *(arg.format(wav=mic_wav) for arg in FAKE_MIC_ARGS)]


@contextmanager
def chromium(mic_wav: str | None = None) -> Iterator[Browser]:
    """Debian's Chromium (see ``chromium_args``)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=chromium_args(mic_wav)
        )
        yield browser
        browser.close()


@contextmanager
def serve_page(fake: FakeOpenAI, *, listen: bool = False, **settings: Any) -> Iterator[str]:
    """The whole app (page and API) with OpenAI pointed at ``fake``; yields its base URL.
    ``listen``: the offline speech-to-text is loaded too (voice input tests); ``settings``:
    more of them (a Deepgram key and base URL)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV_KEYS:  # module fixtures run before the per-test environment cleanup
            mp.delenv(name, raising=False)
        services = make_test_services(
            openai_api_key="test-key", openai_base_url=fake.base_url, **settings
        )
    # Load the local voice now, so voice tests measure streaming, not a cold start. On a thread
    # of its own: Playwright's sync API keeps an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, services.engines.local_voice.warm_up()).result()
        if listen:
            pool.submit(asyncio.run, services.engines.local_listener.warm_up()).result()
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def open_on_tab(browser: Browser, url: str, tab: str) -> Page:
    """A wide page at ``url``, loaded, on its tab named ``tab``."""
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    page.set_default_timeout(20_000)
    page.goto(url)
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name=tab).click()
    return page


def fn_index(request: Request) -> int | None:
    """The Gradio event a ``queue/join`` request starts."""
    body = request.post_data_json
    return body.get("fn_index") if isinstance(body, dict) else None


class HeldJoins:
    """Holds the replies to the page's Gradio ``queue/join`` requests until ``release``.

    Each join still reaches the server, which runs its event, but Gradio's client keeps every
    message of an event whose id it has not been told yet (on whichever stream they come), so
    while its join's reply is held the event is under way in the page, however fast the server
    was: what the page does with a second press then can be tested without racing it.
    """

    PATTERN = "**/gradio_api/queue/join**"

    def __init__(self, page: Page, fns: Collection[int] | None = None) -> None:
        """``fns``: only the joins of these events (Gradio's ``fn_index``), else every join."""
        self._page = page
        self._fns = fns
        self._held: list[tuple[Route, APIResponse]] = []
        self._holding = True
        page.route(self.PATTERN, self._hold)

    def _hold(self, route: Route) -> None:
        if self._holding and (self._fns is None or fn_index(route.request) in self._fns):
            self._held.append((route, route.fetch()))
        else:
            route.continue_()

    def __bool__(self) -> bool:
        return bool(self._held)

    def wait(self, timeout_s: float = 20) -> None:
        """Until a join has been held (Playwright runs the route's handler while it waits)."""
        deadline = time.monotonic() + timeout_s
        while not self._held and time.monotonic() < deadline:
            self._page.wait_for_timeout(50)
        assert self._held, "no join was held"

    def release(self) -> None:
        """Every held reply goes on to the page; later joins are no longer held."""
        self._holding = False
        for route, reply in self._held:
            route.fulfill(response=reply)
        self._page.unroute(self.PATTERN, self._hold)
