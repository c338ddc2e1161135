"""The real page in headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.

One app, one fake OpenAI server and one browser serve the whole module; every test opens its own
browser context, i.e. its own Gradio session. Voice is switched off unless a test is about voice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    Route,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from playground.ui.render import timing_view
from tests.fakes.openai_server import FakeOpenAI, Reply, ToolCallSpec
from tests.page_support import PAGE_LOAD_MS, chromium, serve_page

pytestmark = [
    pytest.mark.browser,
    # Gradio 6.31's queue computes its analytics with a pandas option that pandas 3 deprecates;
    # with warnings as errors that fails the server-side task after every queued event.
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def base_url(fake: FakeOpenAI) -> Iterator[str]:
    with serve_page(fake) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@dataclass
class Session:
    """One browser context on the page, with everything it logged and requested."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def send(self, text: str) -> None:
        self.page.fill("#sp-message textarea", text)
        self.page.click("#sp-send")

    def choose(self, elem_id: str, option: str) -> None:
        self.page.click(f"#{elem_id} input")
        self.page.locator("li", has_text=option).first.click()

    def voice_off(self) -> None:
        self.choose("sp-voice", "Off")

    def bot_text(self) -> str:
        """The last answer as shown, without the prompt-version line that closes it."""
        return str(
            self.page.evaluate(
                "() => { const m = document.querySelectorAll('#sp-chat [data-testid=bot]');"
                " if (!m.length) return ''; const last = m[m.length - 1];"
                " let text = last.innerText; const meta = last.querySelector('sub');"
                " if (meta) { const at = text.lastIndexOf(meta.innerText);"
                " if (at >= 0) text = text.slice(0, at); }"
                " return text.trim(); }"
            )
        )

    def chat_text(self) -> str:
        return str(self.page.inner_text("#sp-chat"))

    def wait_for_bot_text(self, fragment: str, timeout: float = 10_000) -> None:
        self.page.wait_for_function(
            "(f) => { const m = document.querySelectorAll('#sp-chat [data-testid=bot]');"
            " return m.length && m[m.length - 1].innerText.includes(f); }",
            arg=fragment,
            timeout=timeout,
        )

    def wait_for_status(self, status: str, timeout: float = 10_000) -> None:
        self.wait_for_text("#sp-summary", status, timeout)

    def wait_for_text(self, selector: str, text: str, timeout: float = 10_000) -> None:
        try:
            self.page.wait_for_function(
                "([sel, t]) => { const e = document.querySelector(sel);"
                " return !!e && e.innerText.includes(t); }",
                arg=[selector, text],
                timeout=timeout,
            )
        except PlaywrightTimeout:
            # Say what was on screen instead, so a rare failure can be diagnosed from its log.
            shown = self.page.evaluate(
                "(sel) => document.querySelector(sel)?.innerText ?? '(missing)'", selector
            )
            chat = self.page.evaluate(
                "() => document.querySelector('#sp-chat')?.innerText ?? '(missing)'"
            )
            raise AssertionError(
                f"{text!r} not seen in {selector} within {timeout} ms;"
                f" it shows {shown!r}; chat shows {chat[-600:]!r}"
            ) from None

    def open_accordion(self, elem_id: str) -> None:
        self.page.click(f"#{elem_id} button, #{elem_id} .label-wrap")


@pytest.fixture(scope="module")
def shared_context(browser: Browser) -> Iterator[BrowserContext]:
    # Pages of one context share its HTTP cache, so the page after the first loads faster; each
    # page is still a Gradio session of its own. Tests about isolation open their own contexts.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context
    context.close()


