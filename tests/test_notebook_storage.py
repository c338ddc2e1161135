"""The notebook file as a whole stays bounded: owners not seen for a while expire, and past the
owner cap or the total-bytes cap the least recently seen owners go; the page refuses uploads
bigger than the configured limit."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import httpx
import pytest

from playground.notebook.model import Notebook, notebook_to_json
from playground.notebook.store import NotebookStore, new_owner_id
from playground.server import build_app
from tests.support import live_server, make_test_services
from tests.test_notebook import make_notebook

DAY = 86_400.0


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "notebooks.sqlite3"


def age(path: Path, seconds: float) -> None:
    """Make every owner look last seen ``seconds`` ago, oldest first in saving order."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE notebooks SET updated_at = updated_at - ?", (seconds,))


def has(store: NotebookStore, owner: str) -> bool:
    """Whether the owner's row is there, looked up without ``load`` (which marks it seen)."""
    key = hashlib.sha256(owner.encode("ascii")).hexdigest()
    with sqlite3.connect(store.path) as conn:
        row = conn.execute("SELECT 1 FROM notebooks WHERE owner_hash = ?", (key,)).fetchone()
    return row is not None


def test_past_the_owner_cap_the_least_recently_seen_go(store_path: Path) -> None:
    store = NotebookStore(store_path, max_owners=3)
    owners = [new_owner_id() for _ in range(5)]
    for owner in owners[:3]:
        store.save(owner, make_notebook(1))
    age(store_path, 2 * 3600)
    # The first owner comes back (a page load): it is seen again, so the second is the oldest.
    assert store.load(owners[0]) != Notebook()
    store.save(owners[3], make_notebook(1))
    assert store.owners() == 3
    assert not has(store, owners[1])
    assert has(store, owners[0]) and has(store, owners[2]) and has(store, owners[3])
    store.save(owners[4], make_notebook(1))
    assert store.owners() == 3 and not has(store, owners[2])


def test_past_the_total_bytes_cap_the_least_recently_seen_go(store_path: Path) -> None:
    one = len(notebook_to_json(make_notebook(1), include_audio=True).encode())
    store = NotebookStore(store_path, max_bytes=one * 2, max_total_bytes=int(one * 3.5))
    owners = [new_owner_id() for _ in range(4)]
    for owner in owners:
        store.save(owner, make_notebook(1))
        age(store_path, 1.0)  # a strict order of last seen, whatever the clock's resolution
    assert store.total_bytes() <= store.max_total_bytes
    assert [has(store, o) for o in owners] == [False, True, True, True]
    # A bigger notebook for the newest owner pushes out as many of the oldest as it must.
    store.save(owners[3], make_notebook(2))
    assert store.total_bytes() <= store.max_total_bytes
    assert [has(store, o) for o in owners] == [False, False, True, True]


def test_owners_not_seen_for_the_expiry_are_forgotten_at_start_and_on_save(
    store_path: Path,
) -> None:
    store = NotebookStore(store_path, expire_after_s=30 * DAY)
    old, recent, new = new_owner_id(), new_owner_id(), new_owner_id()
    store.save(old, make_notebook(1))
    age(store_path, 20 * DAY)
    store.save(recent, make_notebook(1))
    age(store_path, 11 * DAY)  # old: 31 days, recent: 11 days
    reopened = NotebookStore(store_path, expire_after_s=30 * DAY)  # the server restarted
    assert reopened.owners() == 1 and has(reopened, recent)
    age(store_path, 25 * DAY)  # recent: 36 days, and nothing has restarted
    reopened.save(new, make_notebook(1))
    assert reopened.owners() == 1 and has(reopened, new)


def test_the_caps_are_checked(store_path: Path) -> None:
    with pytest.raises(ValueError, match="max_total_bytes"):
        NotebookStore(store_path, max_bytes=1000, max_total_bytes=999)
    for bad in ({"max_owners": 0}, {"expire_after_s": 0}):
        with pytest.raises(ValueError, match="NotebookStore needs"):
            NotebookStore(store_path, **bad)


def test_the_settings_reach_the_store() -> None:
    services = make_test_services(
        playground_notebook_max_owners=7,
        playground_notebook_max_total_bytes=50_000_000,
        playground_notebook_expire_days=2,
    )
    assert services.notebooks is not None
    store = services.notebooks.store
    assert isinstance(store, NotebookStore)  # no Redis: the SQLite file
    assert (store.max_owners, store.max_total_bytes) == (7, 50_000_000)
    assert store.expire_after_s == 2 * DAY


def test_the_page_refuses_uploads_over_the_limit() -> None:
    app = build_app(make_test_services(playground_max_upload_bytes=10_000), warm_up=False)
    with live_server(app) as url:

        def upload(size: int) -> httpx.Response:
            files = {"files": ("notebook.json", b"x" * size, "application/json")}
            return httpx.post(f"{url}/gradio_api/upload", files=files, timeout=60)

        assert upload(5_000).status_code == 200
        too_big = upload(20_000)
        assert too_big.status_code == 413, too_big.text


def test_uploads_are_limited_by_default() -> None:
    app = build_app(make_test_services(), warm_up=False)
    with live_server(app) as url:
        files = {"files": ("big.json", b"x" * 20_000_001, "application/json")}
        response = httpx.post(f"{url}/gradio_api/upload", files=files, timeout=120)
    assert response.status_code == 413, response.text
