"""``arena_page``: per-chunk latency in the page with four arena columns against the chat alone.

The ``ui_page`` reply (40 chunks of 5 characters, 25 ms apart) from the paced fake, in headless
Chromium. Baseline: one message in the Chat tab, each chunk's appearance in the chat (a
``MutationObserver``, so before the next paint) minus when the raw ``openai`` SDK stream read the
same chunk in the same round. Ours: one message to an arena of four columns (four streams at
once), each chunk's appearance in each column's pane, less the same SDK stream. The arena keeps
its promise when every column shows its chunks within 10 ms of what a single chat does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI
from playwright.async_api import Browser, async_playwright

from benchmarks.common import BenchFakeOpenAI, Row, openai_env, p50, p95, sdk_turn, served
from benchmarks.ui_page import CHUNKS, DELAY, WATCH
from tests.fakes.openai_server import Reply
from tests.page_support import CHROMIUM_ARGS

ROUNDS, COLUMNS, TARGET_MS = 6, 4, 10.0

# Installed before Send is pressed; resolves with, per pane, when each chunk label first
# appeared in it.
WATCH_PANES = """
([panes, n]) => {
  window.__pressAt = undefined;
  document.addEventListener('pointerdown', () => { window.__pressAt ??= performance.now(); },
    { capture: true, once: true });
  window.__seen = Promise.all(panes.map((sel) => new Promise((resolve) => {
    const pane = document.querySelector(sel);
    const seen = [];
    const check = () => {
      const text = pane.querySelector('.sp-arena-text')?.textContent ?? '';
      while (seen.length < n && text.includes('c' + String(seen.length).padStart(3, '0'))) {
        seen.push(performance.now());
      }
      if (seen.length === n) { observer.disconnect(); resolve(seen); }
    };
    const observer = new MutationObserver(check);
    observer.observe(pane, { subtree: true, childList: true, characterData: true });
  })));
}
"""


async def _chat_turn(browser: Browser, url: str) -> list[float]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_selector("#sp-message textarea", timeout=60_000)
        await page.click("#sp-voice input")
        await page.locator("li", has_text="Off").first.click()
        await page.wait_for_timeout(1000)
        await page.evaluate(WATCH, ["#sp-chat", CHUNKS])
        await page.fill("#sp-message textarea", "hi")
        await page.press("#sp-message textarea", "Enter")
        seen: list[float] = await asyncio.wait_for(page.evaluate("window.__seen"), 30)
        key_at: float = await page.evaluate("window.__keyAt")
        return [t - key_at for t in seen]
    finally:
        await context.close()


async def _arena_turn(browser: Browser, url: str) -> list[list[float]]:
    context = await browser.new_context(viewport={"width": 1600, "height": 1200})
    try:
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_selector("#sp-message textarea", timeout=60_000)
        await page.get_by_role("tab", name="Arena").click()
        for n in range(3, COLUMNS + 1):
            await page.click("#sp-arena-add")
            await page.wait_for_selector(f"#sp-arena-col-{n}", state="visible")
        await page.wait_for_timeout(1000)
        await page.fill("#sp-arena-message textarea", "hi")
        panes = [f"#sp-arena-pane-{n}" for n in range(1, COLUMNS + 1)]
        await page.evaluate(WATCH_PANES, [panes, CHUNKS])
        await page.click("#sp-arena-send")
        seen: list[list[float]] = await asyncio.wait_for(page.evaluate("window.__seen"), 60)
        pressed: float = await page.evaluate("window.__pressAt")
        return [[t - pressed for t in column] for column in seen]
    finally:
        await context.close()


async def _measure() -> tuple[list[float], list[float]]:
    chat: list[float] = []
    arena: list[float] = []
    with BenchFakeOpenAI() as fake:
        fake.default_reply = Reply(chunks=[f"c{i:03d} " for i in range(CHUNKS)], delay=DELAY)
        with served(**openai_env(fake)) as url:
            async with (
                async_playwright() as p,
                AsyncOpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0) as sdk,
            ):
                browser = await p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                try:
                    for n in range(ROUNDS + 1):  # round 0 warms up the app and the browser
                        raw = (await sdk_turn(sdk)).chunks
                        seen_chat = await _chat_turn(browser, url)
                        raw_arena = (await sdk_turn(sdk)).chunks
                        seen_arena = await _arena_turn(browser, url)
                        if n:
                            chat += [s - r for s, r in zip(seen_chat, raw, strict=True)]
                            for column in seen_arena:
                                arena += [s - r for s, r in zip(column, raw_arena, strict=True)]
                finally:
                    await browser.close()
    return arena, chat


def run() -> list[Row]:
    arena, chat = asyncio.run(_measure())
    print(
        f"arena_page: {ROUNDS} rounds × {CHUNKS} chunks, {DELAY * 1000:.0f} ms apart; added per "
        f"chunk over the SDK, seen in the page: {COLUMNS} arena columns p50 {p50(arena):.1f} / "
        f"p95 {p95(arena):.1f} ms, one chat p50 {p50(chat):.1f} / p95 {p95(chat):.1f} ms"
    )
    target = f"≤ one chat (+{TARGET_MS:g} ms)"
    rows: list[Any] = [
        Row(
            "arena_page",
            f"added per chunk, {COLUMNS} columns, p50",
            p50(arena),
            "ms",
            p50(chat),
            target,
            p50(arena) <= p50(chat) + TARGET_MS,
        ),
        Row(
            "arena_page",
            f"added per chunk, {COLUMNS} columns, p95",
            p95(arena),
            "ms",
            p95(chat),
            target,
            p95(arena) <= p95(chat) + TARGET_MS,
        ),
    ]
    return rows
