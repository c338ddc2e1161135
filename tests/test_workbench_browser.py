"""The prompt workbench in the real page (headless Chromium): edit a prompt's system text, see a
bad schema refused naming the field, run the draft (the upstream gets the edited text and the
chosen temperature, max tokens and variables), save it with a note, find the new version in the
picker and after a reload, and two browsers saving at once get distinct versions.

The app runs on loopback with a copy of the shipped prompts, OpenAI pointed at the fake.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page
from redis import Redis

from playground.server import build_app
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import PAGE_LOAD_MS, chromium
from tests.redis_support import RedisServer
from tests.support import live_server, make_test_services

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
]

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
ADDED = " Always end with a smile."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("workbench") / "prompts"
    shutil.copytree(PROMPTS, copy)
    return copy


@pytest.fixture(scope="module")
def base_url(fake: FakeOpenAI, folder: Path) -> Iterator[str]:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_prompts_dir=str(folder),
        playground_prompts_writable=True,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(15_000)
    page.goto(url)
    page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
    page.wait_for_function(
        "() => (document.querySelector('#sp-capabilities')?.innerText ?? '')"
        ".includes('Tool calling')",
        timeout=PAGE_LOAD_MS,
    )
    return page


def pick(page: Page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.locator("ul[role=listbox] li", has_text=option).first.click()


def open_editor(page: Page) -> None:
    page.get_by_role("tab", name="Edit prompt").click()
    page.wait_for_selector("#sp-editor-yaml .cm-content")


def append_to_line(page: Page, line_text: str, added: str) -> None:
    page.locator("#sp-editor-yaml .cm-line", has_text=line_text).first.click()
    page.keyboard.press("End")
    page.keyboard.type(added)


def wait_for_text(page: Page, selector: str, text: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "([sel, t]) => { const e = document.querySelector(sel);"
        " return !!e && e.innerText.includes(t); }",
        arg=[selector, text],
        timeout=timeout,
    )


def set_field(page: Page, elem_id: str, value: str) -> None:
    page.fill(f"#{elem_id} textarea, #{elem_id} input", value)


def test_edit_run_the_draft_save_and_find_the_version_after_a_reload(
    browser: Browser, base_url: str, fake: FakeOpenAI, folder: Path
) -> None:
    page = open_page(browser, base_url)
    pick(page, "sp-model", "gpt-4o-mini")
    pick(page, "sp-voice", "Off")
    page.click("#sp-params .label-wrap")
    open_editor(page)
    append_to_line(page, "put the key point first", ADDED)
    wait_for_text(page, "#sp-editor-status", "Valid draft")
    wait_for_text(page, "#sp-editor-diff", "Always end with a smile")

    # A schema that is not a JSON schema is refused next to the editor, naming the field.
    page.locator("#sp-editor-yaml .cm-line", has_text="default_for_node").first.click()
    page.keyboard.press("End")
    page.keyboard.type("\noutput_schema: {type: 12}")
    wait_for_text(page, "#sp-editor-status", "output_schema")
    assert "not a valid JSON schema" in page.inner_text("#sp-editor-status")
    for _ in range(len("output_schema: {type: 12}") + 1):
        page.keyboard.press("Backspace")
    wait_for_text(page, "#sp-editor-status", "Valid draft")
    draft_ref = page.inner_text("#sp-editor-status code")
    assert draft_ref.startswith("default-prompt-node@draft:")

    # Parameters and variables for the draft's run (the panel was opened first thing).
    # Prefilled from the version's defaults once the panel has opened (typing before it has
    # mounted would be typing into a box about to be drawn again).
    page.wait_for_function(
        "() => document.querySelector('#sp-temperature input, #sp-temperature textarea')"
        "?.value === '0.7'"
    )
    set_field(page, "sp-temperature", "0.25")
    set_field(page, "sp-max-tokens", "42")
    set_field(page, "sp-variables", "assistant_name: Ada")
    wait_for_text(page, "#sp-variables-note", "Every variable has a value")

    fake.enqueue(Reply(chunks=["Hello ", "there :)"]))
    page.get_by_role("tab", name="Chat").click()
    page.fill("#sp-message textarea", "Say hello")
    page.click("#sp-send")
    wait_for_text(page, "#sp-chat", "Hello there")
    wait_for_text(page, "#sp-chat", draft_ref)
    sent = fake.chat_requests[-1].body
    system = sent["messages"][0]["content"]
    assert system.startswith("You are Ada,") and system.rstrip().endswith(ADDED.strip())
    assert (sent["temperature"], sent["max_tokens"]) == (0.25, 42)

    # Save it with a note: the diff was shown, the version is written and picked.
    open_editor(page)
    set_field(page, "sp-save-note", "end with a smile")
    page.click("#sp-save-version")
    wait_for_text(page, "#sp-save-result", "Saved default-prompt-node@2")
    saved = yaml.safe_load((folder / "default-prompt-node" / "v2.yaml").read_text())
    assert saved["note"] == "end with a smile" and ADDED.strip() in saved["system"]
    assert page.input_value("#sp-version input") == "2"
    wait_for_text(page, "#sp-editor-status", "same as the saved version")
    # The history: the new version with its note, and the draft's run counted apart.
    wait_for_text(page, "#sp-prompt-history", "end with a smile")
    rows = page.locator("#sp-prompt-history tr").all_inner_texts()
    assert rows[1].startswith("default-prompt-node@2") and "end with a smile" in rows[1]
    assert rows[2].startswith("default-prompt-node@1")
    draft_row = next(r for r in rows if r.startswith(draft_ref))
    assert "unsaved draft" in draft_row and "\t1\t" in draft_row and " ms" in draft_row
    page.close()

    # A reloaded page finds the new version in the picker.
    again = open_page(browser, base_url)
    again.click("#sp-version input")
    options = again.locator("ul[role=listbox] li").all_inner_texts()
    assert [o.replace("✓", "").strip() for o in options] == ["1", "2"]
    again.close()


def test_a_missing_variable_is_flagged_and_the_turn_refused(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    page = open_page(browser, base_url)
    pick(page, "sp-model", "gpt-4o-mini")
    page.click("#sp-params .label-wrap")
    open_editor(page)
    append_to_line(page, "put the key point first", " Speak like {{persona}}.")
    wait_for_text(page, "#sp-editor-status", "persona")
    set_field(page, "sp-variables", "assistant_name: Ada\npersona:")
    wait_for_text(page, "#sp-variables-note", "No value for")
    calls = len(fake.chat_requests)
    page.get_by_role("tab", name="Chat").click()
    page.fill("#sp-message textarea", "hi")
    page.click("#sp-send")
    wait_for_text(page, "#sp-chat", "persona has no value")
    assert len(fake.chat_requests) == calls
    page.close()


def test_two_browsers_saving_at_once_get_distinct_versions(
    browser: Browser, base_url: str, folder: Path
) -> None:
    pages = [open_page(browser, base_url) for _ in range(2)]
    for index, page in enumerate(pages):
        pick(page, "sp-prompt", "summariser")
        open_editor(page)
        wait_for_text(page, "#sp-editor-title", "summariser@2")
        append_to_line(page, "title:", f" (take {index})")
        wait_for_text(page, "#sp-editor-status", "Valid draft")
    # Playwright's sync pages belong to this thread: click both, then wait for both answers.
    for page in pages:
        page.click("#sp-save-version")
    for page in pages:
        wait_for_text(page, "#sp-save-result", "Saved summariser@")
    results = sorted(page.inner_text("#sp-save-result") for page in pages)
    versions = sorted(int(r.split("summariser@")[1].split(".")[0]) for r in results)
    assert versions == [3, 4]
    assert any("saved elsewhere meanwhile" in r for r in results), results
    titles = {
        yaml.safe_load((folder / "summariser" / f"v{v}.yaml").read_text())["title"]
        for v in versions
    }
    assert len(titles) == 2, "neither save overwrote the other"
    for page in pages:
        page.close()


def test_a_read_only_server_keeps_saved_versions_in_that_browser_only(
    browser: Browser, fake: FakeOpenAI, tmp_path: Path
) -> None:
    services = make_test_services(
        openai_api_key="test-key", openai_base_url=fake.base_url, playground_prompts_writable=False
    )
    with live_server(build_app(services, warm_up=False)) as url:
        page = open_page(browser, url)
        pick(page, "sp-model", "gpt-4o-mini")
        pick(page, "sp-voice", "Off")
        open_editor(page)
        wait_for_text(page, "#sp-save-result", "A save keeps the version in this browser only")
        assert "PLAYGROUND_PROMPTS_WRITABLE" in page.inner_text("#sp-save-result")
        append_to_line(page, "put the key point first", ADDED)
        wait_for_text(page, "#sp-editor-status", "Valid draft")
        wait_for_text(page, "#sp-editor-status", "Save keeps versions in this browser only")
        set_field(page, "sp-save-note", "end with a smile")
        page.click("#sp-save-version")
        wait_for_text(page, "#sp-save-result", "Kept default-prompt-node · kept 1 in this browser")
        assert "kept 1 · end with a smile" in page.input_value("#sp-kept input")
        wait_for_text(page, "#sp-kept-row", "1 kept.")
        # Nothing was written on the server; the editor still holds the draft, and Send runs it.
        assert services.prompts.versions("default-prompt-node") == [1]
        fake.enqueue(Reply(chunks=["Kept ", "and run :)"]))
        page.get_by_role("tab", name="Chat").click()
        page.fill("#sp-message textarea", "Say hello")
        page.click("#sp-send")
        wait_for_text(page, "#sp-chat", "Kept and run")
        wait_for_text(page, "#sp-chat", "default-prompt-node@draft:")
        assert (
            fake.chat_requests[-1].body["messages"][0]["content"].rstrip().endswith(ADDED.strip())
        )

        # After a reload the editor opens the saved version, and the kept one is a click away.
        page.reload()
        page.wait_for_selector("#sp-send", timeout=PAGE_LOAD_MS)
        open_editor(page)
        assert ADDED.strip() not in page.inner_text("#sp-editor-yaml")
        wait_for_text(page, "#sp-kept-row", "1 kept.")  # the list has been read back
        # The history lists the kept version with its note and the run its text made.
        wait_for_text(page, "#sp-prompt-history", "kept 1")
        kept_row = next(
            row
            for row in page.locator("#sp-prompt-history tr").all_inner_texts()
            if row.startswith("default-prompt-node · kept 1")
        )
        assert "end with a smile" in kept_row and "(this browser)" in kept_row
        assert "\t1\t" in kept_row and " ms" in kept_row
        pick(page, "sp-kept", "kept 1")
        page.click("#sp-open-kept")
        wait_for_text(page, "#sp-save-result", "Opened default-prompt-node · kept 1 as a draft")
        wait_for_text(page, "#sp-editor-yaml", ADDED.strip())
        wait_for_text(page, "#sp-editor-status", "Valid draft")
        with page.expect_download() as download:
            page.click("#sp-download-kept")
            page.locator("#sp-editor-file a").first.click()
        assert download.value.suggested_filename == "default-prompt-node-kept-1.yaml"
        text = Path(download.value.path()).read_text()
        assert text.startswith("# default-prompt-node · kept 1, kept in a browser from")
        assert ADDED.strip() in yaml.safe_load(text)["system"]
        page.close()

        # Another browser sees none of it.
        other = open_page(browser, url)
        open_editor(other)
        wait_for_text(other, "#sp-kept-row", "None kept yet")
        other.close()


def test_a_read_only_server_without_a_notebook_says_why_saving_is_off(
    browser: Browser, fake: FakeOpenAI
) -> None:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_prompts_writable=False,
        playground_notebook_db="",
    )
    with live_server(build_app(services, warm_up=False)) as url:
        page = open_page(browser, url)
        open_editor(page)
        assert page.locator("#sp-save-version").is_disabled()
        assert "PLAYGROUND_PROMPTS_WRITABLE" in page.inner_text("#sp-save-result")
        assert page.locator("#sp-kept").count() == 0
        page.close()


def test_tools_are_ticked_into_the_text_and_unknown_ones_refused(
    browser: Browser, base_url: str
) -> None:
    page = open_page(browser, base_url)
    open_editor(page)
    page.click("#sp-editor-tools-box .label-wrap")
    page.locator("#sp-editor-tools label", has_text="calculator").click()
    wait_for_text(page, "#sp-editor-yaml", "- calculator")
    wait_for_text(page, "#sp-editor-status", "Valid draft")
    assert "calculator" in page.inner_text("#sp-tool-schemas")
    page.locator("#sp-editor-yaml .cm-line", has_text="- calculator").click()
    page.keyboard.press("End")
    page.keyboard.type("\n- teleport")
    wait_for_text(page, "#sp-editor-status", "teleport is not a built-in tool")
    page.close()


def test_a_prompt_goes_out_as_yaml_or_a_zip_and_comes_back_as_a_draft(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    page = open_page(browser, base_url)
    pick(page, "sp-prompt", "json-extractor")
    open_editor(page)
    wait_for_text(page, "#sp-editor-title", "json-extractor@2")
    with page.expect_download() as download:
        page.click("#sp-download-versions")
        page.locator("#sp-editor-file a").first.click()
    archive = tmp_path / "versions.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as opened:
        names = sorted(opened.namelist())
        assert names == ["json-extractor/v1.yaml", "json-extractor/v2.yaml"]
        v2 = opened.read("json-extractor/v2.yaml")
    assert v2 == (PROMPTS / "json-extractor" / "v2.yaml").read_bytes()

    # A file opened in the editor becomes a draft over the picked version.
    changed = yaml.safe_load(v2)
    changed["title"] = "Uploaded extractor"
    upload = tmp_path / "mine.yaml"
    upload.write_text(yaml.safe_dump(changed))
    page.set_input_files("#sp-editor-files input[type=file]", str(upload))
    wait_for_text(page, "#sp-save-result", "Opened as a draft over json-extractor@2")
    wait_for_text(page, "#sp-editor-status", "Valid draft")
    assert "version:" not in page.inner_text("#sp-editor-yaml")
    with page.expect_download() as download:
        page.click("#sp-download-yaml")
        wait_for_text(page, "#sp-editor-file", "json-extractor-draft-")
        page.locator("#sp-editor-file a").first.click()
    text = Path(download.value.path()).read_text()
    assert "title: Uploaded extractor" in text
    page.close()


def test_duplicate_copies_the_saved_version_to_a_new_id(
    browser: Browser, base_url: str, folder: Path
) -> None:
    page = open_page(browser, base_url)
    pick(page, "sp-prompt", "support-agent")
    open_editor(page)
    wait_for_text(page, "#sp-editor-title", "support-agent@2")
    append_to_line(page, "title:", " (not part of the copy)")
    set_field(page, "sp-new-id", "support-agent-copy")
    page.click("#sp-duplicate")
    wait_for_text(page, "#sp-save-result", "Saved support-agent-copy@1")
    copy = yaml.safe_load((folder / "support-agent-copy" / "v1.yaml").read_text())
    original = yaml.safe_load((PROMPTS / "support-agent" / "v2.yaml").read_text())
    assert copy["note"] == "duplicate of support-agent@2"
    assert {k: v for k, v in copy.items() if k not in ("id", "version", "note", "created")} == {
        k: v for k, v in original.items() if k not in ("id", "version")
    }
    assert page.input_value("#sp-prompt input") == "support-agent-copy"
    # An id that exists is refused, naming it.
    set_field(page, "sp-new-id", "summariser")
    page.click("#sp-duplicate")
    wait_for_text(page, "#sp-save-result", "a prompt 'summariser' exists")
    page.close()


def type_into(page: Page, elem_id: str, value: str) -> None:
    """Typed as a person types (``fill`` sets the value without the input events the form
    listens to)."""
    page.click(f"#{elem_id} textarea, #{elem_id} input")
    page.keyboard.press("Control+A")
    page.keyboard.type(value)


def code_text(page: Page, elem_id: str) -> str:
    return page.inner_text(f"#{elem_id} .cm-content")


def test_the_form_edits_each_field_and_the_yaml_follows_and_back(
    browser: Browser, base_url: str, fake: FakeOpenAI
) -> None:
    page = open_page(browser, base_url)
    pick(page, "sp-model", "gpt-4o-mini")
    pick(page, "sp-voice", "Off")
    open_editor(page)
    # The form shows the opened version's fields.
    page.wait_for_function(
        "() => document.querySelector('#sp-field-title input')?.value.length > 0"
    )
    assert page.is_checked("#sp-field-format input[value='v2']")
    assert "put the key point first" in code_text(page, "sp-field-system")

    # The system text typed in its own field: the YAML follows, the draft runs.
    page.locator("#sp-field-system .cm-line", has_text="put the key point first").first.click()
    page.keyboard.press("End")
    page.keyboard.type(" Answer in French.")
    wait_for_text(page, "#sp-editor-yaml", "Answer in French.")
    wait_for_text(page, "#sp-editor-status", "Valid draft")

    # A schema that is not JSON is refused beside its field; one that is not a JSON schema is
    # written, and the text's validation says so beside the field; emptied, both are gone.
    page.click("#sp-field-output-schema .cm-content")
    page.keyboard.insert_text('{"type": ')
    wait_for_text(page, "#sp-field-error-output-schema", "not JSON")
    page.keyboard.insert_text("12}")
    wait_for_text(page, "#sp-field-error-output-schema", "not a valid JSON schema")
    wait_for_text(page, "#sp-editor-status", "output_schema")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    wait_for_text(page, "#sp-editor-status", "Valid draft")
    assert page.inner_text("#sp-field-error-output-schema").strip() == ""
    assert "output_schema" not in code_text(page, "sp-editor-yaml")

    # Default parameters and a variable's default, set in the form, are in the YAML.
    type_into(page, "sp-field-variables", "assistant_name: Claudine")
    type_into(page, "sp-field-temperature", "0.2")
    wait_for_text(page, "#sp-editor-yaml", "temperature: 0.2")
    wait_for_text(page, "#sp-editor-yaml", "assistant_name: Claudine")

    # Typing in the YAML fills the form.
    page.locator("#sp-editor-yaml .cm-line", has_text="title:").first.click()
    page.keyboard.press("End")
    page.keyboard.type(" (French)")
    page.wait_for_function(
        "() => document.querySelector('#sp-field-title input')?.value.endsWith('(French)')"
    )

    # The parameters' reset takes the draft's defaults; Send runs the draft the form made.
    page.click("#sp-params .label-wrap")
    page.click("#sp-params-reset")
    page.wait_for_function(
        "() => document.querySelector('#sp-temperature input, #sp-temperature textarea')"
        "?.value === '0.2'"
    )
    wait_for_text(page, "#sp-variables-note", "Every variable has a value")
    fake.enqueue(Reply(chunks=["Bonjour."]))
    page.get_by_role("tab", name="Chat").click()
    page.fill("#sp-message textarea", "Say hello")
    page.click("#sp-send")
    wait_for_text(page, "#sp-chat", "Bonjour.")
    system = fake.chat_requests[-1].body["messages"][0]["content"]
    assert system.startswith("You are Claudine,") and "Answer in French." in system
    assert fake.chat_requests[-1].body["temperature"] == 0.2

    # Discard puts the saved version back, in the form too.
    open_editor(page)
    page.click("#sp-discard")
    page.wait_for_function(
        "() => !document.querySelector('#sp-field-title input')?.value.endsWith('(French)')"
    )
    assert "Answer in French." not in code_text(page, "sp-field-system")
    page.close()


def test_a_read_only_server_with_redis_keeps_versions_there_and_says_when_it_cannot(
    browser: Browser, fake: FakeOpenAI, redis_server: RedisServer
) -> None:
    services = make_test_services(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_prompts_writable=False,
        playground_redis_url=redis_server.url,
    )
    with live_server(build_app(services, warm_up=False)) as url:
        page = open_page(browser, url)
        open_editor(page)
        append_to_line(page, "put the key point first", ADDED)
        wait_for_text(page, "#sp-editor-status", "Valid draft")
        page.click("#sp-save-version")
        wait_for_text(page, "#sp-save-result", "Kept default-prompt-node · kept 1 in this browser")
        kept = Redis.from_url(redis_server.url).keys("sp:kept:*")
        assert len(kept) == 1, "the version is kept in Redis"

        # Redis out of reach: the save says so, and the text stays in the editor.
        redis_server.stop()
        try:
            append_to_line(page, "put the key point first", " Twice.")
            wait_for_text(page, "#sp-editor-status", "Valid draft")
            page.click("#sp-save-version")
            wait_for_text(page, "#sp-save-result", "Not saved: where versions are kept")
            assert "Twice." in page.inner_text("#sp-editor-yaml")
            # A page opened meanwhile still opens.
            other = open_page(browser, url)
            other.close()
        finally:
            redis_server.start()
        page.close()
