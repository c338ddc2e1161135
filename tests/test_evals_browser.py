"""The Evals tab in the real page (headless Chromium): a 3-case test set imported from a CSV
file runs against the arena's two columns (two models on the fake upstream); the progress bar
moves while the answers are held, the grid marks each cell, the pass rates show, and the results
export as CSV. A test set run against the left-hand settings is kept for the browser: after a
reload the table is back, a second run compares with the first, and the results export as
JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import PAGE_LOAD_MS, HeldJoins, chromium, open_on_tab
from tests.support import live_server, make_test_services, wait_until

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"

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
        )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_test_set_runs_against_the_arenas_columns(
    browser: Browser, base_url: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    page.set_default_timeout(20_000)
    page.goto(base_url)
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Arena").click()
    for n, model in ((1, "gpt-4o-mini"), (2, "fake-model")):
        page.click(f"#sp-arena-model-{n} input")
        page.locator("ul[role=listbox] li", has_text=model).first.click()
    page.get_by_role("tab", name="Evals").click()

    test_set = tmp_path / "cases.csv"
    test_set.write_text(
        "message,__expected1,__expected2\n"
        "What is the capital of France?,icontains: paris,\n"
        "Count to three,contains: three,llm-rubric: counts well\n"
        "Say goodbye,contains: bye,latency: 60000\n",
        encoding="utf-8",
    )
    page.set_input_files("#sp-eval-files input[type=file]", str(test_set))
    page.wait_for_function(
        "() => (document.querySelector('#sp-eval-status')?.innerText ?? '')"
        ".includes('Imported 3 cases')"
    )
    assert "llm-rubric is not supported" in page.inner_text("#sp-eval-status")
    assert "Count to three" in page.inner_text("#sp-eval-cases")

    held = threading.Event()
    fake.replies_for.update(
        {
            "France": Reply(chunks=["Paris."]),
            "three": Reply(chunks=["One, two, three."]),
            "goodbye": Reply(chunks=["Farewell", "."], gate=held, gate_after=1),
        }
    )
    try:
        page.click("#sp-eval-run")
        # Four of six runs end while the two "goodbye" runs are held: the bar shows it.
        page.wait_for_selector(".sp-eval-progress[data-done='4'][data-total='6']")
        assert "4 of 6 runs" in page.inner_text("#sp-eval-progress")
        held.set()
        page.wait_for_selector(".sp-eval-progress[data-done='6']")
        page.wait_for_function(
            "() => (document.querySelector('#sp-eval-status')?.innerText ?? '').includes('Done')"
        )
    finally:
        held.set()
        fake.replies_for.clear()
    summary = page.inner_text("#sp-eval-summary")
    assert summary.count("67% (2/3)") == 2, summary
    grid = page.locator("#sp-eval-grid table")
    assert grid.locator(".sp-eval-pass").count() == 4
    assert grid.locator(".sp-eval-fail").count() == 2
    page.locator("#sp-eval-grid tr[data-case='2'] summary").first.click()
    assert "does not contain 'bye'" in page.inner_text("#sp-eval-grid tr[data-case='2']")

    page.click("#sp-eval-export")
    link = page.locator("#sp-eval-file a").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert len(rows) == 6
    assert {r["text"] for r in rows} == {"Paris.", "One, two, three.", "Farewell."}
    assert wait_until(lambda: len(fake.chat_requests) >= 6, 5)
    page.screenshot(path=str(tmp_path / "evals.png"), full_page=True)
    if shots := os.environ.get("PLAYGROUND_SCREENSHOTS"):
        page.screenshot(path=f"{shots}/evals.png", full_page=True)


def _wait_status(page: Page, text: str) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#sp-eval-status')?.innerText ?? '').includes(t)", arg=text
    )


def _open_evals_with_gpt_4o_mini(page: Page) -> None:
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.click("#sp-model input")
    page.locator("ul[role=listbox] li", has_text="gpt-4o-mini").first.click()
    page.get_by_role("tab", name="Evals").click()


def _open_cell_editor(page: Page, cell: str) -> None:
    """Double-clicks a table cell until its editor has the focus.

    Under load a double click can land while the table is still being drawn, and keys typed
    before the editor opens are lost; the editor being focused is the event to wait for.
    """
    editor = page.locator(f"{cell} textarea")
    for _ in range(5):
        page.dblclick(cell)
        try:
            expect(editor).to_be_focused(timeout=4_000)
            return
        except AssertionError:
            continue
    expect(editor).to_be_focused()


def _run_left_hand(page: Page) -> None:
    page.locator("#sp-eval-target label", has_text="Left-hand settings").click()
    page.click("#sp-eval-run")
    _wait_status(page, "Done")


def test_the_left_hand_settings_run_kept_for_the_browser_and_compared_after_a_reload(
    browser: Browser, base_url: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1500, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base_url)
    _open_evals_with_gpt_4o_mini(page)
    test_set = tmp_path / "cases.csv"
    test_set.write_text(
        "message,__expected1\nName the capital of France,icontains: paris\n"
        "Wave goodbye,contains: bye\n",
        encoding="utf-8",
    )
    page.set_input_files("#sp-eval-files input[type=file]", str(test_set))
    _wait_status(page, "Imported 2 cases")

    # Nothing run yet: the JSON export says why instead of offering an empty file.
    page.click("#sp-eval-export-json")
    _wait_status(page, "Nothing to export yet")
    try:
        fake.replies_for.update({"France": Reply(chunks=["Paris."]), "goodbye": Reply(["Ciao."])})
        _run_left_hand(page)
        summary = page.inner_text("#sp-eval-summary")
        assert "Left-hand settings: openai:gpt-4o-mini" in summary and "50% (1/2)" in summary
        grid = page.locator("#sp-eval-grid table")
        passed, failed = grid.locator(".sp-eval-pass"), grid.locator(".sp-eval-fail")
        assert (passed.count(), failed.count()) == (1, 1)
        assert "✓ pass" in passed.inner_text() and "✗ fail" in failed.inner_text()
        colour = "e => getComputedStyle(e).backgroundColor"
        assert passed.evaluate(colour) == "rgba(22, 163, 74, 0.16)"
        assert failed.evaluate(colour) == "rgba(220, 38, 38, 0.14)"
        assert fake.chat_requests[-1].body["model"] == "gpt-4o-mini"

        # A reload keeps the imported test set; a second run of it compares with the first.
        page.reload()
        _open_evals_with_gpt_4o_mini(page)
        page.wait_for_function(
            "() => (document.querySelector('#sp-eval-cases')?.innerText ?? '')"
            ".includes('Wave goodbye')"
        )
        assert "What is the capital of France?" not in page.inner_text("#sp-eval-cases")
        # ... and the last run's results, as they were when it ended.
        _wait_status(page, "The last run, of ")
        assert page.locator("#sp-eval-grid .sp-eval-pass").count() == 1
        assert "50% (1/2)" in page.inner_text("#sp-eval-summary")
        fake.replies_for.update({"France": Reply(["Lyon."]), "goodbye": Reply(["Goodbye now."])})
        _run_left_hand(page)
    finally:
        fake.replies_for.clear()
    assert "1 earlier run(s) of these cases" in page.inner_text("#sp-eval-status")
    page.click("#sp-eval-compare-with input")
    [earlier] = page.locator("ul[role=listbox] li").all_inner_texts()
    assert "Left-hand settings: openai:gpt-4o-mini" in earlier and earlier.endswith(" 50%")
    page.locator("ul[role=listbox] li").first.click()
    page.wait_for_selector("#sp-eval-comparison .sp-eval-comparison")
    comparison = page.inner_text("#sp-eval-comparison")
    worse, better = comparison.split("Failed before, passes now")
    assert "Passed before, fails now (1)" in worse and "Name the capital of France" in worse
    assert "Wave goodbye" in better and "0% → 100%" in better
    assert "50% → 50%" in comparison and " ms → " in comparison
    assert "The same settings and prompts ran." in comparison

    page.click("#sp-eval-export-json")
    link = page.locator("#sp-eval-file a").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    kept = json.loads(Path(download.value.path()).read_text("utf-8"))
    assert [r["text"] for r in sorted(kept["results"], key=lambda r: r["case"])] == [
        "Lyon.",
        "Goodbye now.",
    ]
    assert kept["configurations"][0].startswith("1. Left-hand settings")
    # What ran is kept in full: the settings, and the hash of the prompt (64 hex digits).
    [settings] = kept["settings"]
    assert settings["model"] == "openai:gpt-4o-mini" and "api_key" not in json.dumps(settings)
    [prompt_hash] = kept["prompt_sha256"]
    assert isinstance(prompt_hash, str) and len(prompt_hash) == 64
    # A refused run says why and leaves the last results where they were.
    page.fill("#sp-eval-repeat textarea, #sp-eval-repeat input", "0")
    page.click("#sp-eval-run")
    _wait_status(page, "Not run: repeat: a whole number from 1 to 10")
    assert page.locator("#sp-eval-grid .sp-eval-pass").count() == 1
    assert "Passed before, fails now (1)" in page.inner_text("#sp-eval-comparison")
    page.fill("#sp-eval-repeat textarea, #sp-eval-repeat input", "1")
    page.screenshot(path="/tmp/evals.png", full_page=True)

    # An edit of the table is kept too: after a reload the cell says what was typed.
    _open_cell_editor(page, "#sp-eval-cases [data-testid=cell-1-3]")
    page.keyboard.type("Goodbye!")
    # The edit is kept by an event of its own (not queued: its answer ends it).
    with page.expect_response(lambda r: "Goodbye!" in (r.request.post_data or "")) as kept:
        page.keyboard.press("Enter")
    assert kept.value.ok
    page.reload()
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Evals").click()
    page.wait_for_function(
        "() => (document.querySelector('#sp-eval-cases')?.innerText ?? '').includes('Goodbye!')"
    )
    # The run shown after a reload exports as the one on screen did.
    _wait_status(page, "1 earlier run(s) of these cases")
    page.click("#sp-eval-export")
    _wait_status(page, "Exported the results")
    context.close()


@pytest.fixture(scope="module")
def writable_url(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose prompt folder (a copy of the shipped one) takes saved test sets."""
    folder = tmp_path_factory.mktemp("prompts") / "prompts"
    shutil.copytree(PROMPTS, folder)
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_prompts_dir=str(folder),
        playground_prompts_writable=True,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


