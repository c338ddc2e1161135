"""Turn a streamed LLM answer into speakable sentences while it is still being written.

``SentenceAggregator`` is fed the answer chunk by chunk and hands back each sentence as soon as
it is confirmed: a sentence end (``.``, ``!``, ``?``, ``…`` and their runs, plus any closing
quotes or brackets) only counts once the next non-whitespace character has arrived and looks like
the start of a new sentence, so "$29." waits for "Next" and "3.14", "Mr. Smith", "e.g. this" or
"example.com" never split. Markdown structure is respected (blank lines, list items and headings
end at their newline) and fenced code blocks are dropped entirely. Decisions depend only on the
text, never on how it was chunked, and each push costs time proportional to the chunk.
``speakable`` then cleans one sentence for a TTS engine (no markdown, links read as their label,
bare URLs as "link"). Pure, synchronous, stdlib-only.
"""

from __future__ import annotations

import re

__all__ = ["SentenceAggregator", "speakable"]

_TERMINATORS = frozenset(".!?…")
# Characters that may follow a sentence end and still belong to the sentence: ``."`` ``?)`` ``.**``
_CLOSERS = frozenset("\"'”’»)]}*_`")
# What a word may start with before the letters an abbreviation check looks at: ``(Mr.``
_WORD_OPENERS = "([{\"'“‘«*_`"
# After whitespace, these continue the sentence instead of starting a new one.
_CONTINUERS = frozenset(",;:)]}")
_CANDIDATE = re.compile(r"[.!?…\n]")
# Early-split points for run-on sentences: a clause mark followed by whitespace, or an em dash.
_CLAUSE_CUT = re.compile(r"[,;:–](?=\s)|—")
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

_PLAIN, _BLANK, _LIST, _HEADING = "plain", "blank", "list", "heading"


def _skip_indent(buf: str, j: int) -> int:
    n = len(buf)
    while j < n and buf[j] != "\n" and buf[j].isspace():
        j += 1
    return j


def _classify_line(buf: str, j: int, final: bool) -> tuple[str, int] | None:
    """Kind of the line whose first non-indent character is at ``j``, and where its list marker
    ends (-1 if none).

    ``None`` means the buffer ends before the kind is known (e.g. it ends in ``"1"`` or ``"-"``)
    and more text is needed; with ``final`` the buffer end counts as the end of the answer.
    """
    n = len(buf)
    undecided = None if not final else (_PLAIN, -1)
    if j == n:
        return undecided
    ch = buf[j]
    if ch == "\n":
        return _BLANK, -1
    if ch == "#":
        k = j
        while k < n and buf[k] == "#":
            k += 1
        if k == n:
            return undecided
        return (_HEADING, -1) if k - j <= 6 and buf[k] in " \t" else (_PLAIN, -1)
    if ch in "-*+•":
        if j + 1 == n:
            return undecided
        return (_LIST, j + 1) if buf[j + 1] in " \t" else (_PLAIN, -1)
    if ch.isdigit():
        k = j
        while k < n and buf[k].isdigit():
            k += 1
        if k + 1 >= n:
            return undecided
        if k - j <= 9 and buf[k] in ".)" and buf[k + 1] in " \t":
            return _LIST, k + 1
    return _PLAIN, -1


def _is_abbreviation(word: str) -> bool:
    if not word:
        return False
    return word.lower() in _NON_TERMINAL or _INITIALS.fullmatch(word) is not None


class _FenceFilter:
    """Removes fenced code: everything from a run of 3+ backticks to a run at least as long.

    A fence may start anywhere (models sometimes glue it to the end of a sentence). The opening
    fence becomes a paragraph break ``"\\n\\n"`` so the sentence before it is confirmed at once
    rather than after the whole block has streamed; the block itself produces nothing. A run of
    one or two backticks (inline code) passes through. A backtick run at the end of a chunk is
    held until the next character shows how long it is.
    """

    __slots__ = ("_fence", "_ticks")

    def __init__(self) -> None:
        self._fence = 0  # length of the open fence's backtick run; 0 = not in a code block
        self._ticks = 0  # length of the backtick run being read (held, not yet emitted)

    def feed(self, text: str) -> str:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            if not self._ticks:
                j = text.find("`", i)
                if j < 0:
                    if not self._fence:
                        out.append(text[i:])
                    break
                if not self._fence:
                    out.append(text[i:j])
                i = j
            j = i
            while j < n and text[j] == "`":
                j += 1
            self._ticks += j - i
            i = j
            if i < n:
                self._end_run(out)
        return "".join(out)

    def flush(self) -> str:
        out: list[str] = []
        if self._ticks:
            self._end_run(out)
        self._fence = 0
        return "".join(out)

    def _end_run(self, out: list[str]) -> None:
        ticks, self._ticks = self._ticks, 0
        if self._fence:
            if ticks >= self._fence:
                self._fence = 0
        elif ticks >= 3:
            self._fence = ticks
            out.append("\n\n")
        else:
            out.append("`" * ticks)


