"""Clean one sentence for a TTS engine: no markdown, links read as their label, bare URLs as
"link". Pure, synchronous, stdlib-only.
"""

from __future__ import annotations

import re

__all__ = ["speakable"]

_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]+>", re.IGNORECASE)
_URL = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\"”’»*_`"
_HEADING_MARK = re.compile(r"^\s*#{1,6}(?:\s+|$)")
_HEADING_CLOSE = re.compile(r"\s+#+\s*$")
_BULLET = re.compile(r"^\s*[-*+•]\s+")
_NUMBERED = re.compile(r"^(\s*\d{1,9})[.)]\s+")
_QUOTE_MARK = re.compile(r"^\s*(?:>\s*)+")
_RULE = re.compile(r"^\s*([-*_=])(?:\s*\1){2,}\s*$")
_EMPHASIS_RUN = re.compile(r"\*+|_+|~~+")
_SYMBOL_TOKEN = re.compile(r"(?<!\S)(?:[-*_=~#|>+]{2,}|\|)(?!\S)")
_PAUSE_END = tuple(".!?…:;,")


def _url_to_word(match: re.Match[str]) -> str:
    url = match.group(0)
    core = url.rstrip(_URL_TRAILING)
    return "link" + url[len(core) :]


def _strip_emphasis(line: str) -> str:
    """Drop ``*``/``_``/``~~`` runs that sit on a word's edge; keep snake_case, 2*3 and a lone *."""

    def replace(match: re.Match[str]) -> str:
        start, end = match.span()
        before = line[start - 1] if start else " "
        after = line[end] if end < len(line) else " "
        if before.isalnum() and after.isalnum():
            return match.group(0)  # inside a word: snake_case, 2*3
        if before.isspace() and after.isspace() and len(match.group(0)) == 1:
            return match.group(0)  # a lone symbol between spaces: 2 * 3
        return ""

    return _EMPHASIS_RUN.sub(replace, line)


def _clean_line(raw: str) -> tuple[str, bool]:
    """One line without markdown, and whether it ends a block (heading, list item, rule)."""
    if _RULE.match(raw):
        return "", True
    line, block = raw, False
    if _HEADING_MARK.match(line):
        line = _HEADING_CLOSE.sub("", _HEADING_MARK.sub("", line, count=1))
        block = True
    else:
        line = _QUOTE_MARK.sub("", line, count=1)
        if _BULLET.match(line):
            line, block = _BULLET.sub("", line, count=1), True
        elif _NUMBERED.match(line):
            line, block = _NUMBERED.sub(r"\1. ", line, count=1), True
    line = _strip_emphasis(line.replace("`", ""))
    line = _SYMBOL_TOKEN.sub(" ", line)
    return " ".join(line.split()), block


def speakable(text: str) -> str:
    """Clean one sentence for a TTS engine; ``""`` when nothing in it can be spoken.

    Markdown emphasis, heading marks, list bullets, blockquote marks, rules and backticks go;
    ``[label](url)`` becomes ``label`` and a bare URL becomes ``"link"``; whitespace collapses to
    single spaces. A heading, list item or paragraph that ends without punctuation gets a ``.``
    when more text follows, so the voice pauses there instead of running lines together.
    Numbered-list numbers are kept (``"2) Stir"`` becomes ``"2. Stir"``).

    >>> speakable("## **Step 1:** see [the docs](https://x.io) or https://y.io/a.")
    'Step 1: see the docs or link.'
    """
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _AUTOLINK.sub("link", text)
    text = _URL.sub(_url_to_word, text)
    lines: list[tuple[str, bool]] = []
    pending_break = False  # a blank line, heading, list item or rule since the last text line
    for raw in text.splitlines():
        line, block = _clean_line(raw)
        if block and lines:
            pending_break = True
        if line:
            if pending_break and lines:
                lines[-1] = (lines[-1][0], True)
            lines.append((line, block))
            pending_break = False
        elif lines:
            pending_break = True
    words: list[str] = []
    for index, (line, ends_block) in enumerate(lines):
        if ends_block and index + 1 < len(lines) and not line.endswith(_PAUSE_END):
            line += "."
        words.append(line)
    spoken = " ".join(words)
    return spoken if any(ch.isalnum() for ch in spoken) else ""
