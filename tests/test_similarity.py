"""Output similarity: exact word-level Levenshtein, word diffs that round-trip, and summaries."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from playground.turn.similarity import (
    Summary,
    edit_distance,
    normalised_edit_distance,
    similarity,
    summarise,
    word_diff,
)

TEN = "the quick brown fox jumps over the lazy sleeping dog"


def reference_distance(a: Sequence[object], b: Sequence[object]) -> int:
    """The textbook O(n·m) dynamic programme, to check the bit-parallel version against."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
        previous = current
    return previous[-1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (TEN, TEN, 1.0),
        ("", "", 1.0),
        ("same  words\nhere", "same words here", 1.0),  # whitespace does not count
        ("alpha beta gamma", "delta epsilon zeta", 0.0),
        ("a b", "c d e", 0.0),
        ("", "some words", 0.0),
        (TEN, TEN.replace("lazy", "idle"), 0.9),  # one word changed in ten
        (TEN, TEN.replace("sleeping ", ""), 0.9),  # one word deleted
        (TEN, TEN + " today", 10 / 11),  # one word added to ten
        ("one two three four", "two three four one", 0.5),  # a move is a delete plus an insert
        ("Hello, world!", "hello world", 0.0),  # case and punctuation count
    ],
)
def test_word_similarity_on_known_inputs(a: str, b: str, expected: float) -> None:
    assert similarity(a, b) == pytest.approx(expected)
    assert normalised_edit_distance(a, b) == pytest.approx(1 - expected)
    assert similarity(b, a) == pytest.approx(expected), "symmetric"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("kitten", "sitting", 1 - 3 / 7),
        ("flaw", "lawn", 0.5),
        ("abc", "abc", 1.0),
        ("abc", "xyz", 0.0),
        ("", "", 1.0),
    ],
)
def test_character_similarity(a: str, b: str, expected: float) -> None:
    assert similarity(a, b, unit="char") == pytest.approx(expected)


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unit"):
        similarity("a", "b", unit="line")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("abc", "", 3),
        ("intention", "execution", 5),
        ("ab", "ba", 2),
        ("same", "same", 0),
    ],
)
def test_edit_distance_known_values(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected


@pytest.mark.parametrize("seed", range(8))
def test_edit_distance_matches_the_textbook_table(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abcd" if seed % 2 else "abcdefghijklmnopqrstuvwxyz"
    for _ in range(300):
        a = [rng.choice(alphabet) for _ in range(rng.randint(0, 40))]
        b = [rng.choice(alphabet) for _ in range(rng.randint(0, 40))]
        assert edit_distance(a, b) == reference_distance(a, b), (a, b)
    # Longer than a machine word, so the big-integer carries are exercised too.
    a = [rng.choice(alphabet) for _ in range(150)]
    b = [x if rng.random() > 0.3 else rng.choice(alphabet) for x in a][::-1]
    assert edit_distance(a, b) == reference_distance(a, b)


def test_edit_distance_is_fast_on_long_replies() -> None:
    rng = random.Random(1)
    words = [f"w{rng.randint(0, 400)}" for _ in range(5000)]
    changed = [w if rng.random() > 0.2 else "x" for w in words]
    # Exact and well under a second, where the textbook table would take many seconds.
    assert 0.0 < normalised_edit_distance(" ".join(words), " ".join(changed)) < 0.25


# --- word_diff -----------------------------------------------------------------------------------


def rebuild(diff: Sequence[tuple[str, str]]) -> tuple[str, str]:
    old = "".join(text for op, text in diff if op != "insert")
    new = "".join(text for op, text in diff if op != "delete")
    return old, new


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("the cat sat", "the cat sat", [("equal", "the cat sat")]),
        (
            "the cat sat",
            "the dog sat",
            [("equal", "the "), ("delete", "cat "), ("insert", "dog "), ("equal", "sat")],
        ),
        ("the cat sat", "the sat", [("equal", "the "), ("delete", "cat "), ("equal", "sat")]),
        ("the sat", "the cat sat", [("equal", "the "), ("insert", "cat "), ("equal", "sat")]),
        ("", "new text", [("insert", "new text")]),
        ("old text", "", [("delete", "old text")]),
        ("", "", []),
        (
            "one two",
            "one\ntwo",
            [("equal", "one"), ("delete", " "), ("insert", "\n"), ("equal", "two")],
        ),
    ],
)
def test_word_diff_known_inputs(a: str, b: str, expected: list[tuple[str, str]]) -> None:
    assert word_diff(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("  leading and trailing  ", "leading, and trailing\n"),
        ("Line one.\n\nLine two has words.", "Line one.\nLine two has more words!"),
        ("a b c d e f", "f e d c b a"),
        ("same", "  same  "),
        ("tabs\tand\tspaces", "tabs and spaces"),
    ],
)
def test_word_diff_round_trips(a: str, b: str) -> None:
    diff = word_diff(a, b)
    assert rebuild(diff) == (a, b)
    ops = [op for op, _ in diff]
    assert set(ops) <= {"equal", "insert", "delete"}
    assert all(x != y for x, y in zip(ops, ops[1:], strict=False)), "neighbours are merged"
    assert all(text for _, text in diff), "no empty pieces"


@pytest.mark.parametrize("seed", range(5))
def test_word_diff_round_trips_on_random_replies(seed: int) -> None:
    rng = random.Random(seed)
    vocabulary = ["the", "a", "model", "streams", "tokens", "fast", ".", "and", "slow"]
    gaps = [" ", " ", " ", "\n", "  ", "\n\n"]

    def reply() -> str:
        return "".join(rng.choice(vocabulary) + rng.choice(gaps) for _ in range(rng.randint(0, 60)))

    for _ in range(20):
        a, b = reply(), reply()
        assert rebuild(word_diff(a, b)) == (a, b)


# --- summarise -----------------------------------------------------------------------------------


def test_summarise_known_values() -> None:
    summary = summarise([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    assert summary.n == 11
    assert summary.mean == pytest.approx(0.5)
    assert (summary.min, summary.max) == (0.0, 1.0)
    assert summary.p50 == pytest.approx(0.5)
    assert summary.p95 == pytest.approx(0.95)  # linear between the two highest ranks
    assert summary.as_dict() == {
        "mean": summary.mean,
        "min": 0.0,
        "max": 1.0,
        "p50": summary.p50,
        "p95": summary.p95,
        "n": 11,
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.7], Summary(mean=0.7, min=0.7, max=0.7, p50=0.7, p95=0.7, n=1)),
        ([1, 0], Summary(mean=0.5, min=0.0, max=1.0, p50=0.5, p95=0.95, n=2)),
        ([0.2, 0.9, 0.4, 0.4], Summary(mean=0.475, min=0.2, max=0.9, p50=0.4, p95=0.825, n=4)),
    ],
)
def test_summarise_tables(values: list[float], expected: Summary) -> None:
    summary = summarise(values)
    for name in ("mean", "min", "max", "p50", "p95"):
        assert getattr(summary, name) == pytest.approx(getattr(expected, name)), name
    assert summary.n == expected.n


@pytest.mark.parametrize("values", [[], [0.5, math.nan], [math.inf]])
def test_summarise_refuses_empty_or_non_finite_input(values: list[float]) -> None:
    with pytest.raises(ValueError, match="summarise needs"):
        summarise(values)