@pytest.fixture
def open_session(
    browser: Browser, shared_context: BrowserContext, base_url: str
) -> Iterator[Callable[..., Session]]:
    opened: list[Page | BrowserContext] = []

    def open_(width: int = 1400, height: int = 1000, *, own_context: bool = False) -> Session:
        if own_context:
            context = browser.new_context(viewport={"width": width, "height": height})
            opened.append(context)
            page = context.new_page()
        else:
            page = shared_context.new_page()
            # A browser's notebook (and any run it left streaming) follows its local storage:
            # each test's page starts as a new browser would.
            page.add_init_script("try { localStorage.clear(); } catch (e) {}")
            opened.append(page)
            page.set_viewport_size({"width": width, "height": height})
        page.set_default_timeout(10_000)
        session = Session(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                session.console_errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: session.console_errors.append(str(error)))
        page.on("request", lambda request: session.requests.append(request.url))

        def on_response(response: Response) -> None:
            if response.status >= 400:
                session.console_errors.append(f"HTTP {response.status} {response.url}")

        page.on("response", on_response)
        page.goto(base_url)
        page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
        # demo.load has filled in the capability notes: the page is wired and its session exists.
        page.wait_for_function(
            "() => (document.querySelector('#sp-capabilities')?.innerText ?? '')"
            ".includes('Tool calling')",
            timeout=PAGE_LOAD_MS,
        )
        return session

    yield open_
    for item in reversed(opened):
        item.close()


