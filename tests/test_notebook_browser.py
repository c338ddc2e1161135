"""The Notebook tab in headless Chromium: cells appear, rerun, pin, compare, delete, export and
import; a refresh keeps the notebook and the conversation and resumes a streaming answer; one
browser's notebook is invisible to another.

Every test opens its own browser context: a context is a browser, with its own local storage
and so its own notebook.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage

from playground.notebook.model import Notebook as NotebookModel
from playground.notebook.model import notebook_from_json, notebook_to_json
from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import PAGE_LOAD_MS, chromium, serve_page
from tests.support import live_server, make_test_services, wait_until
from tests.test_notebook import make_cell, run_events
from tests.test_ui_browser import Session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
]

CELL = "#sp-nb-cells article.sp-nb-cell"


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


class Notebook(Session):
    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
        # The page's load event has given this browser its notebook id.
        self.page.wait_for_function(
            "() => !!localStorage.getItem('streaming-playground')", timeout=PAGE_LOAD_MS
        )
        self.page.wait_for_function(
            "() => (document.querySelector('#sp-capabilities')?.innerText ?? '')"
            ".includes('Tool calling')",
            timeout=PAGE_LOAD_MS,
        )

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()

    def cells(self) -> int:
        return int(self.page.locator(CELL).count())

    def wait_for_cells(self, n: int, timeout: float = 10_000) -> None:
        self.page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length === n",
            arg=[CELL, n],
            timeout=timeout,
        )

    def cell_text(self, index: int) -> str:
        return str(self.page.locator(CELL).nth(index).inner_text())

    def act(self, index: int, action: str) -> None:
        self.page.locator(CELL).nth(index).locator(f"button[data-action='{action}']").click()

    def ask(self, text: str, answer_fragment: str) -> None:
        self.tab("Chat")
        self.send(text)
        self.wait_for_bot_text(answer_fragment)
        self.wait_for_status("· done")


@pytest.fixture
def open_notebook(browser: Browser, base_url: str) -> Iterator[Callable[..., Notebook]]:
    contexts: list[BrowserContext] = []

    def open_(context: BrowserContext | None = None, width: int = 1400) -> Notebook:
        if context is None:
            context = browser.new_context(viewport={"width": width, "height": 1000})
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        nb = Notebook(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                nb.console_errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: nb.console_errors.append(str(error)))
        nb.open(base_url)
        nb.voice_off()
        return nb

    yield open_
    for context in contexts:
        context.close()


def test_the_empty_notebook_says_what_to_do(open_notebook: Callable[..., Notebook]) -> None:
    nb = open_notebook()
    nb.tab("Notebook")
    text = nb.page.inner_text("#sp-nb-cells")
    assert "No runs yet" in text and "Chat tab" in text and "nobody else" in text
    assert nb.console_errors == []


def test_runs_become_cells_that_rerun_pin_compare_and_delete(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    nb = open_notebook()
    fake.enqueue(Reply(chunks=["Paris is ", "the capital."]))
    nb.ask("Capital of France?", "the capital.")
    fake.enqueue(Reply(chunks=["Berlin is ", "the capital of Germany."]))
    nb.ask("And Germany?", "of Germany.")
    nb.tab("Notebook")
    nb.wait_for_cells(2)
    first = nb.cell_text(0)
    assert "Capital of France?" in first and "Paris is the capital." in first
    # The default model: with OPENAI_BASE_URL on the fake, the first model the fake lists.
    assert "compatible:fake-model" in first and "default-prompt-node@1" in first
    assert "TTFT" in first and nb.page.locator(f"{CELL} svg").count() == 2
    assert "after 2 earlier messages" in nb.cell_text(1)  # the second turn saw the first

    # Rerun: streams into a live cell, then becomes a new cell with the same history.
    # The rerun holds after its first chunk until the live cell has been seen: on a busy
    # machine a short run could otherwise finish between two looks.
    held = threading.Event()
    fake.enqueue(Reply(chunks=["Paris, ", "still."], gate=held, gate_after=1))
    nb.act(0, "rerun")
    try:
        nb.wait_for_text("#sp-nb-live", "Paris,")
    finally:
        held.set()
    nb.wait_for_cells(3)
    assert "Paris, still." in nb.cell_text(2) and "Capital of France?" in nb.cell_text(2)
    assert fake.chat_requests[-1].body["messages"][-1]["content"] == "Capital of France?"

    # Pin one, compare with another: metrics side by side and a word diff.
    nb.act(0, "pin")
    nb.wait_for_text("#sp-nb-status", "Pinned")
    nb.act(2, "compare")
    nb.page.wait_for_selector("#sp-nb-compare")
    compare = nb.page.inner_text("#sp-nb-compare")
    assert "Comparing [1] and [3]" in compare and "time to first token" in compare
    assert nb.page.locator("#sp-nb-compare ins").count() >= 1  # "still." was added
    # Delete a pinned cell: the comparison goes with it.
    nb.act(2, "delete")
    nb.wait_for_cells(2)
    assert nb.page.locator("#sp-nb-compare").count() == 0
    assert nb.console_errors == []


def test_edit_puts_a_run_back_in_the_composer(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    nb = open_notebook()
    nb.choose("sp-prompt", "summariser")
    nb.page.wait_for_function(
        "() => (document.querySelector('#sp-version input')?.value ?? '') === '2'"
    )
    fake.enqueue(Reply(chunks=["A summary."]))
    nb.ask("Summarise this: cats sleep a lot.", "A summary.")
    nb.choose("sp-prompt", "default-prompt-node")
    nb.page.fill("#sp-message textarea", "something else")
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    nb.act(0, "edit")
    nb.page.wait_for_function(
        "() => (document.querySelector('#sp-message textarea')?.value ?? '')"
        ".startsWith('Summarise this')"
    )
    assert nb.page.input_value("#sp-prompt input") == "summariser"
    assert nb.page.input_value("#sp-version input") == "2"
    assert nb.page.get_by_role("tab", name="Chat").get_attribute("aria-selected") == "true"


def test_a_refresh_keeps_the_notebook_and_the_conversation(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI, base_url: str
) -> None:
    nb = open_notebook()
    fake.enqueue(Reply(chunks=["Remember ", "me."]))
    nb.ask("Hello notebook", "Remember me.")
    nb.page.reload()
    nb.open(base_url)
    nb.wait_for_bot_text("Remember me.")
    assert "Hello notebook" in nb.chat_text()
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    # The conversation continues where it was: the next turn sends the restored history.
    nb.voice_off()
    fake.enqueue(Reply(chunks=["Still here."]))
    nb.ask("Are you there?", "Still here.")
    sent = fake.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent[-3:]] == ["Hello notebook", "Remember me.", "Are you there?"]


def test_a_streaming_answer_survives_a_refresh(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI, base_url: str
) -> None:
    nb = open_notebook()
    chunks = [f"part{i} " for i in range(12)]
    # The answer stops after part3 until the reloaded page has picked it up, so the run is
    # still streaming when the page comes back however long the reload takes.
    gate = threading.Event()
    fake.enqueue(Reply(chunks=chunks, delay=0.05, gate=gate, gate_after=4))
    disconnects = fake.disconnects
    nb.send("Tell me a long story")
    try:
        nb.wait_for_bot_text("part2")
        nb.page.reload()
        nb.open(base_url)
        # The reloaded page picks the answer up from its first chunk...
        nb.wait_for_bot_text("part3", timeout=30_000)
    finally:
        gate.set()
    # ... and follows it to the end.
    nb.wait_for_bot_text("part11", timeout=30_000)
    assert "Tell me a long story" in nb.chat_text()
    assert nb.bot_text().startswith("part0 part1")
    assert fake.disconnects == disconnects  # the upstream stream was never cut
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    text = nb.cell_text(0)
    assert "part11" in text and "stopped" not in text


def test_stop_keeps_the_partial_answer_marked_stopped(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    nb = open_notebook()
    fake.enqueue(Reply(chunks=[f"word{i} " for i in range(40)], delay=0.15))
    nb.send("Go on and on")
    nb.wait_for_bot_text("word2")
    nb.page.click("#sp-stop")
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    text = nb.cell_text(0)
    assert "stopped — partial answer kept" in text and "word2" in text and "word39" not in text


def test_one_browser_never_sees_another_browsers_notebook(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    alice = open_notebook()
    fake.enqueue(Reply(chunks=["Alice's secret answer."]))
    alice.ask("Alice's question", "secret answer.")
    bob = open_notebook()
    bob.tab("Notebook")
    assert "No runs yet" in bob.page.inner_text("#sp-nb-cells")
    assert "Alice" not in bob.chat_text()
    alice.tab("Notebook")
    alice.wait_for_cells(1)


def test_export_and_import_and_view_code(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI, tmp_path: Path
) -> None:
    nb = open_notebook()
    fake.enqueue(Reply(chunks=["Exported ", "answer."]))
    nb.ask("Export me", "Exported answer.")
    nb.tab("Notebook")
    nb.wait_for_cells(1)

    nb.page.click("#sp-nb-export-json")
    link = nb.page.locator("#sp-nb-file a").first
    link.wait_for()
    with nb.page.expect_download() as download:
        link.click()
    exported = tmp_path / "notebook.json"
    download.value.save_as(exported)
    loaded = notebook_from_json(exported.read_bytes())
    assert [c.text for c in loaded.cells] == ["Exported answer."]

    nb.page.click("#sp-nb-export-ipynb")
    nb.wait_for_text("#sp-nb-status", ".ipynb")
    with nb.page.expect_download() as download:
        nb.page.locator("#sp-nb-file a").first.click()
    ipynb = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    sources = "\n".join("".join(c["source"]) for c in ipynb["cells"])
    assert ipynb["nbformat"] == 4 and "Export me" in sources and "openai" in sources
    # The exported notebook runs, and reproduces the run the page recorded.
    fake.enqueue(Reply(chunks=["Exported ", "answer."]))
    doc = nbformat.from_dict(ipynb)  # type: ignore[no-untyped-call]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", "test-key")
        mp.setenv("OPENAI_BASE_URL", fake.base_url)
        NotebookClient(
            doc, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    run = next(c for c in doc.cells if c.get("id") == "run1")
    out = "".join(o.get("text", "") for o in run.outputs if o.get("output_type") == "stream")
    assert "Answer:\nExported answer.\n" in out and "Same as recorded: True" in out, out

    # Another browser imports the JSON export: the run appears there too.
    other = open_notebook()
    other.tab("Notebook")
    other.page.set_input_files("#sp-nb-toolbar input[type=file]", str(exported))
    other.wait_for_cells(1)
    assert "Exported answer." in other.cell_text(0)
    again = tmp_path / "again.json"  # the same runs under another name: a new upload
    again.write_bytes(exported.read_bytes())
    other.page.set_input_files("#sp-nb-toolbar input[type=file]", str(again))
    other.wait_for_text("#sp-nb-status", "skipped")
    assert other.cells() == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    other.page.set_input_files("#sp-nb-toolbar input[type=file]", str(bad))
    other.wait_for_text("#sp-nb-status", "Not imported")

    # View code for the current settings, and for a cell.
    nb.tab("Chat")
    nb.page.fill("#sp-message textarea", "What would this cost?")
    nb.tab("Notebook")
    nb.page.click("#sp-nb-view-code")
    # (The editor draws only the lines in view: the short curl command shows all of it.)
    nb.wait_for_text("#sp-nb-curl", "What would this cost?")
    assert "/v1/interact/stream" in nb.page.inner_text("#sp-nb-curl")
    assert "openai" in nb.page.inner_text("#sp-nb-python")
    nb.page.screenshot(path=str(tmp_path / "code.png"))
    nb.act(0, "code")
    nb.wait_for_text("#sp-nb-curl", "Export me")
    assert wait_until(lambda: nb.console_errors == [], 0.5)


def test_a_spoken_run_keeps_its_audio(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    nb = open_notebook()
    nb.choose("sp-voice", "Piper")
    fake.enqueue(Reply(chunks=["One sentence. ", "Another one."]))
    nb.ask("Speak", "Another one.")
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    src = nb.page.locator(f"{CELL} audio").get_attribute("src")
    assert src is not None and src.startswith("data:audio/wav;base64,")
    assert "TTFA" in nb.cell_text(0) and "text voiced" in nb.cell_text(0)


def test_the_notebook_fits_a_phone(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    nb = open_notebook(width=390)
    fake.enqueue(Reply(chunks=["A phone-sized answer that wraps over a few lines."]))
    nb.ask("Hi from a phone", "phone-sized")
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    assert nb.page.evaluate("document.scrollingElement.scrollWidth") <= 391


def test_a_rerun_can_be_stopped_and_keeps_its_partial_answer(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI
) -> None:
    nb = open_notebook()
    fake.enqueue(Reply(chunks=["First answer."]))
    nb.ask("Count slowly", "First answer.")
    nb.tab("Notebook")
    nb.wait_for_cells(1)
    fake.enqueue(Reply(chunks=[f"n{i} " for i in range(60)], delay=0.15))
    disconnects = fake.disconnects
    nb.act(0, "rerun")
    nb.wait_for_text("#sp-nb-live", "n2")
    nb.page.click("#sp-nb-live button[data-action='stop']")
    nb.wait_for_cells(2)
    assert wait_until(lambda: fake.disconnects > disconnects, 10)  # the upstream closed
    text = nb.cell_text(1)
    assert "stopped — partial answer kept" in text and "n2" in text and "n59" not in text
    # The live slot empties with the frame after the cell is stored: wait for it.
    nb.page.wait_for_function(
        "() => (document.querySelector('#sp-nb-live')?.innerText ?? '').trim() === ''",
        timeout=10_000,
    )


def test_without_a_notebook_file_the_page_still_works_and_says_why(
    browser: Browser, fake: FakeOpenAI
) -> None:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake.base_url, playground_notebook_db=""
    )
    with live_server(build_app(services, warm_up=False)) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            nb = Notebook(page)
            page.on("pageerror", lambda error: nb.console_errors.append(str(error)))
            nb.open(url)
            nb.voice_off()
            fake.enqueue(Reply(chunks=["Still streams."]))
            nb.ask("Hello", "Still streams.")
            nb.tab("Notebook")
            assert "PLAYGROUND_NOTEBOOK_DB" in page.inner_text("#sp-nb-off")
            assert nb.console_errors == []
        finally:
            context.close()


def test_a_rerun_that_cannot_start_says_why(
    open_notebook: Callable[..., Notebook], fake: FakeOpenAI, tmp_path: Path
) -> None:
    # Two imported runs: one this server can run, one whose model it cannot (no Azure key).
    good, bad = make_cell(run_events(("Hello.",))), make_cell(run_events(("Hi.",)))
    data = json.loads(notebook_to_json(NotebookModel(cells=(good, bad)), include_audio=False))
    for cell in data["cells"]:
        cell["config"]["voice"] = None  # no Deepgram key here either
    data["cells"][1]["config"]["model"] = "azure:gpt-4o-mini"
    imported = tmp_path / "runs.json"
    imported.write_text(json.dumps(data), encoding="utf-8")
    nb = open_notebook()
    nb.tab("Notebook")
    nb.page.set_input_files("#sp-nb-toolbar input[type=file]", str(imported))
    nb.wait_for_cells(2)
    fake.enqueue(Reply(chunks=["Hello again."]))
    nb.act(0, "rerun")  # a rerun that runs first, so the failing one is not this page's first
    nb.wait_for_cells(3)
    nb.act(1, "rerun")
    nb.wait_for_text("#sp-nb-status", "AZURE_OPENAI_API_KEY")
    assert nb.cells() == 3  # nothing half-made was added
