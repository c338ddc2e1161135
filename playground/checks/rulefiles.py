"""Load a YAML rules file into a pydantic model, reporting problems by path and field.

The moderation and interception rules are both hand-edited YAML; a typo there should produce one
``ConfigError`` that says which file and which field (``categories.violence.patterns.0``) is wrong
and why, instead of a pydantic traceback. Shared here so both loaders word errors the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from playground.errors import ConfigError

__all__ = ["RegexPattern", "load_rules_file"]

M = TypeVar("M", bound=BaseModel)


def _valid_regex(pattern: str) -> str:
    if not pattern:
        # An empty pattern matches everywhere, which is never what a rule author meant.
        raise ValueError("must not be empty")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


# A regular expression (Python ``re`` syntax) checked when the file loads, so a typo is reported
# with its field instead of failing on the first reply.
RegexPattern = Annotated[str, AfterValidator(_valid_regex)]


def _problem(loc: tuple[int | str, ...], message: str) -> tuple[str, str]:
    """(field path, message) for one pydantic error; a bad mapping key is named as the field."""
    if loc and loc[-1] == "[key]":  # pydantic's marker for "the key itself is invalid"
        loc, message = loc[:-1], f"invalid name: {message}"
    return ".".join(str(part) for part in loc) or "(file)", message


def load_rules_file(path: Path | str, model: type[M]) -> M:
    """Parse ``path`` as YAML and validate it as ``model``.

    Raises ``ConfigError`` whose message starts with the path and names every bad field;
    ``error.field`` is the first bad field (``None`` when the file itself is unreadable).
    """
    shown = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: the file is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        # The first line of a YAML error carries the line and column; the rest is a code excerpt.
        detail = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ConfigError(f"{shown}: invalid YAML: {detail}") from exc
    if data is None:
        data = {}  # an empty file means "all defaults", like an empty mapping
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: the file must hold a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(item["loc"], item["msg"]) for item in exc.errors()]
        listed = "; ".join(f"{field}: {message}" for field, message in problems)
        raise ConfigError(f"{shown}: {listed}", field=problems[0][0]) from exc
