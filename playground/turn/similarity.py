"""How alike two replies are, for comparing streamed and non-streamed answers to one prompt.

``normalised_edit_distance`` is the exact Levenshtein distance over *words* by default
(whitespace-separated tokens compared exactly, so case and punctuation count; ``unit="char"``
compares characters instead), divided by the longer text's length, so it lies in [0, 1]:
one word changed in ten is 0.1. It uses Hyyrö's bit-parallel algorithm with Python integers as
bit vectors, which is exact and takes milliseconds for replies of thousands of words where the
textbook O(n·m) table would take seconds. ``word_diff`` gives equal/insert/delete pieces for
highlighting (a ``difflib`` alignment, which reads better than a minimal one but is not
guaranteed minimal), and ``summarise`` condenses the scores of N repeats. Pure, stdlib-only.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DiffOp",
    "Summary",
    "Unit",
    "edit_distance",
    "normalised_edit_distance",
    "similarity",
    "summarise",
    "word_diff",
]

Unit = Literal["word", "char"]
DiffOp = Literal["equal", "insert", "delete"]

_WORD_GAP = re.compile(r"(\S+)(\s*)")


def _units(text: str, unit: Unit) -> Sequence[str]:
    if unit == "word":
        return text.split()
    if unit == "char":
        return text
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Exact Levenshtein distance (insert, delete, substitute; each costs 1) of two sequences."""
    # Common ends cost nothing and streamed/non-streamed replies often share an opening.
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) < len(b):
        a, b = b, a  # bit vectors over the longer one: fewer Python-level iterations
    if not b:
        return len(a)
    # Hyyrö (2003): column j of the DP table is kept as vertical +1/-1 deltas, one bit per row.
    m = len(a)
    peq: dict[Hashable, int] = {}
    for i, item in enumerate(a):
        peq[item] = peq.get(item, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    vp, vn, dist = full, 0, m
    for item in b:
        eq = peq.get(item, 0)
        d0 = ((((eq & vp) + vp) ^ vp) | eq | vn) & full
        hp = (vn | ~(d0 | vp)) & full
        hn = d0 & vp
        if hp & top:
            dist += 1
        elif hn & top:
            dist -= 1
        hp = ((hp << 1) | 1) & full  # row 0 of the table grows by 1 per column
        hn = (hn << 1) & full
        vp = (hn | ~(d0 | hp)) & full
        vn = hp & d0
    return dist


def normalised_edit_distance(a: str, b: str, *, unit: Unit = "word") -> float:
    """Levenshtein distance over words (or characters) divided by the longer length; two empty
    texts are 0.0 apart."""
    units_a, units_b = _units(a, unit), _units(b, unit)
    longest = max(len(units_a), len(units_b))
    if longest == 0:
        return 0.0
    return edit_distance(units_a, units_b) / longest


def similarity(a: str, b: str, *, unit: Unit = "word") -> float:
    """``1 - normalised_edit_distance``: 1.0 for identical texts, 0.0 for nothing in common."""
    return 1.0 - normalised_edit_distance(a, b, unit=unit)


def _words_and_gaps(text: str) -> tuple[str, list[str], list[str]]:
    """Leading whitespace, the words, and the whitespace after each word."""
    lead = text[: len(text) - len(text.lstrip())]
    pairs = _WORD_GAP.findall(text, len(lead))
    return lead, [word for word, _ in pairs], [gap for _, gap in pairs]


def word_diff(a: str, b: str) -> list[tuple[DiffOp, str]]:
    """How ``a`` becomes ``b``, word by word, as (op, text) pieces for highlighting.

    Words are aligned on their text alone; whitespace rides along and a whitespace-only
    difference shows as its own delete/insert pair. Joining the ``equal`` and ``delete`` texts
    gives ``a`` back exactly, and ``equal`` and ``insert`` gives ``b``. A replaced stretch is a
    ``delete`` followed by an ``insert``; neighbouring pieces of one op are merged.
    """
    lead_a, words_a, gaps_a = _words_and_gaps(a)
    lead_b, words_b, gaps_b = _words_and_gaps(b)
    out: list[tuple[DiffOp, str]] = []

    def emit(op: DiffOp, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))

    def same_or_changed(text_a: str, text_b: str) -> None:
        if text_a == text_b:
            emit("equal", text_a)
        else:
            emit("delete", text_a)
            emit("insert", text_b)

    same_or_changed(lead_a, lead_b)
    # Aligning words, not word+space tokens, keeps whitespace from anchoring bogus matches, and
    # autojunk=False keeps common words ("the") matchable in long replies.
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                emit("equal", words_a[i])
                same_or_changed(gaps_a[i], gaps_b[j])
        else:  # "replace", "delete", "insert"
            emit(
                "delete", "".join(w + g for w, g in zip(words_a[i1:i2], gaps_a[i1:i2], strict=True))
            )
            emit(
                "insert", "".join(w + g for w, g in zip(words_b[j1:j2], gaps_b[j1:j2], strict=True))
            )
    return out


@dataclass(frozen=True, slots=True)
class Summary:
    """The distribution of N scores. Percentiles interpolate linearly between closest ranks."""

    mean: float
    min: float
    max: float
    p50: float
    p95: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "p50": self.p50,
            "p95": self.p95,
            "n": self.n,
        }


def _percentile(ordered: Sequence[float], q: float) -> float:
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(values: Sequence[float]) -> Summary:
    """Mean, min, max, median and 95th percentile of ``values`` (at least one, all finite)."""
    if not values:
        raise ValueError("summarise needs at least one value")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("summarise needs finite values")
    ordered = sorted(float(v) for v in values)
    return Summary(
        mean=math.fsum(ordered) / len(ordered),
        min=ordered[0],
        max=ordered[-1],
        p50=_percentile(ordered, 0.5),
        p95=_percentile(ordered, 0.95),
        n=len(ordered),
    )
