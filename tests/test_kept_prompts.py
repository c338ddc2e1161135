"""Prompt versions kept for one browser where the server cannot save (``KeptPrompts``): numbered
per browser and prompt, private to their owner, bounded, and never renumbered by two tabs
keeping at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from playground.errors import ConfigError
from playground.notebook.store import new_owner_id
from playground.prompts.kept import KeptPrompts

TEXT = "id: p\ntitle: P\nnode: prompt\nformat: v2\nsystem: Be brief.\n"


def test_versions_are_numbered_per_prompt_and_listed_newest_first(tmp_path: Path) -> None:
    kept = KeptPrompts(tmp_path / "nb.sqlite3")
    owner = new_owner_id()
    first = kept.keep(owner, "p", TEXT, based_on="p@1", note="first try")
    second = kept.keep(owner, "p", TEXT + "# more\n", based_on="p@1", note="")
    other = kept.keep(owner, "q", TEXT, based_on="new", note="")
    assert (first.number, second.number, other.number) == (1, 2, 1)
    assert first.label == "p · kept 1" and first.key == "p:1"
    listed = kept.versions(owner)
    assert [k.key for k in listed] == ["q:1", "p:2", "p:1"]
    assert kept.version(owner, "p:1").note == "first try"
    assert kept.version(owner, "p:1").text == TEXT
    assert kept.version(owner, "p:1").based_on == "p@1"


def test_one_browser_never_sees_another_browsers_versions(tmp_path: Path) -> None:
    kept = KeptPrompts(tmp_path / "nb.sqlite3")
    mine, theirs = new_owner_id(), new_owner_id()
    kept.keep(mine, "p", TEXT, based_on="p@1", note="mine")
    assert kept.versions(theirs) == []
    with pytest.raises(ConfigError, match="not in this browser"):
        kept.version(theirs, "p:1")
    # Only a hash of the owner id is stored: the file does not hold the id that opens it.
    with sqlite3.connect(tmp_path / "nb.sqlite3") as conn:
        stored = {row[0] for row in conn.execute("SELECT owner_hash FROM kept_prompts")}
    assert mine not in stored and len(stored) == 1


def test_a_guessable_owner_id_is_refused(tmp_path: Path) -> None:
    kept = KeptPrompts(tmp_path / "nb.sqlite3")
    with pytest.raises(ConfigError, match="owner id"):
        kept.keep("short", "p", TEXT, based_on="p@1", note="")


def test_two_tabs_keeping_at_once_get_distinct_numbers(tmp_path: Path) -> None:
    kept = KeptPrompts(tmp_path / "nb.sqlite3")
    owner = new_owner_id()
    numbers: list[int] = []
    barrier = threading.Barrier(8)

    def keep_one() -> None:
        barrier.wait()
        numbers.append(kept.keep(owner, "p", TEXT, based_on="p@1", note="").number)

    threads = [threading.Thread(target=keep_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 9))


def test_each_browser_and_the_file_are_bounded(tmp_path: Path) -> None:
    kept = KeptPrompts(
        tmp_path / "nb.sqlite3", max_per_owner=3, max_text_bytes=1000, max_total_bytes=2000
    )
    owner = new_owner_id()
    for _ in range(5):
        kept.keep(owner, "p", TEXT, based_on="p@1", note="")
    assert [k.number for k in kept.versions(owner)] == [5, 4, 3]  # the oldest went first
    with pytest.raises(ConfigError, match="at most 1,000"):
        kept.keep(owner, "p", "x" * 1001, based_on="p@1", note="")
    # Over the total, the oldest versions of any browser go, never the one just kept.
    others = [new_owner_id() for _ in range(30)]
    for other in others:
        kept.keep(other, "p", "y" * 900, based_on="p@1", note="")
    total = sum(len(k.text) for o in [owner, *others] for k in kept.versions(o))
    assert total <= 2000
    assert kept.versions(others[-1])[0].text == "y" * 900


def test_owners_not_seen_for_the_expiry_are_forgotten(tmp_path: Path) -> None:
    kept = KeptPrompts(tmp_path / "nb.sqlite3", expire_after_s=60)
    old, new = new_owner_id(), new_owner_id()
    kept.keep(old, "p", TEXT, based_on="p@1", note="")
    with sqlite3.connect(tmp_path / "nb.sqlite3") as conn:
        conn.execute("UPDATE kept_prompts SET created_at = ?", (time.time() - 120,))
    kept.keep(new, "p", TEXT, based_on="p@1", note="")
    assert kept.versions(old) == []
    assert len(kept.versions(new)) == 1