def _open_saved(page: Page, ref: str) -> None:
    page.click("#sp-eval-saved input")
    page.locator("ul[role=listbox] li", has_text=ref).first.click()
    _wait_status(page, f"Opened {ref}")


def test_a_save_pressed_while_one_is_under_way_runs_after_it(
    browser: Browser, writable_url: str
) -> None:
    """A Save pressed before the previous save has ended in the page is not dropped: it runs
    once that one has ended, with the name as it is then."""
    page = open_on_tab(browser, writable_url, "Evals")
    _open_saved(page, "summariser/shapes")
    name = page.locator("#sp-eval-save-name input, #sp-eval-save-name textarea").first
    # The first save's join reply is held: the server saves, but the save is still under way
    # in the page when Save is pressed again.
    held = HeldJoins(page)
    name.fill("summariser/held-first")
    page.click("#sp-eval-save")
    held.wait()
    name.fill("summariser/held-second")
    page.click("#sp-eval-save")
    held.release()
    _wait_status(
        page, "cases as summariser/held-second (prompts/summariser/tests/held-second.yaml)"
    )
    page.close()


def test_a_set_beside_a_prompt_opens_into_the_table_and_saving_needs_a_writable_folder(
    browser: Browser, base_url: str, writable_url: str
) -> None:
    page = open_on_tab(browser, base_url, "Evals")
    # This server's prompt folder is read-only: saving is shown off, with the reason.
    expect(page.locator("#sp-eval-save")).to_be_disabled()
    assert "Saving is off: this server's prompts are read-only" in page.inner_text(
        "#sp-eval-saved-row"
    )
    _open_saved(page, "support-agent/regressions")
    assert "where is my order A1001" in page.inner_text("#sp-eval-cases")
    assert "tool-called: order_status" in page.inner_text("#sp-eval-cases")
    page.close()

    page = open_on_tab(browser, writable_url, "Evals")
    _open_saved(page, "summariser/shapes")
    name = page.locator("#sp-eval-save-name input, #sp-eval-save-name textarea").first
    expect(name).to_have_value("summariser/shapes")  # saving goes back to the file it came from
    name.fill("summariser/Smoke test")
    page.click("#sp-eval-save")
    _wait_status(page, "Not saved: name: 'Smoke test': lower-case letters")
    name.fill("summariser/smoke")
    page.click("#sp-eval-save")
    _wait_status(page, "cases as summariser/smoke (prompts/summariser/tests/smoke.yaml)")
    # A page opened later lists it, and it opens with the same cases.
    page.reload()
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Evals").click()
    _open_saved(page, "summariser/shapes")
    shapes = page.inner_text("#sp-eval-cases table")
    _open_saved(page, "summariser/smoke")
    assert page.inner_text("#sp-eval-cases table") == shapes
    page.close()
