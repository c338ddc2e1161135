"""The prompt store: the library as it is now, and new versions saved into the prompt folder.

A saved version is a new file, ``<id>/v<N>.yaml``, never a changed one. Its number is claimed by
creating the file exclusively (a hard link of a fully written temporary file), so two saves at
once, in one process or two, get distinct versions and no file is ever overwritten or seen half
written. ``VERSIONS.sha256`` is rewritten under a lock on the folder and replaced atomically.
After a save the library is reloaded, so every reader (the API, the pickers) sees the version.

A folder that cannot be written (a public Space) makes a read-only store: saving raises
``ReadOnlyPromptsError`` saying why; drafts still run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from playground.agent.tools import TOOLS
from playground.errors import ConfigError
from playground.prompts.library import (
    PromptFile,
    PromptLibrary,
    describe_validation,
    load_prompt_library,
    prompt_yaml,
)

__all__ = [
    "INDEX",
    "InvalidPromptError",
    "PromptStore",
    "ReadOnlyPromptsError",
    "parse_document",
    "replace_atomically",
]

INDEX = "VERSIONS.sha256"
_INDEX_HEADER = (
    "# sha256 of every published prompt version. Versions are immutable: change a prompt by\n"
    "# adding prompts/<id>/v<N+1>.yaml and a line here, never by editing a listed file.\n"
)
# Fields a saved document may not set: the store decides them.
_SET_BY_THE_STORE = ("version", "created")


class ReadOnlyPromptsError(ConfigError):
    """This deployment does not write prompt files."""


class InvalidPromptError(ConfigError):
    """A prompt document (a draft, or one being saved) is not a valid prompt file."""


def parse_document(
    document: Mapping[str, Any], *, prompt_id: str | None = None, field: str = ""
) -> PromptFile:
    """A prompt document (a file's fields, ``version`` optional) validated as a file is.
    ``prompt_id`` fills a missing ``id``; ``ConfigError`` names the first wrong field, prefixed
    with ``field`` (``prompt_draft.system``)."""
    data = dict(document)
    if prompt_id is not None:
        data.setdefault("id", prompt_id)
    data.setdefault("id", "draft")
    data.setdefault("version", 1)
    try:
        prompt = PromptFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        name = f"{field}.{path}" if field and path else field or path or "(body)"
        raise InvalidPromptError(describe_validation(exc), field=name) from exc
    # A tool the agent does not have would be dropped silently at run time: refuse it here.
    unknown = [name for name in prompt.tools if name not in TOOLS]
    if unknown:
        raise InvalidPromptError(
            f"tools: {', '.join(unknown)[:80]} {'is' if len(unknown) == 1 else 'are'} not a "
            f"built-in tool ({', '.join(TOOLS)})",
            field=f"{field}.tools" if field else "tools",
        )
    return prompt


class PromptStore:
    """The prompt folder: ``library`` to read, ``save`` to add a version."""

    def __init__(self, directory: Path, *, writable: bool | None = None) -> None:
        self.directory = directory
        self.read_only_reason = _read_only_reason(directory, writable)
        self._lock = threading.Lock()
        self.library: PromptLibrary = load_prompt_library(directory)

    @property
    def writable(self) -> bool:
        return self.read_only_reason is None

    def save(
        self, prompt_id: str, document: Mapping[str, Any], *, note: str | None = None
    ) -> PromptFile:
        """Write ``document`` as the next version of ``prompt_id`` (version 1 of a new prompt)
        and return it. ``ConfigError`` names a wrong field; ``ReadOnlyPromptsError`` says why
        nothing can be written here."""
        if self.read_only_reason is not None:
            raise ReadOnlyPromptsError(self.read_only_reason)
        for name in _SET_BY_THE_STORE:
            if name in document:
                raise InvalidPromptError(
                    f"{name}: set by the server when a version is saved", field=name
                )
        if "id" in document and document["id"] != prompt_id:
            raise InvalidPromptError(
                f"id: {str(document['id'])[:64]!r} is not the prompt {prompt_id!r}", field="id"
            )
        fields = dict(document)
        if note is not None:
            fields["note"] = note
        fields["created"] = datetime.now(UTC).replace(microsecond=0)
        parse_document(fields, prompt_id=prompt_id)  # every field checked before a file is made
        folder = self.directory / prompt_id
        with self._lock, _folder_lock(self.directory):
            folder.mkdir(exist_ok=True)
            version = max(_versions_on_disk(folder), default=0) + 1
            while True:
                prompt = parse_document({**fields, "version": version}, prompt_id=prompt_id)
                text = prompt_yaml(prompt)
                if _create_exclusively(folder / f"v{version}.yaml", text):
                    break
                version += 1  # another writer (outside this lock's reach) took it
            digest = hashlib.sha256(text.encode()).hexdigest()
            _add_to_index(self.directory / INDEX, f"{prompt_id}/v{version}.yaml", digest)
            self.library = load_prompt_library(self.directory)
        return self.library.prompts[prompt_id][version]


def _read_only_reason(directory: Path, writable: bool | None) -> str | None:
    if writable is False:
        return "this server's prompts are read-only (PLAYGROUND_PROMPTS_WRITABLE=false)"
    if not directory.is_dir():
        return "this server has no prompt folder (PLAYGROUND_PROMPTS_DIR)"
    if not os.access(directory, os.W_OK):
        return "this server cannot write its prompt folder (it is read-only here)"
    return None


def _versions_on_disk(folder: Path) -> Iterator[int]:
    for path in folder.glob("v*.y*ml"):
        number = path.stem[1:]
        if number.isascii() and number.isdigit():
            yield int(number)


@contextlib.contextmanager
def _folder_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on the prompt folder, held by one writer process at a time."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _create_exclusively(path: Path, text: str) -> bool:
    """Write ``path`` whole or not at all; False when it already exists (never overwritten)."""
    temporary = _written_beside(path, text)
    try:
        try:
            os.link(temporary, path)  # fails if the name exists: the atomic "create new"
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def _add_to_index(index: Path, name: str, digest: str) -> None:
    lines = index.read_text(encoding="utf-8").splitlines() if index.exists() else []
    entries = [line for line in lines if line.strip() and not line.startswith("#")]
    header = [line for line in lines if line.startswith("#")]
    entries.append(f"{digest}  {name}")
    entries.sort(key=lambda line: line.split(maxsplit=1)[-1])
    text = "\n".join(header) + "\n" if header else _INDEX_HEADER
    text += "".join(f"{line}\n" for line in entries)
    replace_atomically(index, text)


def replace_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole (a fully written temporary file renamed over it): a reader sees the
    old text or the new, never half of it."""
    temporary = _written_beside(path, text)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _written_beside(path: Path, text: str) -> str:
    """A temporary file in ``path``'s folder holding ``text``, on disk (fsync), readable."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".saving-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary
