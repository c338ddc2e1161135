"""Test sets kept in the prompt folder beside the prompt they test: ``<id>/tests/<name>.yaml``,
in promptfoo's format, so ``promptfoo eval -c prompts/<id>/tests/<name>.yaml`` reads the same
file and a pull request shows a prompt's change next to the cases it must still pass.

Any store lists and reads them; only a writable one (``PromptStore.writable``) saves, and a
read-only one says why. Unlike a prompt version a test set is edited: saving a name again
replaces that file whole (written aside, then renamed, so no reader sees half of it), keeping
the description and providers the file had.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from playground.errors import ConfigError
from playground.evals.files import TestSet, read_promptfoo, write_promptfoo
from playground.evals.request import EvalCase
from playground.prompts.store import PromptStore, ReadOnlyPromptsError, replace_atomically

__all__ = ["SavedSet", "read_saved_set", "save_set", "saved_sets"]

_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FOLDER: Final = "tests"
MAX_SET_FILE_BYTES: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class SavedSet:
    prompt_id: str
    name: str
    path: Path

    @property
    def ref(self) -> str:
        """How the page names it: ``support-agent/regressions``."""
        return f"{self.prompt_id}/{self.name}"


def saved_sets(store: PromptStore) -> list[SavedSet]:
    """Every test set beside a prompt the library knows, by prompt then name."""
    found: list[SavedSet] = []
    for prompt_id in sorted(store.library.prompts):
        folder = store.directory / prompt_id / _FOLDER
        if folder.is_dir():
            found.extend(
                SavedSet(prompt_id, path.stem, path)
                for path in sorted(folder.glob("*.yaml"))
                if _NAME.match(path.stem)
            )
    return found


def _parse_ref(store: PromptStore, ref: str) -> tuple[str, str]:
    prompt_id, sep, name = str(ref or "").strip().partition("/")
    if not sep or not prompt_id or not name:
        raise ConfigError(
            "name: write it as prompt/set, e.g. support-agent/regressions", field="name"
        )
    if prompt_id not in store.library.prompts:
        known = ", ".join(sorted(store.library.prompts))
        raise ConfigError(f"name: {prompt_id[:64]!r} is not a prompt here ({known})", field="name")
    if not _NAME.match(name):
        raise ConfigError(
            f"name: {name[:64]!r}: lower-case letters, digits, - and _ (up to 64)", field="name"
        )
    return prompt_id, name


def read_saved_set(store: PromptStore, ref: str) -> TestSet:
    """The set ``ref`` names, read as an imported promptfoo file is (what it cannot run listed)."""
    prompt_id, name = _parse_ref(store, ref)
    path = store.directory / prompt_id / _FOLDER / f"{name}.yaml"
    try:
        if path.stat().st_size > MAX_SET_FILE_BYTES:
            raise ConfigError(f"{ref}: larger than {MAX_SET_FILE_BYTES:,} bytes", field="name")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{ref}: no such test set (it may have been removed)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{ref}: the file is not UTF-8 text") from None
    try:
        return read_promptfoo(text)
    except ValueError as exc:
        raise ConfigError(f"{ref}: {exc}") from None


def save_set(store: PromptStore, ref: str, cases: Sequence[EvalCase]) -> SavedSet:
    """Write ``cases`` as the set ``ref`` names; ``ReadOnlyPromptsError`` when this store
    writes nothing, ``ConfigError`` for a bad name."""
    if store.read_only_reason is not None:
        raise ReadOnlyPromptsError(store.read_only_reason)
    prompt_id, name = _parse_ref(store, ref)
    folder = store.directory / prompt_id / _FOLDER
    path = folder / f"{name}.yaml"
    kept = _kept_fields(path)
    text = write_promptfoo(cases, description=kept.get("description") or f"{prompt_id}: {name}")
    if "providers" in kept:  # put back where promptfoo's files have them: before the tests
        doc: dict[str, Any] = yaml.safe_load(text)
        tests = doc.pop("tests")
        doc.update(providers=kept["providers"], tests=tests)
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    folder.mkdir(exist_ok=True)
    replace_atomically(path, text)
    return SavedSet(prompt_id, name, path)


def _kept_fields(path: Path) -> dict[str, Any]:
    """What an earlier file of that name said beyond its cases (its description, providers);
    ``defaultTest`` is not among them: reading merged it into every case."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {key: doc[key] for key in ("description", "providers") if doc.get(key)}
