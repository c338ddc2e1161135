"""Turn a streamed LLM answer into speakable sentences while it is still being written.

``SentenceAggregator`` is fed the answer chunk by chunk and hands back each sentence as soon as
it is confirmed: a sentence end (``.``, ``!``, ``?``, ``…`` and their runs, plus any closing
quotes or brackets) only counts once the next non-whitespace character has arrived and looks like
the start of a new sentence, so "$29." waits for "Next" and "3.14", "Mr. Smith", "e.g. this" or
"example.com" never split. Markdown structure is respected (blank lines, list items and headings
end at their newline) and fenced code blocks are dropped entirely. Decisions depend only on the
text, never on how it was chunked, and each push costs time proportional to the chunk.
``speakable`` then cleans one sentence for a TTS engine (no markdown, links read as their label,
bare URLs as "link"; in ``speech.speakable``, re-exported here). Pure, synchronous,
stdlib-only. The text rules are in ``speech.text_rules``, the code-fence filter in
``speech.code_fences``.
"""

from __future__ import annotations

from playground.speech.code_fences import FenceFilter
from playground.speech.speakable import speakable
from playground.speech.text_rules import (
    CANDIDATE,
    CLAUSE_CUT,
    CLOSERS,
    CONTINUERS,
    HEADING,
    LIST,
    PLAIN,
    TERMINATORS,
    WORD_OPENERS,
    classify_line,
    is_abbreviation,
    skip_indent,
)

__all__ = ["SentenceAggregator", "speakable"]


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
    longer than ``max_chars``. The first piece of an answer has its own bounds
    (``first_min_chars``, ``first_max_chars``): the time to first audio waits for it alone.
    """

    # Per-answer state, (re)initialised by reset().
    _fences: FenceFilter
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
        self,
        *,
        min_chars: int = 24,
        max_chars: int = 220,
        first_max_chars: int | None = None,
        first_min_chars: int | None = None,
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
        # ... and released shorter too: a short opener ("Sure.") is spoken while the next
        # sentence streams, instead of waiting to be merged with it.
        self._first_min = min_chars if first_min_chars is None else max(0, first_min_chars)
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
        self._fences = FenceFilter()
        self._buf = ""  # code-free text from the start of the unreleased sentence onwards
        self._seg = 0  # start of the unreleased sentence in _buf (0 between pushes)
        self._released = 0  # pieces released so far in this answer
        self._i = 0  # every position before this has been decided
        self._started = False  # whether the first line has been classified
        self._line_kind = PLAIN  # kind of the line that _i is in
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
            j = skip_indent(buf, self._resume(-1, 0)[0])
            kind = classify_line(buf, j, final)
            if kind is None:
                self._ahead = (j,)
                return
            self._line_kind, self._marker_end = kind
            self._started = True
        while True:
            match = CANDIDATE.search(buf, self._i)
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
        j = skip_indent(self._buf, self._resume(y, y + 1)[0])
        kind = classify_line(self._buf, j, final)
        if kind is None:
            self._ahead = (j,)
            return None
        # Headings and list items end at their newline; a blank line, list item or heading
        # after it also ends what came before. A plain line break inside a paragraph does not.
        if self._line_kind in (LIST, HEADING) or kind[0] != PLAIN:
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
        while b < n and buf[b] in TERMINATORS:
            b += 1
        c = max(c, b)
        while c < n and buf[c] in CLOSERS:
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
        if nxt.islower() or nxt in CONTINUERS:
            return False
        if b - y == 1 and self._buf[y] == ".":
            if nxt.isdigit():  # "No. 5", "Jan. 3", "approx. 20": a lone "." before a number
                return False
            if is_abbreviation(self._word_before(y)):
                return False
        return True

    def _word_before(self, y: int) -> str:
        buf = self._buf
        k = y
        lowest = max(self._seg, y - 40)
        while k > lowest and not buf[k - 1].isspace():
            k -= 1
        return buf[k:y].lstrip(WORD_OPENERS)

    # -- releasing ------------------------------------------------------------------------------

    def _boundary(self, p: int, out: list[str]) -> None:
        """A confirmed sentence end at ``p``: release the sentence unless it is too short."""
        piece = self._buf[self._seg : p].strip()
        if not piece:
            self._seg = p
        elif len(piece) >= (self._first_min if self._released == 0 else self._min):
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
            for match in CLAUSE_CUT.finditer(buf, start, limit + 1):
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