@pytest.fixture
def session(open_session: Callable[..., Session]) -> Session:
    return open_session()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_page_loads_cleanly_and_stays_on_this_machine(session: Session) -> None:
    session.page.wait_for_selector("#sp-plot svg")  # the timing charts are drawn
    session.page.wait_for_timeout(300)
    assert session.console_errors == []
    outside = [
        url
        for url in session.requests
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert outside == []
    assert "Disabled:" in session.page.inner_text("#sp-options")


def test_a_message_streams_into_the_chat(session: Session, fake: FakeOpenAI) -> None:
    chunks = [f"word{i} " for i in range(11)] + ["end."]
    # The stream holds after four chunks until the test has looked: "the text was shown while
    # the rest was still coming" is then a fact of the run, however slow the machine is.
    gate = threading.Event()
    fake.enqueue(Reply(chunks=chunks, delay=0.05, gate=gate, gate_after=4))
    session.voice_off()
    session.send("Stream something")
    try:
        session.wait_for_bot_text("word3")
        partial = session.bot_text()
        assert session.page.input_value("#sp-message textarea") == ""  # cleared on Send
        assert "Stream something" in session.chat_text()  # and the message went with the turn
        # Typing the next message while this one streams is not undone by its updates.
        session.page.fill("#sp-message textarea", "next question")
    finally:
        gate.set()
    assert partial.startswith("word0 word1 word2 word3") and "word4" not in partial
    session.wait_for_bot_text("end.")
    assert session.bot_text() == "".join(chunks).strip()
    assert session.page.input_value("#sp-message textarea") == "next question"
    assert session.console_errors == []


def test_the_timing_plot_and_table_fill_in(session: Session, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(chunks=[f"c{i} " for i in range(8)], delay=0.02))
    session.voice_off()
    session.send("Time it")
    session.wait_for_status("· done")
    page = session.page
    # One row per chunk, numbered from 0, under the column headers.
    page.wait_for_function("() => document.querySelectorAll('#sp-table tbody tr').length == 8")
    rows = page.locator("#sp-table tbody tr")
    assert rows.first.locator("td").first.inner_text() == "0"
    assert rows.last.locator("td").first.inner_text() == "7"
    assert page.locator("#sp-table th").all_inner_texts() == list(timing_view.TABLE_HEADERS)
    summary = page.inner_text("#sp-summary")
    assert "TTFT" in summary and "TOTAL" in summary.upper() and "8" in summary
    # The "text received" line is drawn as a staircase: two points per step after the origin,
    # a step per chunk — chunks that landed in the same pixel column (a loaded machine delivers
    # some in a burst) share one, so the count is at most one per chunk.
    points = (page.get_attribute("#sp-plot polyline.sp-received", "points") or "").split()
    assert len(points) % 2 == 1 and 3 <= len(points) <= 1 + 2 * 8, points
    ys = [float(point.split(",")[1]) for point in points]
    assert ys == sorted(ys, reverse=True), "the line only climbs"
    # The gap chart has a bar for each chunk after the first (same columns rule), and a median.
    bars = page.get_attribute("#sp-gaps path.sp-gap-bars", "d") or ""
    assert 1 <= bars.count("M") <= 7
    assert "median" in page.inner_text("#sp-gaps")
    # Copy puts the rows on the clipboard, tab-separated, as a spreadsheet pastes them.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#sp-table [data-sp-copy-table]")
    session.wait_for_text("#sp-table .sp-table-title", "Copied")
    lines = str(page.evaluate("navigator.clipboard.readText()")).split("\n")
    assert lines[0].split("\t") == list(timing_view.TABLE_HEADERS)
    assert len(lines) == 9 and lines[-1].split("\t")[0] == "7"


def test_stop_ends_the_stream_and_keeps_the_partial_answer_and_clear_empties(
    session: Session, fake: FakeOpenAI
) -> None:
    fake.enqueue(Reply(chunks=["Partial ", "answer ", "never sent"], fault="stall", fault_after=2))
    session.voice_off()
    session.send("Tell me a long story")
    session.wait_for_bot_text("Partial answer")
    before = fake.disconnects
    session.page.click("#sp-stop")
    assert wait_until(lambda: fake.disconnects > before, 10), "upstream still open after Stop"
    session.wait_for_bot_text("Stopped")
    assert session.bot_text().startswith("Partial answer")
    session.wait_for_status("stopped")
    assert "Error" not in session.chat_text()
    assert session.page.locator("#sp-table tbody tr").count() == 2
    # Clear empties the conversation and the timing.
    session.page.click("#sp-clear")
    session.wait_for_status("Send a message")
    assert "Partial" not in session.chat_text()
    assert session.page.locator("#sp-table tbody tr").count() == 0
    assert session.page.locator("#sp-plot polyline").count() == 0
    assert session.console_errors == []


def test_markup_in_model_output_does_not_execute(session: Session, fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(
            chunks=[
                "Look: <script>window.__pwned=1</script>",
                ' <img src=x onerror="window.__pwned=2">',
                " [click me](javascript:window.__pwned=3)",
                ' <a href="javascript:window.__pwned=4">or me</a>',
                " done.",
            ]
        )
    )
    session.voice_off()
    session.send('<img src=y onerror="window.__pwned=5"> hi')
    session.wait_for_status("· done")
    page = session.page
    for name in ("click me", "or me"):
        links = page.locator("#sp-chat a", has_text=name)
        if links.count():
            links.first.click(timeout=2_000)
    page.wait_for_timeout(200)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#sp-chat [onerror]").count() == 0
    assert page.locator("#sp-chat a[href^='javascript']").count() == 0


def test_images_in_model_output_are_not_fetched(session: Session, fake: FakeOpenAI) -> None:
    # A prompt-injected answer tries to exfiltrate through an image URL on another origin.
    leak = f"{fake.base_url.removesuffix('/v1')}/pixel.png?secret=s3cr3t"
    fake.enqueue(Reply(chunks=["Here: ", f"![chart]({leak})", " and ", f'<img src="{leak}&b=1">']))
    session.voice_off()
    session.send("Show me a chart")
    session.wait_for_status("· done")
    session.page.wait_for_timeout(500)  # long enough for the browser to have fetched it
    # (The browser may still announce the attempt; the policy stops it before it leaves.)
    assert not [r for r in fake.requests if r.path == "/pixel.png"], "the image was fetched"


def test_sessions_do_not_share_history_or_keys(
    open_session: Callable[..., Session], fake: FakeOpenAI
) -> None:
    a, b = open_session(own_context=True), open_session(own_context=True)
    # The voice first: the key's reply (new choices for the pickers) then lands on a closed
    # list, not under the click on an option (that race has its own test below).
    a.voice_off()
    a.page.click("#sp-keys button, #sp-keys .label-wrap")
    a.page.fill("#sp-openai-key input", "sk-A-only-SECRET")
    fake.enqueue(Reply(chunks=["Answer ", "for A."]), Reply(chunks=["Answer ", "for B."]))
    a.send("I am A")
    a.wait_for_status("· done")
    assert a.bot_text() == "Answer for A."

    # B, open all along, sees none of it.
    assert "I am A" not in b.chat_text() and "Answer" not in b.chat_text()
    b.page.click("#sp-keys button, #sp-keys .label-wrap")
    assert b.page.input_value("#sp-openai-key input") == ""
    assert "sk-A-only-SECRET" not in b.page.content()
    b.voice_off()
    b.send("I am B")
    b.wait_for_status("· done")
    assert "I am A" not in b.chat_text() and b.bot_text() == "Answer for B."

    by_message = {
        r.body["messages"][-1]["content"]: r.headers["authorization"]
        for r in fake.chat_requests[-2:]
    }
    assert by_message == {"I am A": "Bearer sk-A-only-SECRET", "I am B": "Bearer test-key"}


def test_a_key_s_late_reply_does_not_take_back_a_voice_picked_meanwhile(
    session: Session,
) -> None:
    """A pasted key sends the pickers new choices when its box loses focus; a person who picks
    a voice before that reply lands keeps their pick (the reply used to set the voice back to
    the one the key's event was sent with)."""
    page = session.page
    held: list[Route] = []
    holding = True

    def hold(route: Route) -> None:
        # The key's event is a direct call (not queued): held until the pick is made.
        if holding:
            held.append(route)
        else:
            route.continue_()

    page.route("**/gradio_api/run/**", hold)
    session.open_accordion("sp-keys")
    page.fill("#sp-deepgram-key input", "dg-typed-in-the-page")
    session.voice_off()  # the click on the picker takes the focus from the key's box
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # lets Playwright take the held request
    assert held, "the key's event was never sent"
    assert page.input_value("#sp-voice input") == "Off"

    holding = False
    for route in held:
        route.continue_()
    # The reply has landed when the Deepgram voices no longer ask for a key.
    page.click("#sp-voice input")
    page.wait_for_function(
        "() => { const o = [...document.querySelectorAll('li[aria-label^=\"Deepgram\"]')];"
        " return o.length > 0 && !o.some((e) => e.ariaLabel.includes('paste a Deepgram key')); }"
    )
    assert page.input_value("#sp-voice input") == "Off"


def test_the_voice_speaks_while_the_text_is_still_streaming(
    session: Session, fake: FakeOpenAI
) -> None:
    chunks = [
        "The first ",
        "sentence is short. ",
        "A second ",
        "one follows it. ",
        "And a third ",
        "closes the answer.",
    ]
    # After "A second" confirms the first sentence, the rest waits until the page plays audio:
    # the order is then certain however slow the voice is on a busy machine.
    gate = threading.Event()
    fake.enqueue(Reply(chunks=chunks, delay=0.05, gate=gate, gate_after=3))
    page = session.page
    session.send("Say three things")  # the local voice is the default
    try:
        page.wait_for_function("() => window.spAudio.stats().length > 0", timeout=30_000)
        text_when_first_audio = session.bot_text()
    finally:
        gate.set()
    assert "closes the answer" not in text_when_first_audio  # audio came before the last chunk
    session.wait_for_bot_text("closes the answer.")
    stats = page.evaluate("window.spAudio.stats()")
    assert stats[0]["seq"] == 0 and stats[0]["server_t_ms"] > 0

    # Stop silences the player at once.
    page.evaluate(
        "() => { window.__stops = 0; const stop = window.spAudio.stop;"
        " window.spAudio.stop = () => { window.__stops += 1; return stop(); }; }"
    )
    page.click("#sp-stop")
    page.wait_for_function("() => window.__stops === 1")
    assert page.evaluate("window.spAudio.playing()") == 0
    assert "Stopped" in page.inner_text("#sp-audio-status")


def test_an_unavailable_model_explains_itself_in_the_chat(session: Session) -> None:
    session.voice_off()
    session.choose("sp-model", "Azure OpenAI")
    session.send("Hello?")
    session.wait_for_bot_text("What to do")
    text = session.bot_text()
    assert "Error:" in text and "AZURE_OPENAI_API_KEY" in text and "Session keys" in text
    assert "Not sent" in session.page.inner_text("#sp-summary")


def test_the_phone_layout_does_not_scroll_sideways(
    open_session: Callable[..., Session], fake: FakeOpenAI
) -> None:
    phone = open_session(390, 844)
    width = "document.scrollingElement.scrollWidth"
    assert phone.page.evaluate(width) <= 391
    fake.enqueue(Reply(chunks=["A reply that is long enough to wrap ", "on a small screen."]))
    phone.voice_off()
    phone.send("Hi from a phone")
    phone.wait_for_status("· done")
    assert phone.page.evaluate(width) <= 391
    # The conversation comes first on a phone, above the settings.
    chat_top = phone.page.locator("#sp-chat").bounding_box()
    model_top = phone.page.locator("#sp-model").bounding_box()
    assert chat_top is not None and model_top is not None and chat_top["y"] < model_top["y"]
    # The arena fits too: its columns one above the other, its results table inside the screen.
    fake.enqueue(Reply(chunks=["Column one ", "answers."]))
    fake.enqueue(Reply(chunks=["Column two ", "answers."]))
    phone.page.get_by_role("tab", name="Arena").click()
    phone.page.wait_for_selector("#sp-arena-col-2", state="visible")
    phone.page.fill("#sp-arena-message textarea", "Hi, both of you")
    phone.page.click("#sp-arena-send")
    for n in (1, 2):
        phone.page.wait_for_function(
            "n => (document.querySelector(`#sp-arena-pane-${n}`)?.innerText ?? '')"
            ".includes('done')",
            arg=n,
        )
    panes = phone.page.inner_text("#sp-arena-columns")
    assert "Column one answers." in panes and "Column two answers." in panes
    phone.page.wait_for_selector("#sp-arena-results table")
    assert phone.page.evaluate(width) <= 391
    first = phone.page.locator("#sp-arena-col-1").bounding_box()
    second = phone.page.locator("#sp-arena-col-2").bounding_box()
    assert first is not None and second is not None and first["y"] < second["y"]
    assert first["x"] + first["width"] <= 391


def test_the_streaming_guardrail_retracts_flagged_text_mid_stream(
    session: Session, fake: FakeOpenAI
) -> None:
    chunks = ["Sure. ", "Here is ", "how to build ", "a bomb", ". First ", "you need ", "parts."]
    fake.enqueue(Reply(chunks=chunks, delay=0.25))
    session.voice_off()
    session.page.check("#sp-opt-streaming_guardrail input")
    assert "cannot do" in session.page.inner_text("#sp-guardrail-limits")  # its limits, beside it
    before = fake.disconnects
    session.send("Tell me something dangerous")
    session.wait_for_bot_text("how to build a bomb")  # on screen until its sentence is checked
    session.wait_for_bot_text("Retracted by the streaming guardrail")
    text = session.bot_text()
    assert "bomb" not in text and "withheld by the content guardrail" in text
    assert "violence" in text  # which rule, in words
    # The reply stopped there: the upstream was closed and the rest never appeared.
    assert wait_until(lambda: fake.disconnects > before, 10)
    session.wait_for_status("· retracted by the streaming guardrail")
    assert "bomb" not in session.chat_text() and "parts." not in session.chat_text()
    assert session.console_errors == []


def test_the_version_diff_highlights_what_changed(session: Session) -> None:
    page = session.page
    session.choose("sp-prompt", "summariser")
    session.open_accordion("sp-versions")
    session.wait_for_text("#sp-prompt-diff", "summariser@1 → summariser@2")
    inserted = page.locator("#sp-prompt-diff ins").all_inner_texts()
    deleted = page.locator("#sp-prompt-diff del").all_inner_texts()
    assert any("exactly this shape" in text for text in inserted)
    assert any("one short paragraph" in text for text in deleted)
    colours = page.evaluate(
        "() => ['tr.sp-d-ins', 'tr.sp-d-del', 'ins', 'del'].map(s => getComputedStyle("
        "document.querySelector('#sp-prompt-diff ' + s)).backgroundColor)"
    )
    assert all(c not in ("rgba(0, 0, 0, 0)", "transparent") for c in colours), colours
    # Any two versions: the other way round.
    session.choose("sp-diff-old", "2")
    session.choose("sp-diff-new", "1")
    session.wait_for_text("#sp-prompt-diff", "summariser@2 → summariser@1")
    inserted = page.locator("#sp-prompt-diff ins").all_inner_texts()
    assert any("one short paragraph" in text for text in inserted)
    assert session.console_errors == []


def test_a_json_answer_fills_the_structured_panel_and_ends_valid(
    session: Session, fake: FakeOpenAI
) -> None:
    page = session.page
    assert not page.locator("#sp-structured").first.is_visible()  # this prompt has no schema
    session.voice_off()
    session.choose("sp-prompt", "json-extractor")
    page.wait_for_function(
        "() => (document.querySelector('#sp-version input')?.value ?? '') === '2'"
    )
    session.choose("sp-version", "1")
    page.wait_for_function(
        "() => (document.querySelector('#sp-version input')?.value ?? '') === '1'"
    )
    page.locator("#sp-structured").first.wait_for(state="visible")
    chunks = [
        '{"name": "Ada',
        ' Lovelace", "em',
        'ail": "ada@example.com", ',
        '"topics": ["mathematics"',
        ', "engines"]}',
    ]
    # Held after two chunks until the pending state has been seen: it is on screen while the
    # answer streams, however busy the cores (a pace alone was once not enough under a burner).
    held = threading.Event()
    fake.enqueue(Reply(chunks=chunks, gate=held, gate_after=2))
    session.send("Ada Lovelace <ada@example.com> on engines and mathematics")
    try:
        session.wait_for_text("#sp-structured-status", "Pending")  # checked while it streams
    finally:
        held.set()
    session.wait_for_text("#sp-structured-status", "Valid: the complete answer", timeout=15_000)
    panel = page.inner_text("#sp-structured-json")
    assert "Ada Lovelace" in panel and "engines" in panel
    session.wait_for_bot_text("json-extractor@1")  # the answer records its prompt version
    assert session.console_errors == []


def test_an_agent_turn_shows_its_tool_call_inline_while_the_answer_streams(
    session: Session, fake: FakeOpenAI
) -> None:
    fake.enqueue(
        Reply(
            chunks=["Let me work that out. "],
            tool_calls=[ToolCallSpec("calculator", '{"expression": "12 * (3 + 4)"}', call_id="c1")],
        ),
        Reply(chunks=["It ", "is ", "84."], delay=0.05),
    )
    session.voice_off()
    session.choose("sp-prompt", "default-agent-node")  # brings the Agent Node with it
    session.page.wait_for_function(
        "() => document.querySelector('#sp-node input[value=agent]')?.checked === true"
    )
    session.send("What is 12*(3+4)?")
    session.wait_for_bot_text("It is 84.")
    chat = session.chat_text()
    assert "Tool call: calculator" in chat
    assert chat.index("Let me work that out.") < chat.index("Tool call: calculator")
    tools = [t["function"]["name"] for t in fake.chat_requests[-1].body["tools"]]
    assert "calculator" in tools
    assert session.console_errors == []


def test_thinking_streams_in_its_own_block_then_collapses_when_the_answer_starts(
    session: Session, fake: FakeOpenAI
) -> None:
    gate = threading.Event()  # holds the answer until the test has seen the thinking
    thinking = ["The user asks ", "about the sky; ", "Rayleigh scattering explains it."]
    fake.enqueue(Reply(reasoning=thinking, chunks=["Blue light ", "scatters most."], gate=gate))
    session.voice_off()
    session.send("Why is the sky blue?")
    page = session.page
    try:
        session.wait_for_text("#sp-chat", "Rayleigh scattering explains it.")
        chat = session.chat_text()
        assert "Thinking" in chat and "Blue light" not in chat
        assert page.get_by_text("Rayleigh scattering explains it.").is_visible()
        session.wait_for_text("#sp-summary", "thinking…")  # no first answer token yet
    finally:
        gate.set()
    session.wait_for_bot_text("scatters most.")
    page.wait_for_function(
        "() => { const el = [...document.querySelectorAll('#sp-chat *')].find("
        " e => e.children.length === 0 && e.textContent.includes('Rayleigh scattering'));"
        " return !el || el.offsetParent === null; }",
        timeout=10_000,
    )  # collapsed: the thinking is no longer on screen
    assert "Blue light scatters most." in session.bot_text()
    assert "Rayleigh" not in session.bot_text(), "the thinking is not part of the answer"
    session.wait_for_status("done")
    assert "First answer token" in page.inner_html("#sp-summary")  # labels show in capitals
    assert page.locator("#sp-plot .sp-thinking").count() == 1  # its band on the chart
    assert session.console_errors == []
