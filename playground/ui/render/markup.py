"""Markdown escaping shared by the renderers: text that Markdown must show literally."""

from __future__ import annotations

import re

__all__ = ["code", "fenced", "md"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")


def md(text: str) -> str:
    """Text shown literally in Markdown: every character Markdown or HTML could act on is
    backslash-escaped (model and rule-file text must not turn into links, markup or tags)."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def code(text: str) -> str:
    """Inline code that the text cannot close early, whatever backticks it holds."""
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, lang: str = "text") -> str:
    """A Markdown code block that the text cannot close early, whatever backticks it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"
