"""``ui_page``: the UI path's latency per chunk as a person sees it, ours vs a minimal Gradio chat.

The ``ui`` benchmark's reply (40 chunks of 5 characters, 25 ms apart), sent from each app's page
in headless Chromium by pressing Enter in its message box. For each chunk: when its text first
appeared in the page's chat (a ``MutationObserver`` on the chat, so before the next paint) minus
the time the key went down, less when the raw ``openai`` SDK stream read the same chunk from its
own request in the same round. The page does everything it does for a person, including drawing
the timing plots and table while the text streams; the voice is off in both.

Each round opens a fresh page of each app, so both start with an empty conversation, with the
page's own session already set up (as when a person presses Send); the two take turns at going
first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI
from playwright.async_api import Browser, async_playwright

from benchmarks.common import BenchFakeOpenAI, Row, openai_env, p50, p95, sdk_turn, served
from tests.fakes.openai_server import Reply
from tests.page_support import CHROMIUM_ARGS

CHUNKS, WIDTH, DELAY, ROUNDS, SLACK_MS = 40, 5, 0.025, 8, 5.0

# Installed before the key goes down; resolves with when each chunk label ("c000 ", "c001 ",
# ...) first appeared in a chat message the page did not have before.
WATCH = """
([root, n]) => {
  const chat = document.querySelector(root);
  const before = chat.querySelectorAll('[data-testid=bot]').length;
  window.__keyAt = undefined;
  document.addEventListener('keydown', () => { window.__keyAt ??= performance.now(); },
    { capture: true, once: true });
  window.__seen = new Promise((resolve) => {
    const seen = [];
    const check = () => {
      const bots = chat.querySelectorAll('[data-testid=bot]');
      if (bots.length <= before) return;
      const text = bots[bots.length - 1].textContent;
      while (seen.length < n && text.includes('c' + String(seen.length).padStart(3, '0'))) {
        seen.push(performance.now());
      }
      if (seen.length === n) { observer.disconnect(); resolve(seen); }
    };
    const observer = new MutationObserver(check);
    observer.observe(chat, { subtree: true, childList: true, characterData: true });
  });
}
"""

APPS = {
    # name: (message box, chat root)
    "ours": ("#sp-message textarea", "#sp-chat"),
    "minimal": ("textarea", ".gradio-container"),
}


async def _page_turn(browser: Browser, url: str, box: str, root: str) -> list[float]:
    """One message from a fresh page: when each chunk appeared, in ms since the key went down."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_selector(box, timeout=60_000)
        if root == "#sp-chat":  # ours: voice off, so both pages only show text
            await page.click("#sp-voice input")
            await page.locator("li", has_text="Off").first.click()
        await page.wait_for_timeout(1000)  # the page's load events finish, as a person reads
        await page.evaluate(WATCH, [root, CHUNKS])
        await page.fill(box, "hi")
        await page.press(box, "Enter")
        seen: list[float] = await asyncio.wait_for(page.evaluate("window.__seen"), 30)
        key_at: float = await page.evaluate("window.__keyAt")
        return [t - key_at for t in seen]
    finally:
        await context.close()


async def _measure() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    added: dict[str, list[float]] = {name: [] for name in APPS}
    first: dict[str, list[float]] = {name: [] for name in APPS}
    with BenchFakeOpenAI() as fake:
        fake.default_reply = Reply(chunks=[f"c{i:03d} " for i in range(CHUNKS)], delay=DELAY)
        with (
            served(**openai_env(fake)) as ours_url,
            served("minimal-chat", **openai_env(fake)) as minimal_url,
        ):
            urls = {"ours": ours_url, "minimal": minimal_url}
            async with (
                async_playwright() as p,
                AsyncOpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0) as sdk,
            ):
                browser = await p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                try:
                    for n in range(ROUNDS + 1):  # round 0 warms up both apps and the browser
                        raw = (await sdk_turn(sdk)).chunks
                        order = list(APPS.items())
                        for name, (box, root) in order if n % 2 else order[::-1]:
                            seen = await _page_turn(browser, urls[name], box, root)
                            if n:
                                added[name] += [s - r for s, r in zip(seen, raw, strict=True)]
                                first[name].append(seen[0])
                finally:
                    await browser.close()
    return added, first


def run() -> list[Row]:
    added, first = asyncio.run(_measure())
    a, b = added["ours"], added["minimal"]
    print(
        f"ui_page: {ROUNDS} rounds × {CHUNKS} chunks, {DELAY * 1000:.0f} ms apart; added per "
        f"chunk over the SDK, seen in the page: ours p50 {p50(a):.1f} / p95 {p95(a):.1f} ms, "
        f"minimal ChatInterface p50 {p50(b):.1f} / p95 {p95(b):.1f} ms; first chunk seen p50: "
        f"ours {p50(first['ours']):.0f} ms, minimal {p50(first['minimal']):.0f} ms"
    )
    target = f"≤ minimal (+{SLACK_MS:g} ms)"
    rows: list[Any] = [
        Row(
            "ui_page",
            "added per chunk, seen in the page, p50",
            p50(a),
            "ms",
            p50(b),
            target,
            p50(a) <= p50(b) + SLACK_MS,
        ),
        Row(
            "ui_page",
            "added per chunk, seen in the page, p95",
            p95(a),
            "ms",
            p95(b),
            target,
            p95(a) <= p95(b) + SLACK_MS,
        ),
        Row("ui_page", "first chunk seen, p50", p50(first["ours"]), "ms", p50(first["minimal"])),
    ]
    return rows
