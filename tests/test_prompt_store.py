"""The prompt store: a saved version is a new file whole or not at all, numbered so that saves
at once (threads or processes) never share a version, listed in VERSIONS.sha256, and seen by
the library at once; a read-only folder refuses to save, saying why; drafts are hashed by
their content."""

from __future__ import annotations

import hashlib
import multiprocessing
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from playground.errors import ConfigError
from playground.prompts.library import PromptFile, load_prompt_library, prompt_yaml
from playground.prompts.store import INDEX, PromptStore, ReadOnlyPromptsError, parse_document

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "prompts"
    shutil.copytree(PROMPTS, copy)
    return copy


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Greeter",
        "node": "prompt",
        "format": "v2",
        "system": "Greet {{name}} warmly.\nKeep it short.",
        "variables": {"name": "friend"},
    }
    return {**base, **changes}


def index_of(folder: Path) -> dict[str, str]:
    lines = (folder / INDEX).read_text().splitlines()
    return {
        name: digest
        for digest, name in (line.split() for line in lines if line and not line.startswith("#"))
    }


def test_a_saved_version_is_the_next_number_listed_and_seen_at_once(folder: Path) -> None:
    store = PromptStore(folder)
    before = store.library
    saved = store.save("summariser", document(title="Shorter"), note="tighter wording")
    assert saved.ref == "summariser@3"
    assert (saved.note, saved.title) == ("tighter wording", "Shorter")
    assert saved.created is not None and saved.created.tzinfo is not None
    path = folder / "summariser" / "v3.yaml"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert index_of(folder)["summariser/v3.yaml"] == digest
    assert store.library.sha256["summariser@3"] == digest
    assert store.library.latest("summariser") == saved
    assert "summariser@3" not in before.sha256, (
        "an earlier snapshot is never changed under a reader"
    )
    # Every file listed before is listed unchanged, and the folder reloads without problems.
    old = index_of(PROMPTS)
    assert {k: v for k, v in index_of(folder).items() if k in old} == old
    assert load_prompt_library(folder).problems == ()


def test_a_new_id_starts_at_version_one(folder: Path) -> None:
    saved = PromptStore(folder).save("greeter", document())
    assert saved.ref == "greeter@1"
    assert (folder / "greeter" / "v1.yaml").is_file()


def test_the_file_is_the_document_and_reads_back_the_same(folder: Path) -> None:
    saved = PromptStore(folder).save("greeter", document())
    text = (folder / "greeter" / "v1.yaml").read_text()
    assert text == prompt_yaml(saved)
    assert "system: |-\n  Greet {{name}} warmly.\n  Keep it short.\n" in text  # as people write it
    assert PromptFile.model_validate(yaml.safe_load(text)) == saved


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"node": "robot"}, "node"),
        ({"output_schema": {"type": "nonsense"}}, "output_schema"),
        ({"version": 7}, "version"),
        ({"id": "someone-else"}, "id"),
        ({"unknown": 1}, "unknown"),
        ({"defaults": {"temperature": 9}}, "defaults.temperature"),
        ({"tools": ["teleport"]}, "tools"),
    ],
)
def test_an_invalid_document_names_the_field_and_writes_nothing(
    folder: Path, changes: dict[str, Any], field: str
) -> None:
    store = PromptStore(folder)
    index = (folder / INDEX).read_bytes()
    with pytest.raises(ConfigError) as refused:
        store.save("greeter", document(**changes))
    assert refused.value.field == field
    assert not (folder / "greeter").exists()
    assert (folder / INDEX).read_bytes() == index


def test_an_invalid_id_is_refused(folder: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        PromptStore(folder).save("../escape", document())
    assert refused.value.field == "id"
    assert not (folder.parent / "escape").exists()


def test_threads_saving_at_once_get_distinct_versions(folder: Path) -> None:
    store = PromptStore(folder)
    saved: list[int] = []
    barrier = threading.Barrier(8)

    def save(i: int) -> None:
        barrier.wait()
        saved.append(store.save("greeter", document(title=f"take {i}")).version)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(saved) == list(range(1, 9))
    titles = {yaml.safe_load(p.read_text())["title"] for p in (folder / "greeter").glob("*.yaml")}
    assert titles == {f"take {i}" for i in range(8)}, "no file was overwritten"
    assert len([k for k in index_of(folder) if k.startswith("greeter/")]) == 8


def _save_in_a_process(folder: str, title: str) -> int:
    return PromptStore(Path(folder)).save("greeter", document(title=title)).version


def test_processes_saving_at_once_get_distinct_versions(folder: Path) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        versions = pool.starmap(_save_in_a_process, [(str(folder), f"p{i}") for i in range(8)])
    assert sorted(versions) == list(range(1, 9))
    assert load_prompt_library(folder).versions("greeter") == list(range(1, 9))
    assert len([k for k in index_of(folder) if k.startswith("greeter/")]) == 8


def test_a_version_made_outside_the_store_is_skipped_not_overwritten(folder: Path) -> None:
    store = PromptStore(folder)
    store.save("greeter", document())
    # Another writer (a git pull, a second server) adds v2 after this store read the folder.
    (folder / "greeter" / "v2.yaml").write_text(
        prompt_yaml(
            parse_document(document(title="from elsewhere"), prompt_id="greeter").model_copy(
                update={"version": 2}
            )
        )
    )
    saved = store.save("greeter", document(title="mine"))
    assert saved.version == 3
    assert "from elsewhere" in (folder / "greeter" / "v2.yaml").read_text()


def test_no_temporary_file_is_left_behind(folder: Path) -> None:
    store = PromptStore(folder)
    store.save("greeter", document())
    leftovers = [p.name for p in folder.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_a_read_only_store_says_why_and_writes_nothing(folder: Path) -> None:
    store = PromptStore(folder, writable=False)
    assert not store.writable
    with pytest.raises(ReadOnlyPromptsError, match="PLAYGROUND_PROMPTS_WRITABLE"):
        store.save("greeter", document())
    assert not (folder / "greeter").exists()


def test_a_folder_that_cannot_be_written_is_read_only_by_default(tmp_path: Path) -> None:
    missing = PromptStore(tmp_path / "nowhere")
    assert not missing.writable and "no prompt folder" in str(missing.read_only_reason)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        store = PromptStore(locked)
        # root may write anywhere: then the folder really is writable and the store says so.
        import os

        assert store.writable == os.access(locked, os.W_OK)
    finally:
        locked.chmod(0o755)


def test_a_draft_is_named_by_the_hash_of_its_content() -> None:
    draft = parse_document(document(), prompt_id="greeter").as_draft()
    again = parse_document({**document(), "version": 5}, prompt_id="greeter").as_draft()
    changed = parse_document(document(system="Greet {{name}}."), prompt_id="greeter").as_draft()
    assert draft.draft_sha256 is not None and len(draft.draft_sha256) == 64
    assert draft.ref == f"greeter@draft:{draft.draft_sha256[:12]}"
    assert again.ref == draft.ref, "the version number is not the content"
    assert changed.ref != draft.ref
    assert parse_document(document()).as_draft().ref.startswith("draft@draft:")


def test_a_bad_draft_names_its_field_under_the_given_prefix() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_document(document(format="v9"), field="prompt_draft")
    assert refused.value.field == "prompt_draft.format"
