"""The prompt library: versioned prompt files in ``prompts/<id>/v<N>.yaml``, validated on load.

A file that does not validate is reported (path and field) and skipped; it never stops the app.
Versions are immutable: a change is a new file, and every turn records the ``id@version`` it used.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from playground.errors import ConfigError

__all__ = [
    "ExitPath",
    "NodeType",
    "PromptDefaults",
    "PromptFile",
    "PromptLibrary",
    "PromptProblem",
    "VARIABLE",
    "VERSION_TEXT",
    "describe_validation",
    "document_yaml",
    "load_prompt_library",
    "prompt_yaml",
]

NodeType = Literal["prompt", "agent"]
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
VERSION_TEXT = re.compile(r"[0-9]{1,9}")  # not \d, which matches any script's digits
VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


class PromptDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None
    stop: tuple[str, ...] = Field(default=(), max_length=4)


class ExitPath(BaseModel):
    """Where an Agent Node goes once it has collected what it needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    required_fields: tuple[str, ...] = ()


class PromptFile(BaseModel):
    """One immutable version of a prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    version: int = Field(gt=0)
    title: str
    node: NodeType
    format: Literal["v1", "v2"]
    description: str = ""
    system: str
    variables: dict[str, str] = Field(default_factory=dict)
    tools: tuple[str, ...] = ()
    output_schema: dict[str, Any] | None = None
    exit_paths: tuple[ExitPath, ...] = ()
    defaults: PromptDefaults = PromptDefaults()
    default_for_node: bool = False
    # Written by the store when a version is saved; files written by hand may leave them out.
    note: str = Field(default="", max_length=500)
    created: datetime | None = None
    # Set on a draft (run unsaved): the sha256 of its content, shown as ``id@draft:<hash>``.
    _draft_sha256: str | None = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be lowercase letters, digits and dashes")
        return value

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # A broken schema is a problem with this file, reported at load, not a mid-turn error.
        if value is not None:
            try:
                validator_for(value).check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON schema: {exc.message}") from exc
        return value

    @property
    def ref(self) -> str:
        if self._draft_sha256 is not None:
            return f"{self.id}@draft:{self._draft_sha256[:12]}"
        return f"{self.id}@{self.version}"

    @property
    def draft_sha256(self) -> str | None:
        """The content hash of a draft; None for a saved version."""
        return self._draft_sha256

    def as_draft(self) -> PromptFile:
        """This content as an unsaved draft: the same prompt, its ``ref`` naming its hash."""
        # Over the content only: the version number, note and time a save would add are not it.
        content = self.model_copy(update={"version": 1, "note": "", "created": None})
        draft = self.model_copy()
        draft._draft_sha256 = hashlib.sha256(prompt_yaml(content).encode()).hexdigest()
        return draft

    def document(self) -> dict[str, Any]:
        """The prompt as a JSON document: every field a file can hold, defaults included."""
        return self.model_dump(mode="json")

    def render_system(self, variables: dict[str, str] | None = None) -> str:
        """The system text with ``{{name}}`` variables filled from defaults, then the caller's."""
        values = {**self.variables, **(variables or {})}
        return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), self.system)


@dataclass(frozen=True, slots=True)
class PromptProblem:
    path: str
    message: str


@dataclass(frozen=True)
class PromptLibrary:
    """All valid prompt versions, plus the files that were skipped and why."""

    prompts: dict[str, dict[int, PromptFile]]
    problems: tuple[PromptProblem, ...] = ()
    # The sha256 of each version's file (its ``ref`` as key), as ``VERSIONS.sha256`` lists it.
    sha256: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[PromptFile]:
        return [
            self.prompts[pid][version]
            for pid in sorted(self.prompts)
            for version in sorted(self.prompts[pid])
        ]

    def latest(self, prompt_id: str) -> PromptFile:
        versions = self.prompts.get(prompt_id)
        if not versions:
            raise ConfigError(f"unknown prompt {prompt_id!r}")
        return versions[max(versions)]

    def resolve(self, ref: str | None, node: NodeType | None) -> PromptFile:
        """``id@version`` or ``id`` (latest); None picks the default prompt of ``node``."""
        if ref is None:
            return self.default_for(node or "prompt")
        prompt_id, _, version_text = ref.partition("@")
        if not version_text:
            return self.latest(prompt_id)
        versions = self.prompts.get(prompt_id)
        if not versions:
            raise ConfigError(f"unknown prompt {prompt_id!r}")
        # ASCII digits only: ``str.isdigit`` (and ``int``) also take "١" or "²" as numbers.
        if not VERSION_TEXT.fullmatch(version_text) or int(version_text) not in versions:
            known = ", ".join(str(v) for v in sorted(versions))
            raise ConfigError(f"prompt {prompt_id!r} has no version {version_text!r} (has {known})")
        return versions[int(version_text)]

    def versions(self, prompt_id: str) -> list[int]:
        """The prompt's versions, oldest first (none for an unknown prompt)."""
        return sorted(self.prompts.get(prompt_id, {}))

    def resolve_shown(self, prompt_id: str, version: str) -> PromptFile:
        """The version to show for a prompt picker and a version picker. While the prompt
        changes, the version picker can briefly hold the old prompt's version: that gives the
        prompt's latest (or the default prompt) rather than an error. A turn still resolves
        strictly, with ``resolve``."""
        try:
            return self.resolve(f"{prompt_id}@{version}", None)
        except ConfigError:
            return (
                self.latest(prompt_id) if prompt_id in self.prompts else self.default_for("prompt")
            )

    def diff_pair(self, prompt: PromptFile) -> tuple[int, int]:
        """The versions a diff of ``prompt`` starts with: the one before it against it, or, for
        the first version, it against the one after (itself when it is the only one)."""
        versions = sorted(self.prompts.get(prompt.id, {prompt.version: prompt}))
        older = [v for v in versions if v < prompt.version]
        newer = [v for v in versions if v > prompt.version]
        if older:
            return older[-1], prompt.version
        return prompt.version, newer[0] if newer else prompt.version

    def default_for(self, node: NodeType) -> PromptFile:
        candidates = [p for p in self.all() if p.node == node and p.default_for_node]
        if not candidates:
            candidates = [p for p in self.all() if p.node == node]
        if not candidates:
            raise ConfigError(f"no prompt serves the {node} node")
        return max(candidates, key=lambda p: p.version)


def describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(file)"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line text (the system prompt) as a ``|`` block, the way people write it."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_text)


def prompt_yaml(prompt: PromptFile) -> str:
    """The file text of ``prompt``: its fields in the model's order, defaults left out. The
    same text is what a draft's hash is taken over."""
    data = prompt.model_dump(mode="python", exclude_defaults=True)
    for required in ("id", "version", "title", "node", "format", "system"):
        data.setdefault(required, getattr(prompt, required))
    return document_yaml(data)


def document_yaml(document: dict[str, Any]) -> str:
    """A prompt document (valid or not) as a file writes it: fields in the model's order (any
    others after them), multi-line text as ``|`` blocks."""
    ordered = {name: document[name] for name in PromptFile.model_fields if name in document}
    ordered.update({k: v for k, v in document.items() if k not in ordered})
    return yaml.dump(ordered, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)


def _load_file(path: Path) -> tuple[PromptFile, str]:
    raw = path.read_bytes()
    data = yaml.safe_load(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("the file must hold a mapping of fields")
    prompt = PromptFile.model_validate(data)
    expected = f"v{prompt.version}"
    if path.stem != expected or path.parent.name != prompt.id:
        raise ValueError(
            f"id/version {prompt.ref} do not match the file name (expected {prompt.id}/{expected})"
        )
    return prompt, hashlib.sha256(raw).hexdigest()


# Used only when the prompt folder has nothing for a node type, so the app always has a prompt.
_FALLBACKS = {
    "prompt": PromptFile(
        id="builtin-prompt-node",
        version=1,
        title="Built-in prompt (Prompt Node)",
        node="prompt",
        format="v2",
        default_for_node=True,
        system="You are a helpful assistant. Answer clearly in a few short sentences.",
    ),
    "agent": PromptFile(
        id="builtin-agent-node",
        version=1,
        title="Built-in prompt (Agent Node)",
        node="agent",
        format="v2",
        default_for_node=True,
        tools=("calculator", "current_time"),
        system="You are a helpful agent. Use a tool when it is more reliable than guessing.",
    ),
}


def load_prompt_library(directory: Path) -> PromptLibrary:
    """Load every ``*.yaml`` under ``directory``; bad files become ``problems``, not exceptions."""
    prompts: dict[str, dict[int, PromptFile]] = {}
    problems: list[PromptProblem] = []
    hashes: dict[str, str] = {}
    for path in sorted(directory.glob("*/*.y*ml")):
        # Relative to the prompts folder: problems are served by /v1/prompts, and the server's
        # own layout is nobody else's business.
        shown = path.relative_to(directory).as_posix()
        try:
            prompt, digest = _load_file(path)
        except ValidationError as exc:
            problems.append(PromptProblem(shown, describe_validation(exc)))
            continue
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
            problems.append(
                PromptProblem(shown, str(exc).splitlines()[0] if str(exc) else "unreadable")
            )
            continue
        prompts.setdefault(prompt.id, {})[prompt.version] = prompt
        hashes[prompt.ref] = digest
    served = {p.node for versions in prompts.values() for p in versions.values()}
    for node, fallback in _FALLBACKS.items():
        if node not in served:
            prompts[fallback.id] = {fallback.version: fallback}
            hashes[fallback.ref] = hashlib.sha256(prompt_yaml(fallback).encode()).hexdigest()
    return PromptLibrary(prompts=prompts, problems=tuple(problems), sha256=hashes)