class SentenceAggregator:
    """Collects streamed text and releases whole sentences, in order, as soon as they are certain.

    >>> agg = SentenceAggregator(min_chars=0)
    >>> agg.push("It costs $29. N")
    ['It costs $29.']
    >>> agg.push("ext, Mr. Smith pays 3.14")
    []
    >>> agg.push(" dollars.\\n```py\\nprint(1)\\n```\\nDone")
    ['Next, Mr. Smith pays 3.14 dollars.']
    >>> agg.flush()
    ['Done']

    ``push`` returns the sentences confirmed by that chunk (often ``[]``); ``flush`` returns the
    rest at the end of the answer and leaves the aggregator ready for the next one; ``reset``
    drops everything after an interruption. Sentences are stripped of surrounding whitespace but
    keep their inner text verbatim (newlines, markdown), so pass each through ``speakable``
    before synthesis. A sentence shorter than ``min_chars`` is merged with the next one; a run-on
    sentence is split early (at a clause mark, else whitespace) so no piece split that way is
    longer than ``max_chars``.
    """

    # Per-answer state, (re)initialised by reset().
    _fences: _FenceFilter
    _buf: str
    _seg: int
    _i: int
    _started: bool
    _line_kind: str
    _marker_end: int
    _probe: int
    _no_cut_at: int
    _ahead_at: int
    _ahead: tuple[int, ...]
    _ahead_newlines: int

    def __init__(
        self, *, min_chars: int = 24, max_chars: int = 220, first_max_chars: int | None = None
    ) -> None:
        if min_chars < 0:
            raise ValueError(f"min_chars must not be negative, got {min_chars}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        if min_chars > max_chars:
            raise ValueError(f"min_chars ({min_chars}) must not exceed max_chars ({max_chars})")
        self._min = min_chars
        self._max = max_chars
        # The first piece may be cut shorter than the rest: time to first audio waits for it.
        self._first_max = max(min_chars, min(first_max_chars or max_chars, max_chars))
        self.reset()

    @property
    def min_chars(self) -> int:
        return self._min

    @property
    def max_chars(self) -> int:
        return self._max

    def push(self, text: str) -> list[str]:
        """Feed one streamed chunk; return the sentences it confirmed, oldest first."""
        clean = self._fences.feed(text)
        if not clean:
            return []
        buf, self._buf = self._buf, ""
        buf += clean  # sole reference: CPython appends in place, so pushes stay O(chunk)
        self._buf = buf
        out: list[str] = []
        self._scan(out, final=False)
        self._trim()
        return out

    def flush(self) -> list[str]:
        """End of the answer: return everything still buffered (any length), then start afresh."""
        self._buf += self._fences.flush()
        out: list[str] = []
        self._scan(out, final=True)
        rest = self._buf[self._seg :].strip()
        if rest:
            out.append(rest)
        self.reset()
        return out

    def reset(self) -> None:
        """Drop everything buffered (the answer was interrupted); the next push starts afresh."""
        self._fences = _FenceFilter()
        self._buf = ""  # code-free text from the start of the unreleased sentence onwards
        self._seg = 0  # start of the unreleased sentence in _buf (0 between pushes)
        self._released = 0  # pieces released so far in this answer
        self._i = 0  # every position before this has been decided
        self._started = False  # whether the first line has been classified
        self._line_kind = _PLAIN  # kind of the line that _i is in
        self._marker_end = -1  # end of that line's list marker: "1." there is not a full stop
        self._probe = 0  # how far the no-whitespace fallback of the max_chars split has looked
        self._no_cut_at = -1  # _seg whose max_chars window was searched in vain
        # Look-ahead progress for the candidate at _ahead_at (-1: start of the answer), so a
        # stalled decision resumes where it stopped instead of rescanning a long whitespace run.
        self._ahead_at = -2
        self._ahead = ()  # buffer positions
        self._ahead_newlines = 0  # newlines in the whitespace after an end mark, so far

    # -- scanning -------------------------------------------------------------------------------

    def _scan(self, out: list[str], *, final: bool) -> None:
        """Decide every candidate boundary that has enough look-ahead, in text order.

        Each decision reads only text already in the buffer up to its look-ahead and stops
        (leaving ``_i`` on the candidate) when that look-ahead has not arrived, so the outcome is
        the same however the text was chunked. ``final`` treats the buffer end as the answer end.
        """
        buf = self._buf
        if not self._started:
            j = _skip_indent(buf, self._resume(-1, 0)[0])
            kind = _classify_line(buf, j, final)
            if kind is None:
                self._ahead = (j,)
                return
            self._line_kind, self._marker_end = kind
            self._started = True
        while True:
            match = _CANDIDATE.search(buf, self._i)
            self._i = len(buf) if match is None else match.start()
            self._enforce_max(out)
            if match is None:
                return
            y = self._i
            nxt = self._newline(y, out, final) if buf[y] == "\n" else self._end_mark(y, out, final)
            if nxt is None:
                return
            self._i = nxt

    def _resume(self, y: int, *start: int) -> tuple[int, ...]:
        """Look-ahead positions saved for candidate ``y`` by a stalled decision, else ``start``."""
        if self._ahead_at == y:
            return self._ahead
        self._ahead_at, self._ahead = y, start
        return start

    def _newline(self, y: int, out: list[str], final: bool) -> int | None:
        j = _skip_indent(self._buf, self._resume(y, y + 1)[0])
        kind = _classify_line(self._buf, j, final)
        if kind is None:
            self._ahead = (j,)
            return None
        # Headings and list items end at their newline; a blank line, list item or heading
        # after it also ends what came before. A plain line break inside a paragraph does not.
        if self._line_kind in (_LIST, _HEADING) or kind[0] != _PLAIN:
            self._boundary(y, out)
        self._line_kind, self._marker_end = kind
        return y + 1

    def _end_mark(self, y: int, out: list[str], final: bool) -> int | None:
        buf = self._buf
        n = len(buf)
        if y < self._marker_end:  # the "." of a "1. " list marker
            return y + 1
        # Resuming is exact: a saved position below the old buffer end already stopped its loop.
        fresh = self._ahead_at != y
        b, c, d = self._resume(y, y + 1, y + 1, y + 1)
        newlines = 0 if fresh else self._ahead_newlines
        while b < n and buf[b] in _TERMINATORS:
            b += 1
        c = max(c, b)
        while c < n and buf[c] in _CLOSERS:
            c += 1
        d = max(d, c)
        while d < n and buf[d].isspace():
            newlines += buf[d] == "\n"
            d += 1
        paragraph = newlines >= 2  # two newlines in a whitespace run make a blank line
        if d == n:
            if not (final or paragraph):
                self._ahead, self._ahead_newlines = (b, c, d), newlines
                return None  # the look-ahead character has not arrived yet
            self._boundary(c, out)
            return c
        if c == d:  # no whitespace: 3.14, v1.2, example.com, U.S, "?!x"
            return c
        if paragraph or self._starts_sentence(y, b, buf[d]):
            self._boundary(c, out)
        return c

    def _starts_sentence(self, y: int, b: int, nxt: str) -> bool:
        """Whether ``nxt``, the first character after the end mark ``buf[y:b]``, starts anew."""
        if nxt.islower() or nxt in _CONTINUERS:
            return False
        if b - y == 1 and self._buf[y] == ".":
            if nxt.isdigit():  # "No. 5", "Jan. 3", "approx. 20": a lone "." before a number
                return False
            if _is_abbreviation(self._word_before(y)):
                return False
        return True

    def _word_before(self, y: int) -> str:
        buf = self._buf
        k = y
        lowest = max(self._seg, y - 40)
        while k > lowest and not buf[k - 1].isspace():
            k -= 1
        return buf[k:y].lstrip(_WORD_OPENERS)

    # -- releasing ------------------------------------------------------------------------------

    def _boundary(self, p: int, out: list[str]) -> None:
        """A confirmed sentence end at ``p``: release the sentence unless it is too short."""
        piece = self._buf[self._seg : p].strip()
        if not piece:
            self._seg = p
        elif len(piece) >= self._min:
            out.append(piece)
            self._released += 1
            self._seg = p
        # else: held, and merged with whatever comes next

    def _enforce_max(self, out: list[str]) -> None:
        buf = self._buf
        while True:
            # Leading whitespace is stripped from every sentence, so it counts for nothing.
            s = self._seg
            while s < self._i and buf[s].isspace():
                s += 1
            self._seg = s
            if self._i - s <= self._limit():
                return
            q = self._max_cut()
            if q is None:
                return
            piece = self._buf[self._seg : q].strip()
            if piece:
                out.append(piece)
                self._released += 1
            self._seg = q

    def _max_cut(self) -> int | None:
        """Where to split a sentence that has grown past ``max_chars`` (all of it decided)."""
        buf, start = self._buf, self._seg  # _seg is on a non-whitespace character here
        limit = start + self._limit()  # the piece is buf[start:q] with q <= limit
        if self._no_cut_at != start:
            best = None
            for match in _CLAUSE_CUT.finditer(buf, start, limit + 1):
                q = match.end()
                if q <= limit and q - start >= self._min:
                    best = q
            if best is not None:
                return best
            for q in range(limit, start, -1):
                if buf[q].isspace():
                    return q
            self._no_cut_at = start
        # One word longer than max_chars (a long URL, say): split at the first whitespace after.
        q = max(self._probe, limit + 1)
        while q < self._i:
            if buf[q].isspace():
                return q
            q += 1
        self._probe = q
        return None

    def _limit(self) -> int:
        return self._first_max if self._released == 0 else self._max

    def _trim(self) -> None:
        s = self._seg
        if s:
            self._buf = self._buf[s:]
            self._i -= s
            self._marker_end -= s
            self._probe = max(0, self._probe - s)
            self._ahead_at -= s
            self._ahead = tuple(v - s for v in self._ahead)
            self._no_cut_at -= s
            self._seg = 0


# -- speakable ----------------------------------------------------------------------------------

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
