"""SentenceAggregator turns a streamed answer into sentences; speakable cleans one for a voice.

The table below is the contract: each tricky paragraph and the sentences it must come out as.
Every row is also replayed one character at a time and in random chunks, because a streamed
answer can be cut anywhere and the sentences must not depend on where.
"""

from __future__ import annotations

import random
import re
import time

import pytest

from playground.speech.sentences import SentenceAggregator, speakable

SPLIT = {"min_chars": 0}  # no merging, so every boundary shows
DEFAULT: dict[str, int] = {}

CASES = [
    # -- look-ahead, numbers ---------------------------------------------------------------------
    pytest.param(
        "It costs $29. Next month it costs $31.",
        SPLIT,
        ["It costs $29.", "Next month it costs $31."],
        id="a price followed by a capital ends the sentence",
    ),
    pytest.param(
        "Pi is 3.14 and v1.2 is out. Version 2.0.1 follows.",
        SPLIT,
        ["Pi is 3.14 and v1.2 is out.", "Version 2.0.1 follows."],
        id="decimals and version numbers do not split",
    ),
    pytest.param(
        "Take approx. 20 grams. It was 2023. 2024 was better.",
        SPLIT,
        ["Take approx. 20 grams.", "It was 2023. 2024 was better."],
        id="a number after a lone full stop continues the sentence",
    ),
    # -- abbreviations and initials --------------------------------------------------------------
    pytest.param(
        "Mr. Smith met Dr. Who at St. Mary's. Mrs. Jones and Ms. Lee came too.",
        SPLIT,
        ["Mr. Smith met Dr. Who at St. Mary's.", "Mrs. Jones and Ms. Lee came too."],
        id="titles before names do not split",
    ),
    pytest.param(
        "Python vs. Rust is a classic debate. Pick one.",
        SPLIT,
        ["Python vs. Rust is a classic debate.", "Pick one."],
        id="vs does not split",
    ),
    pytest.param(
        "Bring fruit, e.g. this apple, i.e. That red one. Thanks.",
        SPLIT,
        ["Bring fruit, e.g. this apple, i.e. That red one.", "Thanks."],
        id="e.g. and i.e. never split",
    ),
    pytest.param(
        "We sell apples, pears, etc. and more. We sell plums, figs, etc. Then we close.",
        SPLIT,
        ["We sell apples, pears, etc. and more.", "We sell plums, figs, etc.", "Then we close."],
        id="etc. continues before a lowercase word and ends before a capital",
    ),
    pytest.param(
        "U.S. law applies here. The U.S. Army agrees.",
        SPLIT,
        ["U.S. law applies here.", "The U.S. Army agrees."],
        id="dotted acronyms do not split",
    ),
    pytest.param(
        "J. R. R. Tolkien wrote it. He was British.",
        SPLIT,
        ["J. R. R. Tolkien wrote it.", "He was British."],
        id="single initials do not split",
    ),
    pytest.param(
        "Visit example.com or mail bob@example.org. Thanks for reading.",
        SPLIT,
        ["Visit example.com or mail bob@example.org.", "Thanks for reading."],
        id="domains and emails do not split but a full stop after them does",
    ),
    pytest.param(
        "See https://docs.python.org/3/library/re.html?x=1 for details. Done.",
        SPLIT,
        ["See https://docs.python.org/3/library/re.html?x=1 for details.", "Done."],
        id="dots and question marks inside a url do not split",
    ),
    # -- ellipses, quotes, combinations ----------------------------------------------------------
    pytest.param(
        "Well... maybe not. Wait... Now I see. Hmm… Right.",
        SPLIT,
        ["Well... maybe not.", "Wait...", "Now I see.", "Hmm…", "Right."],
        id="an ellipsis splits before a capital but not before a lowercase word",
    ),
    pytest.param(
        'He said "Stop." Then he left. "Why?" she asked. (It was late.) Fine.',
        SPLIT,
        ['He said "Stop."', "Then he left.", '"Why?" she asked.', "(It was late.)", "Fine."],
        id="closing quotes and brackets stay with their sentence",
    ),
    pytest.param(
        "It's **done.** Next step.",
        SPLIT,
        ["It's **done.**", "Next step."],
        id="closing emphasis stays with its sentence",
    ),
    pytest.param(
        "Really?! Yes. What?!? No!! ok then.",
        SPLIT,
        ["Really?!", "Yes.", "What?!?", "No!! ok then."],
        id="runs of marks end one sentence",
    ),
    # -- lines and paragraphs --------------------------------------------------------------------
    pytest.param(
        "First paragraph has no period\n\nSecond paragraph here.\nstill the second.\nThird Line",
        SPLIT,
        [
            "First paragraph has no period",
            "Second paragraph here.\nstill the second.",
            "Third Line",
        ],
        id="a blank line is a boundary and a single newline is not",
    ),
    pytest.param(
        "One\n   \t\nTwo\r\n\r\nThree.",
        SPLIT,
        ["One", "Two", "Three."],
        id="blank lines with spaces and crlf are boundaries",
    ),
    pytest.param(
        "Shopping list:\n- apples\n- pears\n* plums\n+ figs\nThat is all.",
        SPLIT,
        ["Shopping list:", "- apples", "- pears", "* plums", "+ figs", "That is all."],
        id="bulleted list items are spoken separately",
    ),
    pytest.param(
        "Steps:\n1. Open the box.\n2. Take it out.\n10) Enjoy it\nThat is all.",
        SPLIT,
        ["Steps:", "1. Open the box.", "2. Take it out.", "10) Enjoy it", "That is all."],
        id="numbered list items are spoken separately and their marker is no full stop",
    ),
    pytest.param(
        "Intro:\n  - nested item\n    1. deeper item",
        SPLIT,
        ["Intro:", "- nested item", "1. deeper item"],
        id="indented list items are spoken separately",
    ),
    pytest.param(
        "Note\n*really* important\n-5 degrees outside.",
        SPLIT,
        ["Note\n*really* important\n-5 degrees outside."],
        id="emphasis or a minus at a line start is not a bullet",
    ),
    pytest.param(
        "# Title\nIntro text here.\n## Part two\nMore text\n#hashtag stays.",
        SPLIT,
        ["# Title", "Intro text here.", "## Part two", "More text\n#hashtag stays."],
        id="headings end at their newline",
    ),
    # -- code ------------------------------------------------------------------------------------
    pytest.param(
        "Run this:\n```python\nprint('hi. There')\n```\nThen check the output.",
        SPLIT,
        ["Run this:", "Then check the output."],
        id="a fenced code block is never spoken",
    ),
    pytest.param(
        "Use `ls -la` to list. Then `cd`.",
        SPLIT,
        ["Use `ls -la` to list.", "Then `cd`."],
        id="inline code is kept",
    ),
    pytest.param(
        "Try ```ls``` now. Done.",
        SPLIT,
        ["Try", "now.", "Done."],
        id="a fence glued inside a line is removed too",
    ),
    pytest.param(
        "Here it is:\n```bash\nrm -rf build. Yes",
        SPLIT,
        ["Here it is:"],
        id="an unclosed code block is dropped at the end",
    ),
    pytest.param(
        "Example:\n````md\n```\ninner\n```\n````\nAfter it.",
        SPLIT,
        ["Example:", "After it."],
        id="a longer fence is closed only by a run as long",
    ),
    pytest.param(
        "Run this:\n```sh\nls\n```\nthen look at the output.",
        DEFAULT,
        ["Run this:\n\n\n\nthen look at the output."],
        id="a short sentence before a code block merges with the one after it",
    ),
    # -- min_chars -------------------------------------------------------------------------------
    pytest.param(
        "Hi! I'm here. This sentence is long enough to stand alone. Ok.",
        DEFAULT,
        ["Hi! I'm here. This sentence is long enough to stand alone.", "Ok."],
        id="short sentences merge forward and a short last one is still flushed",
    ),
    pytest.param(
        "Steps:\n1. Mix the flour and sugar.\n2. Bake.",
        DEFAULT,
        ["Steps:\n1. Mix the flour and sugar.", "2. Bake."],
        id="a short list header merges with the first item",
    ),
    # -- max_chars -------------------------------------------------------------------------------
    pytest.param(
        "This sentence keeps going, and going; it never really stops at all, does it, no it does"
        " not.",
        {"min_chars": 0, "max_chars": 40},
        [
            "This sentence keeps going, and going;",
            "it never really stops at all, does it,",
            "no it does not.",
        ],
        id="a run-on sentence splits at the last clause mark",
    ),
    pytest.param(
        "one two three four five six seven eight nine ten eleven.",
        {"min_chars": 0, "max_chars": 20},
        ["one two three four", "five six seven eight", "nine ten eleven."],
        id="a run-on sentence without clause marks splits at the last space",
    ),
    pytest.param(
        "The plan was simple—wait for the rain to stop and then go outside.",
        {"min_chars": 10, "max_chars": 40},
        ["The plan was simple—", "wait for the rain to stop and then go", "outside."],
        id="an em dash is a clause mark",
    ),
    pytest.param(
        "Hi, see https://example.com/a/very/long/path/that/never/ends ok",
        {"min_chars": 0, "max_chars": 12},
        ["Hi,", "see", "https://example.com/a/very/long/path/that/never/ends", "ok"],
        id="a word longer than max_chars is never cut",
    ),
    # -- nothing to say --------------------------------------------------------------------------
    pytest.param("", DEFAULT, [], id="empty text gives nothing"),
    pytest.param("   \n\n \t ", DEFAULT, [], id="whitespace gives nothing"),
    pytest.param("```\ncode only. Yes\n```", DEFAULT, [], id="code alone gives nothing"),
]


