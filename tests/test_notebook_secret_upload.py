"""The browser secret outlives the process (configured, else a 0600 file made once), and an
import reads only files inside Gradio's upload folder, refusing everything else alike."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from playground.errors import ConfigError
from playground.notebook.browser_secret import SECRET_FILE, browser_secret
from playground.ui.notebook_files import UPLOAD_REFUSED, read_upload


def test_the_secret_file_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    first = browser_secret(None, folder)
    assert first is not None and len(first) >= 40
    path = folder / SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert browser_secret(None, folder) == first  # a restart reads the same one
    assert [p.name for p in folder.iterdir()] == [SECRET_FILE]  # no temporary file left


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    results: list[str | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(browser_secret(None, tmp_path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1 and results[0] is not None


def test_a_configured_secret_wins_and_no_file_is_made(tmp_path: Path) -> None:
    assert browser_secret("  from-the-environment-0123  ", tmp_path) == "from-the-environment-0123"
    assert not (tmp_path / SECRET_FILE).exists()
    assert browser_secret(None, None) is None  # no notebook file: nothing to keep


def test_a_loose_secret_file_is_tightened_and_an_empty_one_refused(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    path.write_text("a-secret-written-by-hand-0123456789", encoding="ascii")
    path.chmod(0o644)
    assert browser_secret(None, tmp_path) == "a-secret-written-by-hand-0123456789"
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("", encoding="ascii")
    assert browser_secret(None, tmp_path) is None  # Gradio's per-process one, and a warning


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "gradio"
    (folder / "abc123").mkdir(parents=True)
    return folder


def test_an_uploaded_file_is_read(uploads: Path) -> None:
    path = uploads / "abc123" / "notebook.json"
    path.write_bytes(b'{"format": "x"}')
    assert read_upload(str(path), uploads) == b'{"format": "x"}'


def test_anything_but_a_file_in_the_upload_folder_gets_one_answer(
    uploads: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text("{}", encoding="utf-8")
    (uploads / "abc123" / "link.json").symlink_to(outside)
    named = [
        str(outside),  # exists, elsewhere
        str(tmp_path / "missing.json"),  # does not exist
        str(uploads / "abc123" / ".." / ".." / "secret.json"),  # climbs out
        str(uploads / "abc123" / "link.json"),  # inside, but points out
        str(uploads / "abc123"),  # a folder
        str(uploads / "abc123" / "gone.json"),  # inside, missing
        "/etc/passwd",
        "bad\x00name.json",
    ]
    messages = set()
    for path in named:
        with pytest.raises(ConfigError) as caught:
            read_upload(path, uploads)
        messages.add(caught.value.message)
    assert messages == {UPLOAD_REFUSED}
