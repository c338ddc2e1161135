"""The text rules the sentence aggregator decides by: what ends a sentence, what may follow the
end mark and still belong to it, which words are abbreviations, and what kind a markdown line is.

Pure functions and constants, stdlib-only.
"""

from __future__ import annotations

import re

__all__ = [
    "BLANK",
    "CANDIDATE",
    "CLAUSE_CUT",
    "CLOSERS",
    "CONTINUERS",
    "HEADING",
    "LIST",
    "PLAIN",
    "TERMINATORS",
    "WORD_OPENERS",
    "classify_line",
    "is_abbreviation",
    "skip_indent",
]

TERMINATORS = frozenset(".!?…")
# Characters that may follow a sentence end and still belong to the sentence: ``."`` ``?)`` ``.**``
CLOSERS = frozenset("\"'”’»)]}*_`")
# What a word may start with before the letters an abbreviation check looks at: ``(Mr.``
WORD_OPENERS = "([{\"'“‘«*_`"
# After whitespace, these continue the sentence instead of starting a new one.
CONTINUERS = frozenset(",;:)]}")
CANDIDATE = re.compile(r"[.!?…\n]")
# Early-split points for run-on sentences: a clause mark followed by whitespace, or an em dash.
CLAUSE_CUT = re.compile(r"[,;:–](?=\s)|—")
# "J", "U.S", "e.g", "i.e", "p.m": single letters joined by dots never end a sentence.
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")
# Abbreviations (lower case, without the final dot) that are always followed by more sentence.
# "etc", "inc", "jr" are deliberately absent: they often end a sentence, so the usual rule applies
# (a lowercase word after them continues, a capital starts a new sentence).
_NON_TERMINAL = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "st", "mt", "rev", "hon", "fr", "sr",
        "gov", "sen", "rep", "pres", "gen", "col", "capt", "lt", "sgt", "maj", "adm", "cmdr",
        "vs", "cf", "viz", "approx", "fig", "figs", "eq", "ph.d",
    }
)  # fmt: skip

PLAIN, BLANK, LIST, HEADING = "plain", "blank", "list", "heading"


def skip_indent(buf: str, j: int) -> int:
    n = len(buf)
    while j < n and buf[j] != "\n" and buf[j].isspace():
        j += 1
    return j


def classify_line(buf: str, j: int, final: bool) -> tuple[str, int] | None:
    """Kind of the line whose first non-indent character is at ``j``, and where its list marker
    ends (-1 if none).

    ``None`` means the buffer ends before the kind is known (e.g. it ends in ``"1"`` or ``"-"``)
    and more text is needed; with ``final`` the buffer end counts as the end of the answer.
    """
    n = len(buf)
    undecided = None if not final else (PLAIN, -1)
    if j == n:
        return undecided
    ch = buf[j]
    if ch == "\n":
        return BLANK, -1
    if ch == "#":
        k = j
        while k < n and buf[k] == "#":
            k += 1
        if k == n:
            return undecided
        return (HEADING, -1) if k - j <= 6 and buf[k] in " \t" else (PLAIN, -1)
    if ch in "-*+•":
        if j + 1 == n:
            return undecided
        return (LIST, j + 1) if buf[j + 1] in " \t" else (PLAIN, -1)
    if ch.isdigit():
        k = j
        while k < n and buf[k].isdigit():
            k += 1
        if k + 1 >= n:
            return undecided
        if k - j <= 9 and buf[k] in ".)" and buf[k + 1] in " \t":
            return LIST, k + 1
    return PLAIN, -1


def is_abbreviation(word: str) -> bool:
    if not word:
        return False
    return word.lower() in _NON_TERMINAL or _INITIALS.fullmatch(word) is not None