def _collect(chunks: list[str], options: dict[str, int]) -> list[str]:
    aggregator = SentenceAggregator(**options)
    sentences: list[str] = []
    for chunk in chunks:
        sentences.extend(aggregator.push(chunk))
    sentences.extend(aggregator.flush())
    return sentences


def _random_chunks(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    chunks, i = [], 0
    while i < len(text):
        size = rng.randint(1, 12)
        chunks.append(text[i : i + size])
        i += size
    return chunks


def _without_code(text: str) -> str:
    return re.sub(r"(`{3,})[\s\S]*?(?:\1`*|$)", "", text)


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize(("text", "options", "expected"), CASES)
def test_each_paragraph_comes_out_as_the_expected_sentences(text, options, expected) -> None:
    assert _collect([text], options) == expected


@pytest.mark.parametrize(("text", "options", "expected"), CASES)
@pytest.mark.parametrize("split", ["one char", "seed 0", "seed 1", "seed 2", "seed 3", "seed 4"])
def test_sentences_do_not_depend_on_how_the_text_was_chunked(
    text, options, expected, split
) -> None:
    chunks = list(text) if split == "one char" else _random_chunks(text, int(split.split()[1]))
    assert _collect(chunks, options) == _collect([text], options)


@pytest.mark.parametrize(("text", "options", "expected"), CASES)
def test_nothing_is_lost_or_duplicated_except_code(text, options, expected) -> None:
    sentences = _collect(list(text), options)
    assert all(s and s == s.strip() for s in sentences)
    assert _squash("".join(sentences)) == _squash(_without_code(text))


def test_a_sentence_end_waits_for_the_next_non_whitespace_character() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("It costs $29.") == []
    assert aggregator.push("  ") == []
    assert aggregator.push("\n") == []
    assert aggregator.push("N") == ["It costs $29."]
    assert aggregator.flush() == ["N"]


def test_a_paragraph_break_releases_the_sentence_without_more_look_ahead() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("Done.\n") == []
    assert aggregator.push("\n") == ["Done."]


def test_an_abbreviation_is_not_released_when_the_capital_arrives() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("Ask Dr.") == []
    assert aggregator.push(" Who now") == []
    assert aggregator.flush() == ["Ask Dr. Who now"]


def test_a_numbered_item_is_recognised_once_its_marker_is_complete() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("Intro text.\n1") == []
    assert aggregator.push(".") == []
    assert aggregator.push(" First") == ["Intro text."]
    assert aggregator.flush() == ["1. First"]


def test_a_fence_split_across_chunks_is_still_removed() -> None:
    chunks = ["Look here.\n`", "`", "`py\nx = 1. Y", "\n`", "`", "`\nAfter the code."]
    assert _collect(chunks, SPLIT) == ["Look here.", "After the code."]


def test_the_sentence_before_a_code_block_is_released_when_the_fence_opens() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("Here is the code:\n``") == []
    assert aggregator.push("`py\nprint(1)\n") == ["Here is the code:"]
    assert aggregator.push("print(2). Next\n```\nBack to prose.") == []
    assert aggregator.flush() == ["Back to prose."]


def test_reset_drops_buffered_text() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("This will be interrupted. Half a sen") == ["This will be interrupted."]
    aggregator.reset()
    assert aggregator.push("Fresh start. More") == ["Fresh start."]
    assert aggregator.flush() == ["More"]


def test_reset_inside_a_code_block_speaks_the_next_answer() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    assert aggregator.push("```py\nprint(") == []
    aggregator.reset()
    assert aggregator.push("Spoken again. Yes") == ["Spoken again."]


def test_reset_drops_a_held_short_sentence() -> None:
    aggregator = SentenceAggregator()
    assert aggregator.push("Hi! There") == []
    aggregator.reset()
    assert aggregator.flush() == []


def test_flush_leaves_the_aggregator_ready_for_the_next_answer() -> None:
    aggregator = SentenceAggregator(min_chars=0)
    aggregator.push("First answer")
    assert aggregator.flush() == ["First answer"]
    assert aggregator.flush() == []
    assert aggregator.push("Second answer. Yes") == ["Second answer."]


@pytest.mark.parametrize("max_chars", [20, 40, 80])
def test_no_piece_is_longer_than_max_chars(max_chars) -> None:
    text = " ".join(f"clause number {i}, then" for i in range(60)) + " the end."
    sentences = _collect(_random_chunks(text, max_chars), {"min_chars": 5, "max_chars": max_chars})
    assert all(len(s) <= max_chars for s in sentences)
    assert _squash("".join(sentences)) == _squash(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_chars": -1}, "min_chars"),
        ({"max_chars": 0}, "max_chars"),
        ({"min_chars": 50, "max_chars": 40}, "must not exceed"),
    ],
)
def test_impossible_limits_are_refused(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        SentenceAggregator(**options)


def test_pushing_two_thousand_chunks_takes_time_proportional_to_the_text() -> None:
    paragraph = (
        "The quick brown fox, e.g. Mr. Fox, jumps over 3.14 lazy dogs. Really?! Yes... it does.\n"
        "- a list item here\n1. a numbered item\n```py\nx = 1\n```\n\n"
    )
    text = paragraph * 200
    chunks = _random_chunks(text, 7)
    assert len(chunks) > 2000
    started = time.perf_counter()
    sentences = _collect(chunks, DEFAULT)
    assert time.perf_counter() - started < 2.0
    assert len(sentences) > 200
    # a stalled sentence end followed by a very long run of whitespace is not rescanned
    started = time.perf_counter()
    assert _collect(list("Done." + " " * 20_000 + "Next."), SPLIT) == ["Done.", "Next."]
    assert time.perf_counter() - started < 2.0


def test_sentences_through_speakable_read_naturally() -> None:
    text = "## Recipe\nRun this:\n```sh\nls\n```\nthen **look** at [the output](https://x.io)."
    spoken = [speakable(s) for s in _collect(list(text), DEFAULT)]
    assert spoken == ["Recipe. Run this: then look at the output."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "**Bold** and __strong__ and *it* and _em_ text.",
            "Bold and strong and it and em text.",
            id="emphasis markers are dropped",
        ),
        pytest.param(
            "Use snake_case_name, 2*3 and 2 * 3.",
            "Use snake_case_name, 2*3 and 2 * 3.",
            id="stars and underscores inside words or sums stay",
        ),
        pytest.param("~~old~~ new", "old new", id="strikethrough marks are dropped"),
        pytest.param(
            "**First half of a bold sentence.",
            "First half of a bold sentence.",
            id="a bold span cut by a sentence boundary leaves no stars",
        ),
        pytest.param("## Heading ##", "Heading", id="heading marks are dropped"),
        pytest.param(
            "# Title\nIntro text here.",
            "Title. Intro text here.",
            id="a heading gets a pause before the text after it",
        ),
        pytest.param(
            "- apples\n- pears\n* plums", "apples. pears. plums", id="bullets are dropped"
        ),
        pytest.param(
            "1. Open the box\n2) Take it out",
            "1. Open the box. 2. Take it out",
            id="list numbers are kept",
        ),
        pytest.param("> Quoted text here", "Quoted text here", id="quote marks are dropped"),
        pytest.param("Run `ls -la` now.", "Run ls -la now.", id="backticks are dropped"),
        pytest.param(
            "See [the docs](https://docs.python.org/3/) for more.",
            "See the docs for more.",
            id="a link is read as its label",
        ),
        pytest.param("![diagram](img.png) shows it", "diagram shows it", id="an image is its alt"),
        pytest.param(
            "Visit https://example.com/a?b=1. Or www.example.org!",
            "Visit link. Or link!",
            id="a bare url is read as link and keeps the punctuation after it",
        ),
        pytest.param("<https://x.io> rocks", "link rocks", id="an autolink is read as link"),
        pytest.param("  spaced \t out\n\n text ", "spaced out. text", id="whitespace collapses"),
        pytest.param("Line one\nline two", "Line one line two", id="a soft line break is a space"),
        pytest.param("C++ and C# rock", "C++ and C# rock", id="symbols inside words stay"),
        pytest.param("| a | b |\n|---|---|", "a b", id="table pipes and rules are dropped"),
        pytest.param("", "", id="empty text is empty"),
        pytest.param("   ", "", id="whitespace is empty"),
        pytest.param("---", "", id="a rule is empty"),
        pytest.param("* * *", "", id="a spaced rule is empty"),
        pytest.param("...", "", id="punctuation alone is empty"),
        pytest.param("```", "", id="a bare fence is empty"),
        pytest.param("🎉🎉", "", id="emoji alone is empty"),
    ],
)
def test_speakable_cleans_markdown_for_a_voice(text, expected) -> None:
    assert speakable(text) == expected


