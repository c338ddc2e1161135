"""The export templates (``playground/notebook/templates/``) and the only ways a value gets in.

Every generated program is a template filled with values. A value never goes in raw: ``py``
turns it into a Python literal (``repr`` by way of ``pprint``), ``sh`` into a shell word
(``shlex.quote``), ``md_code`` into a markdown code span. ``Code`` and ``Markdown`` are distinct
types, so mypy rejects a plain ``str`` (a model name, a message...) passed to ``render``: the
only ``Code`` is what these functions, or another template, produced.

Templates use ``string.Template`` (``${name}``; ``$$`` is a literal ``$``), so the braces of the
Python inside them need no escaping, and the files stay readable programs.
"""

from __future__ import annotations

import pprint
import shlex
from importlib.resources import files
from string import Template
from typing import NewType

__all__ = [
    "Code",
    "Markdown",
    "md_code",
    "py",
    "read_template",
    "render",
    "render_markdown",
    "sh",
    "suffix",
    "trusted",
]

#: Python or shell source made by this module: literals, quoted words, rendered templates.
Code = NewType("Code", str)
#: Markdown made by this module.
Markdown = NewType("Markdown", str)

_LINE_LENGTH = 99  # what the generated code is linted with (the project's 100, minus a margin)


def read_template(name: str) -> str:
    """The text of ``templates/<name>``, shipped in the package."""
    return (files("playground.notebook") / "templates" / name).read_text(encoding="utf-8")


def _fill(name: str, values: dict[str, str]) -> str:
    # substitute, not safe_substitute: a template naming a value nobody passes is a bug.
    return Template(read_template(name)).substitute(values).removesuffix("\n")


def render(name: str, **values: Code) -> Code:
    """Template ``name`` with every ``${key}`` replaced; without the file's final newline."""
    return Code(_fill(name, dict(values)))


def render_markdown(name: str, **values: Markdown) -> Markdown:
    """``render`` for a markdown template."""
    return Markdown(_fill(name, dict(values)))


def py(value: object, *, column: int = 0) -> Code:
    """A Python literal for JSON-like ``value`` (repr-based: safe for any string).

    ``column`` is where the literal starts on its line (after ``name = ``), so its first line
    stays within the line length too; long strings are wrapped into implicit concatenations.
    """
    width = max(40, _LINE_LENGTH - column)
    return Code(pprint.pformat(value, width=width, sort_dicts=False))


def sh(text: str) -> Code:
    """One shell word: ``text`` quoted for a POSIX shell."""
    return Code(shlex.quote(text))


def suffix(index: int | None) -> Code:
    """The suffix of a run's variable names: ``_3`` in a notebook, nothing in View code."""
    return Code("" if index is None else f"_{int(index)}")


def trusted(source: str) -> Code:
    """Source written in this package (never user data), e.g. a fixed comment line."""
    return Code(source)


def md_code(value: object) -> Markdown:
    """An inline code span safe inside a markdown table cell."""
    text = str(value).replace("\n", " ").replace("|", "\\|")
    ticks = "`" * (max((len(r) for r in _backtick_runs(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markdown(f"{ticks}{pad}{text}{pad}{ticks}")


def _backtick_runs(text: str) -> list[str]:
    runs, current = [], ""
    for ch in text:
        if ch == "`":
            current += ch
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs
