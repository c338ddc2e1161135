"""Shared by the browser tests: Debian's Chromium under Playwright, and the app on loopback
against a fake OpenAI server with the local voice warmed up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

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