FIRST_PIECE_TEXT = (
    "One fun fact about octopuses is that they have three hearts, blue blood and no bones at all. "
    "They can squeeze through any gap larger than their beak, which is the only hard part."
)


def test_the_first_piece_can_be_cut_shorter_so_speech_starts_sooner() -> None:
    agg = SentenceAggregator(first_max_chars=60)
    pieces = agg.push(FIRST_PIECE_TEXT) + agg.flush()
    assert len(pieces[0]) <= 60
    assert pieces[0].endswith(",")
    assert all(len(p) <= 220 for p in pieces)
    assert "".join(pieces).replace(" ", "") == FIRST_PIECE_TEXT.replace(" ", "")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_first_piece_limit_does_not_depend_on_how_the_text_was_chunked(seed: int) -> None:
    whole = SentenceAggregator(first_max_chars=60)
    expected = whole.push(FIRST_PIECE_TEXT) + whole.flush()
    rng = random.Random(seed)
    agg = SentenceAggregator(first_max_chars=60)
    got: list[str] = []
    i = 0
    while i < len(FIRST_PIECE_TEXT):
        step = rng.randint(1, 7)
        got += agg.push(FIRST_PIECE_TEXT[i : i + step])
        i += step
    assert got + agg.flush() == expected


def test_a_short_opener_goes_alone_when_the_first_minimum_allows_it() -> None:
    text = "Sure. Here is what the weather looks like in Paris today. Ok. Then rain."
    # The default: "Sure." is merged with the next sentence; so is a short one later on.
    merged = SentenceAggregator(first_max_chars=60)
    assert (merged.push(text) + merged.flush())[0].startswith("Sure. Here is")
    opener = SentenceAggregator(first_max_chars=60, first_min_chars=2)
    # Released as soon as the next sentence's first letter confirms its end.
    assert opener.push("Sure. ") == [] and opener.push("H") == ["Sure."]
    rest = opener.push(text[7:]) + opener.flush()
    assert rest[0].startswith("Here is") and "Ok. Then rain." in rest  # later: merged as ever
