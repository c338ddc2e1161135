"""The Arena in the real page (headless Chromium): three columns (two models on the fake
upstream and the local model) stream at once, each in its own pane; Stop on one column closes
that upstream alone; the overlay chart has a line per column; the cost row shows a price, a
dash for a model with no price, and $0 for the local model; the streaming-vs-complete preset
repeated with its spread and one column spoken;
a follow-up reaches each column with its own history; a Send pressed as a run ends runs after
it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import PAGE_LOAD_MS, HeldJoins, chromium, open_on_tab
from tests.support import live_server, make_test_services

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def base_url(fake: FakeOpenAI) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PLAYGROUND_API_TOKEN"):
            mp.delenv(name, raising=False)
        services = make_test_services(
            openai_api_key="test-key",
            openai_base_url=fake.base_url,
            playground_compatible_models="fake-model",
            playground_local_max_tokens=12,
        )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def open_arena(browser: Browser, url: str) -> Page:
    """The page on its Arena tab."""
    page = open_on_tab(browser, url, "Arena")
    page.wait_for_selector("#sp-arena-col-1", state="visible")
    return page


def pick(page: Page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.locator("ul[role=listbox] li", has_text=option).first.click()


def wait_for_text(page: Page, selector: str, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([sel, t]) => { const e = document.querySelector(sel);"
        " return !!e && e.innerText.includes(t); }",
        arg=[selector, text],
        timeout=timeout,
    )


def pane(page: Page, n: int) -> str:
    return page.inner_text(f"#sp-arena-pane-{n}")


def test_three_columns_stream_at_once_and_stop_alone(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    page = open_arena(browser, base_url)
    page.click("#sp-arena-add")
    page.wait_for_selector("#sp-arena-col-3", state="visible")
    pick(page, "sp-arena-model-1", "gpt-4o-mini")
    pick(page, "sp-arena-model-2", "fake-model")
    pick(page, "sp-arena-model-3", "SmolLM2")
    page.fill("#sp-arena-seed-1 input, #sp-arena-seed-1 textarea", "7")
    page.fill("#sp-arena-temperature-1 input, #sp-arena-temperature-1 textarea", "0.3")

    # Both upstream columns hold after their first chunk until the test lets them go on, so
    # "both are streaming at once" is a fact of the run, not of the machine's speed.
    gate = threading.Event()
    words = ["Alpha ", "beta ", "gamma ", "delta."]
    for _ in range(2):
        fake.enqueue(Reply(chunks=words, gate=gate, gate_after=1, delay=0.05))
    disconnects = fake.disconnects
    try:
        page.fill("#sp-arena-message textarea", "Name four letters")
        page.click("#sp-arena-send")
        wait_for_text(page, "#sp-arena-pane-1", "Alpha")
        wait_for_text(page, "#sp-arena-pane-2", "Alpha")
        assert "streaming…" in pane(page, 1) and "streaming…" in pane(page, 2)

        # Stop column 2: its upstream closes, and only its.
        page.click("#sp-arena-stop-2")
        assert fake.wait_for_disconnect(timeout=10)
        wait_for_text(page, "#sp-arena-pane-2", "stopped")
        gate.set()
        wait_for_text(page, "#sp-arena-pane-1", "delta.")
        # The answers grew through the run's socket, not through Gradio's frames.
        assert page.evaluate("window.spArena.received()") > 0
        wait_for_text(page, "#sp-arena-pane-1", "done")
        wait_for_text(page, "#sp-arena-pane-3", "done", timeout=60_000)
        assert fake.disconnects == disconnects + 1
        first_run = {r.body["model"]: r.body for r in fake.chat_requests[-2:]}
        asked = first_run["gpt-4o-mini"]
        assert (asked["seed"], asked["temperature"]) == (7, 0.3)
        assert "seed" not in first_run["fake-model"]
        assert "delta." not in pane(page, 2)

        # One line per column on one chart, and the table with its costs.
        wait_for_text(page, "#sp-arena-results", "Cost")
        assert page.locator("#sp-arena-results polyline.sp-arena-line").count() == 3
        cost = page.locator("#sp-arena-results tr", has_text="Cost").inner_text().split("\t")
        assert cost[1].lstrip("★ ").startswith("$0.0000")  # gpt-4o-mini's price
        assert cost[2].strip() == "—"  # no price for the compatible server's model
        assert cost[3].lstrip("★ ").strip() == "$0"  # the local model runs here for free
        ttft = page.locator("#sp-arena-results tr", has_text="TTFT").inner_text()
        assert "★" in ttft

        # A follow-up goes to each column with that column's own history.
        fake.enqueue(Reply(chunks=["Epsilon."]))
        fake.enqueue(Reply(chunks=["Zeta."]))
        before = len(fake.chat_requests)
        page.fill("#sp-arena-message textarea", "And the next one?")
        page.click("#sp-arena-send")
        for n in (1, 2):  # which column gets which reply is the order the requests arrived in
            page.wait_for_function(
                "(sel) => /Epsilon|Zeta/.test(document.querySelector(sel)?.innerText ?? '')",
                arg=f"#sp-arena-pane-{n}",
            )
        sent = [r.body for r in fake.chat_requests[before:]]
        assert len(sent) == 2
        by_model = {b["model"]: b["messages"] for b in sent}
        mini = [m["content"] for m in by_model["gpt-4o-mini"]]
        assert mini[-3:] == ["Name four letters", "Alpha beta gamma delta.", "And the next one?"]
        fake_history = [m["content"] for m in by_model["fake-model"]]
        assert fake_history[-3] == "Name four letters"
        assert fake_history[-2] == "Alpha "  # what column 2 had when it was stopped
        page.close()
    finally:
        gate.set()  # a failure above must not leave the fake's streams held for the next tests


def test_a_send_pressed_as_a_run_ends_runs_after_it(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    """The panes say "done" through the run's socket a moment before Gradio's event for the
    run has ended (the run is recorded, its last frame sent): a Send pressed in that moment
    runs once the event ends, instead of being dropped; a double click on Send sends once."""
    page = open_arena(browser, base_url)
    # The notebook's cells are drawn once its tab has been shown (below, they tell when a
    # run's event has ended).
    page.get_by_role("tab", name="Notebook").click()
    page.wait_for_selector("#sp-nb-cells")
    page.get_by_role("tab", name="Arena").click()
    pick(page, "sp-arena-model-1", "gpt-4o-mini")
    pick(page, "sp-arena-model-2", "fake-model")
    fake.enqueue(Reply(chunks=["Alpha."]))
    fake.enqueue(Reply(chunks=["Beta."]))
    # The run's join reply is held until the second Send has been pressed, so the event is
    # still under way in the page when the panes say "done". (Holding ``queue/data`` instead
    # missed the run's messages when a stream opened earlier, for the pickers' events, was still
    # open and carried them.)
    held = HeldJoins(page)
    page.fill("#sp-arena-message textarea", "First")
    page.click("#sp-arena-send")
    for n in (1, 2):
        wait_for_text(page, f"#sp-arena-pane-{n}", "done")
    assert held, "the run's join was not held (the pane said done without it)"

    fake.enqueue(Reply(chunks=["Gamma."]))
    fake.enqueue(Reply(chunks=["Delta."]))
    before = len(fake.chat_requests)
    page.fill("#sp-arena-message textarea", "Second")
    page.click("#sp-arena-send")
    held.release()
    for n in (1, 2):
        page.wait_for_function(
            "(sel) => /Gamma|Delta/.test(document.querySelector(sel)?.innerText ?? '')",
            arg=f"#sp-arena-pane-{n}",
        )
    # A double click sends once: its second press is deferred like the one above, and known
    # for what it is (the same message, a moment after it was sent).
    fake.enqueue(Reply(chunks=["Eta."]))
    fake.enqueue(Reply(chunks=["Theta."]))
    page.fill("#sp-arena-message textarea", "Third")
    page.dblclick("#sp-arena-send")
    for n in (1, 2):
        page.wait_for_function(
            "(sel) => /Eta|Theta/.test(document.querySelector(sel)?.innerText ?? '')",
            arg=f"#sp-arena-pane-{n}",
        )
    # The run's event has ended when its cells are in the notebook (``after_run``): a second
    # run, had the double click made one, would have been sent by then.
    page.wait_for_function(
        "() => (document.querySelector('#sp-nb-cells')?.textContent.match(/Third/g) || [])"
        ".length >= 2"
    )
    fake.enqueue(Reply(chunks=["Iota."]))
    fake.enqueue(Reply(chunks=["Kappa."]))
    page.fill("#sp-arena-message textarea", "Fourth")
    page.press("#sp-arena-message textarea", "Enter")
    for n in (1, 2):
        page.wait_for_function(
            "(sel) => /Iota|Kappa/.test(document.querySelector(sel)?.innerText ?? '')",
            arg=f"#sp-arena-pane-{n}",
        )
    asked = [r.body["messages"][-1]["content"] for r in fake.chat_requests[before:]]
    assert asked == ["Second"] * 2 + ["Third"] * 2 + ["Fourth"] * 2
    page.close()


def test_an_arena_run_is_kept_when_its_page_closes_mid_run(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    context = browser.new_context(viewport={"width": 1500, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base_url)
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Arena").click()
    pick(page, "sp-arena-model-1", "gpt-4o-mini")
    pick(page, "sp-arena-model-2", "fake-model")
    # Each column holds after its first chunk until the page has closed, then streams on for
    # half a minute: Gradio closes the handler of a page that has gone at its next frame.
    gate = threading.Event()
    long = ["Alpha ", *(["more "] * 300), "end."]
    for _ in range(2):
        fake.enqueue(Reply(chunks=long, gate=gate, gate_after=1, delay=0.1))
    disconnects = fake.disconnects
    page.fill("#sp-arena-message textarea", "Two words, then the page closes")
    page.click("#sp-arena-send")
    wait_for_text(page, "#sp-arena-pane-1", "Alpha")
    wait_for_text(page, "#sp-arena-pane-2", "Alpha")
    page.close()
    gate.set()
    for _ in range(2):  # both upstreams closed mid-answer, as Stop closes them
        assert fake.wait_for_disconnect(timeout=25)
    assert fake.disconnects == disconnects + 2

    # The same browser comes back: both columns are in its notebook, stopped, partial text kept.
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base_url)
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Notebook").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#sp-nb-cells .sp-nb-cell')].filter(c =>"
        " c.innerText.includes('Two words, then the page closes')).length === 2"
    )
    kept = [
        c
        for c in page.locator("#sp-nb-cells .sp-nb-cell").all_inner_texts()
        if "Two words, then the page closes" in c
    ]
    # Each column kept what it had when the page went (the columns' chunks interleave).
    assert all("stopped — partial answer kept" in c and "Alpha" in c for c in kept), kept
    assert not any("end." in c for c in kept)
    chips = page.locator("#sp-nb-cells .sp-chip-arena").all_inner_texts()
    assert {c.split(" · ")[1] for c in chips[:2]} == {"column 1/2", "column 2/2"}
    context.close()


def test_the_streaming_vs_complete_preset_repeats_and_speaks_one_column(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    # "Streaming vs complete" is an arena preset now: the settings' configuration twice,
    # streaming on and off, at temperature 0 with one seed. Three rounds give the spread of
    # every measure and of the similarity; the local voice speaks the streamed column.
    page = open_arena(browser, base_url)
    assert page.locator("#sp-tab-compare").count() == 0  # the old tab is gone
    page.click("#sp-arena-add")
    page.wait_for_selector("#sp-arena-col-3", state="visible")
    pick(page, "sp-model", "gpt-4o-mini")
    page.click("#sp-arena-preset-streaming")
    page.wait_for_selector("#sp-arena-col-3", state="hidden")
    page.wait_for_function(
        "() => document.querySelector('#sp-arena-streaming-2 input')?.checked === false"
    )
    assert page.is_checked("#sp-arena-streaming-1 input")
    assert (
        page.input_value("#sp-arena-temperature-2 input, #sp-arena-temperature-2 textarea") == "0"
    )
    page.fill("#sp-arena-repeat input[type=number]", "3")
    page.press("#sp-arena-repeat input[type=number]", "Enter")
    pick(page, "sp-arena-voice", "Piper joe")
    answers = [
        ("Same answer. Said once.", "Same answer. Said once."),
        ("Same answer. Said twice.", "Same answer. Said once."),
        ("Same answer. Said once.", "Same answer. Said once."),
    ]
    for streamed, complete in answers:  # the two columns of a round ask at once, in any order
        fake.enqueue(Reply(chunks=[w + " " for w in streamed.split()], delay=0.05))
        fake.enqueue(Reply(chunks=[complete]))
    before = len(fake.chat_requests)
    page.fill("#sp-arena-message textarea", "Say it twice")
    page.click("#sp-arena-send")
    wait_for_text(page, "#sp-arena-pane-1", "done · round 3/3", timeout=60_000)
    wait_for_text(page, "#sp-arena-pane-2", "done · round 3/3")
    wait_for_text(page, "#sp-arena-results", "OVER 3 ROUNDS")  # a title, in capitals
    requests = fake.chat_requests[before:]
    assert len(requests) == 6
    assert sorted(bool(r.body.get("stream")) for r in requests) == [False] * 3 + [True] * 3
    assert {(r.body.get("temperature"), r.body.get("seed")) for r in requests} == {(0, 7)}
    results = page.inner_text("#sp-arena-results")
    assert "OVER 3 ROUNDS" in results.upper() and "1 and 2" in results
    # The spread: one round of the six differed, so the pair's range reaches below 100%.
    pair = page.inner_text("#sp-arena-results .sp-arena-pairs")
    assert "100%" in pair and re.search(r"\d\d\.\d%", pair), pair
    # Spoken: the streamed column (column 1 by default) has its time to first audio and the
    # page's player received its audio; the complete column was silent.
    assert "TTFA" in pane(page, 1) and "TTFA" not in pane(page, 2)
    page.wait_for_function("() => window.spAudio.stats().length > 0")

    # Each round's columns are in the notebook, as cells of one arena run per round.
    page.get_by_role("tab", name="Notebook").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#sp-nb-cells .sp-chip-arena').length >= 6"
    )
    chips = page.locator("#sp-nb-cells .sp-chip-arena").all_inner_texts()
    runs = {chip.split(" · ")[0] for chip in chips[:6]}
    assert len(runs) == 3
    assert {c.split(" · ")[1] for c in chips[:6]} == {"column 1/2", "column 2/2"}

    # "Open in arena" on a cell puts that arena run's columns back, with its message.
    page.get_by_role("tab", name="Arena").click()
    page.click("#sp-arena-remove-2")
    page.wait_for_selector("#sp-arena-col-2", state="hidden")
    page.fill("#sp-arena-message textarea", "")
    page.get_by_role("tab", name="Notebook").click()
    page.locator("#sp-nb-cells [data-action=arena]").first.click()
    page.wait_for_selector("#sp-arena-col-2", state="visible")
    wait_for_text(page, "#sp-nb-status", "Opened in the arena: 2 columns")
    assert page.get_by_role("tab", name="Arena").get_attribute("aria-selected") == "true"
    assert page.input_value("#sp-arena-message textarea") == "Say it twice"
    assert page.is_checked("#sp-arena-streaming-1 input")
    assert not page.is_checked("#sp-arena-streaming-2 input")
    assert page.input_value("#sp-arena-seed-2 input, #sp-arena-seed-2 textarea") == "7"
    page.close()


def test_a_column_runs_the_draft_from_the_editor_beside_the_saved_version(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    page = open_arena(browser, base_url)
    pick(page, "sp-model", "gpt-4o-mini")
    page.get_by_role("tab", name="Edit prompt").click()
    page.wait_for_selector("#sp-editor-yaml .cm-content")
    page.locator("#sp-editor-yaml .cm-line", has_text="put the key point first").first.click()
    page.keyboard.press("End")
    page.keyboard.type(" Rhyme.")
    wait_for_text(page, "#sp-editor-status", "Valid draft")
    page.get_by_role("tab", name="Arena").click()
    page.click("#sp-arena-preset-streaming")  # two columns of the left-hand configuration
    page.wait_for_function(
        "() => document.querySelector('#sp-arena-streaming-2 input')?.checked === false"
    )
    page.check("#sp-arena-streaming-2 input")
    pick(page, "sp-arena-prompt-2", "The draft in Edit prompt")
    before = len(fake.chat_requests)
    page.fill("#sp-arena-message textarea", "Hello")
    page.click("#sp-arena-send")
    wait_for_text(page, "#sp-arena-pane-1", "done")
    wait_for_text(page, "#sp-arena-pane-2", "done")
    systems = sorted(r.body["messages"][0]["content"].rstrip() for r in fake.chat_requests[before:])
    assert len(systems) == 2
    assert [s.endswith("Rhyme.") for s in systems].count(True) == 1
    page.close()
