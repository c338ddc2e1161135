"""The notebook's hardening, in headless Chromium against the real app: a server restart keeps
every browser's notebook and conversation; an import names only files uploaded to the page;
audio that cannot be decoded never breaks a notebook.

Every test opens its own browser context (its own local storage, so its own notebook).
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Route

from playground.notebook.browser_secret import SECRET_FILE
from playground.notebook.model import notebook_to_json
from playground.server import build_app
from playground.services import Services
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.page_support import chromium
from tests.support import live_server, make_settings
from tests.test_notebook import WAV, make_notebook
from tests.test_notebook_browser import CELL, Notebook

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
]

WAIT_MS = 30_000  # the machine may be loaded: conditions get a generous time to hold


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def services_for(fake: FakeOpenAI, db: Path, **values: Any) -> Services:
    from playground.services import make_services

    settings = make_settings(
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        playground_notebook_db=str(db),
        **values,
    )
    return make_services(settings)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nb") / "notebooks.sqlite3"


@pytest.fixture(scope="module")
def base_url(fake: FakeOpenAI, db: Path) -> Iterator[str]:
    with live_server(build_app(services_for(fake, db), warm_up=False)) as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def open_page(context: BrowserContext, url: str) -> Notebook:
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    nb = Notebook(page)
    page.on("pageerror", lambda error: nb.console_errors.append(str(error)))
    nb.open(url)
    return nb


# -- 7: a restart keeps every browser's notebook and conversation ------------------------------


def test_a_restart_keeps_the_notebook_and_the_conversation(
    fake: FakeOpenAI, new_context: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    db, port = tmp_path / "data" / "notebooks.sqlite3", free_port()
    context = new_context()
    # The same port: a browser's local storage belongs to its origin.
    with live_server(build_app(services_for(fake, db), warm_up=False), port) as url:
        nb = open_page(context, url)
        nb.voice_off()
        fake.enqueue(Reply(chunks=["Before ", "the restart."]))
        nb.ask("Hello before", "the restart.")
        nb.tab("Notebook")
        nb.wait_for_cells(1, timeout=WAIT_MS)
        nb.page.close()
    # A new process: new services and app, the same notebook file (and so the same secret).
    # The same port: a browser's local storage belongs to its origin.
    with live_server(build_app(services_for(fake, db), warm_up=False), port) as url:
        nb = open_page(context, url)
        nb.wait_for_bot_text("the restart.", timeout=WAIT_MS)
        assert "Hello before" in nb.chat_text()
        nb.tab("Notebook")
        nb.wait_for_cells(1, timeout=WAIT_MS)
        assert "Before the restart." in nb.cell_text(0)
        # The conversation goes on where it was.
        nb.voice_off()
        fake.enqueue(Reply(chunks=["After ", "it."]))
        nb.ask("Still there?", "After it.")
        sent = [m["content"] for m in fake.chat_requests[-1].body["messages"][-3:]]
        assert sent == ["Hello before", "Before the restart.", "Still there?"]
        assert nb.console_errors == []
    with sqlite3.connect(db) as conn:  # one browser, one notebook: nothing orphaned
        assert conn.execute("SELECT COUNT(*) FROM notebooks").fetchone()[0] == 1
    assert (db.parent / SECRET_FILE).stat().st_mode & 0o777 == 0o600


def test_a_configured_secret_is_used_instead_of_the_file(fake: FakeOpenAI, tmp_path: Path) -> None:
    db = tmp_path / "notebooks.sqlite3"
    services = services_for(fake, db, playground_browser_secret="a-configured-secret-0123456789")
    with live_server(build_app(services, warm_up=False)) as url:
        config = httpx.get(f"{url}/config", timeout=60).json()
    secrets_ = [
        c["props"].get("secret") for c in config["components"] if c["type"] == "browserstate"
    ]
    assert secrets_ == ["a-configured-secret-0123456789"]
    assert not (tmp_path / SECRET_FILE).exists()


# -- 8: an import reads only files uploaded to the page ----------------------------------------


def outcome(nb: Notebook) -> str:
    """What the page shows once the import has been answered: an error toast or a status."""
    nb.page.wait_for_function(
        "() => { const s = (document.querySelector('#sp-nb-status')?.innerText ?? '');"
        " return !!document.querySelector('.toast-body') || /Error|Imported|Not imported/.test(s);"
        " }",
        timeout=WAIT_MS,
    )
    toasts = nb.page.locator(".toast-body").all_inner_texts()
    return json.dumps([toasts, nb.page.inner_text("#sp-nb-status")])


def import_as(nb: Notebook, decoy: Path, named_path: str) -> str:
    """Upload ``decoy`` as the page does, but with the import event naming ``named_path``."""

    def rewrite(route: Route) -> None:
        body = route.request.post_data_json or {}
        for value in body.get("data") or []:
            if isinstance(value, dict) and str(value.get("path", "")).endswith(decoy.name):
                value["path"] = named_path
        route.continue_(post_data=json.dumps(body))

    nb.page.route("**/gradio_api/queue/join*", rewrite)
    nb.page.set_input_files("#sp-nb-toolbar input[type=file]", str(decoy))
    shown = outcome(nb)
    return shown.replace(named_path, "<path>")


def test_an_import_refuses_files_not_uploaded_to_the_page(
    base_url: str, new_context: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.json"  # a real notebook, but not one the page uploaded
    outside.write_text(notebook_to_json(make_notebook(1), include_audio=True), encoding="utf-8")
    decoy = tmp_path / "decoy.json"
    decoy.write_text("{}", encoding="utf-8")
    shown = {}
    for name, path in (("existing", outside), ("missing", tmp_path / "missing.json")):
        nb = open_page(new_context(), base_url)
        nb.tab("Notebook")
        shown[name] = import_as(nb, decoy, str(path))
        assert nb.cells() == 0, shown[name]
        assert "Imported" not in shown[name]
        assert nb.console_errors == []
    # The same answer whether the file exists or not: no oracle for the server's files.
    assert shown["existing"] == shown["missing"]


# -- 12: audio that cannot be decoded never breaks a notebook --------------------------------


def bad_audio_export(tmp_path: Path) -> Path:
    raw = json.loads(notebook_to_json(make_notebook(2), include_audio=True))
    for event in raw["cells"][0]["events"]:
        if event["event"] == "audio":
            event["data"]["data"] = base64.b64encode(b"not a wav at all").decode()
    path = tmp_path / "bad-audio.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def test_an_import_leaves_out_audio_it_cannot_decode(
    base_url: str, new_context: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    nb = open_page(new_context(), base_url)
    nb.tab("Notebook")
    nb.page.set_input_files("#sp-nb-toolbar input[type=file]", str(bad_audio_export(tmp_path)))
    nb.wait_for_text("#sp-nb-status", "could not be decoded", timeout=WAIT_MS)
    assert "Imported 2 runs" in nb.page.inner_text("#sp-nb-status")
    nb.wait_for_cells(2, timeout=WAIT_MS)
    assert nb.page.locator(f"{CELL} audio").count() == 1  # the good run still plays
    assert "was not kept" in nb.cell_text(0)
    assert nb.console_errors == []


def test_stored_audio_that_cannot_be_decoded_still_loads_and_can_be_deleted(
    base_url: str, db: Path, new_context: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    context = new_context()
    nb = open_page(context, base_url)
    nb.tab("Notebook")
    good = tmp_path / "good.json"
    good.write_text(notebook_to_json(make_notebook(2), include_audio=True), encoding="utf-8")
    nb.page.set_input_files("#sp-nb-toolbar input[type=file]", str(good))
    nb.wait_for_cells(2, timeout=WAIT_MS)
    # The stored audio goes bad behind the page's back (a notebook stored before imports were
    # checked, say): every notebook holding this clip now has undecodable audio.
    clip = base64.b64encode(WAV).decode()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE notebooks SET notebook = replace(notebook, ?, 'AAAA')", (clip,))
    nb.page.reload()
    nb.open(base_url)
    nb.tab("Notebook")
    nb.wait_for_cells(2, timeout=WAIT_MS)
    assert "audio of this run is unreadable" in nb.cell_text(0)
    nb.act(0, "delete")
    nb.wait_for_cells(1, timeout=WAIT_MS)
    nb.act(0, "delete")
    nb.wait_for_cells(0, timeout=WAIT_MS)
    assert nb.console_errors == []
