"""The streaming guardrail: local moderation over sentence windows while a reply streams.

It is weaker than checking the complete reply, and ``LIMITS`` says how, in words the UI shows.
"""

from __future__ import annotations

import re

from playground.checks.moderation import LocalModerator, ModerationVerdict

__all__ = ["LIMITS", "StreamingGuardrail"]

LIMITS = (
    "The streaming guardrail checks the reply while it streams, a few sentences at a time "
    "(each time a sentence completes, that sentence and the two before it), with the local "
    "rules only. It is weaker than the full guardrail:\n"
    "- The text is already on screen, and may already have been spoken, before its window is "
    "checked. A failed check retracts it afterwards; it cannot un-show it.\n"
    "- It sees windows, not the whole reply. Anything that only shows across sentences further "
    "apart, or in the reply as a whole (what it adds up to, its tone, its context), is missed.\n"
    "- The last sentence is checked only when the reply ends.\n"
    "- The OpenAI moderation model is not used per window (it would cost one request per "
    "sentence); it runs only in the full guardrail."
)


# A sentence end: terminators, any closing quotes/brackets/emphasis, then whitespace (which must
# have arrived, so a "." at the end of a chunk waits). A newline ends a line-shaped sentence
# (list items, headings). "3.14" and "example.com" have no whitespace after the dot, so they do
# not split; "Mr. Smith" does, which only makes a window smaller, never skips text.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]*_`]*(?=\s)|\n")
_UNDECIDED_TAIL = frozenset(".!?…\"'”’»)]*_`")


class StreamingGuardrail:
    """Runs a ``LocalModerator`` over sentence windows as a reply streams in.

    Each time a sentence completes, the window of the last ``window_sentences`` sentences (the
    new one and those before it, so a phrase across a sentence boundary is still seen) is
    checked. A sentence longer than ``max_sentence_chars`` is cut at its last space so a reply
    without punctuation is still checked as it goes. ``feed`` returns the first failing verdict
    and ``None`` otherwise; after a verdict the guardrail stops checking (the turn is expected to
    stop and retract). Verdict spans are offsets into ``text`` (everything fed so far) and a mask
    verdict's ``replacement_text`` is all of ``text`` masked. ``finish`` checks the unfinished
    last sentence at the end of the reply. One instance serves one reply.
    """

    def __init__(
        self,
        moderator: LocalModerator,
        *,
        window_sentences: int = 3,
        max_sentence_chars: int = 400,
    ) -> None:
        if window_sentences < 1:
            raise ValueError(f"window_sentences must be at least 1, got {window_sentences}")
        if max_sentence_chars < 1:
            raise ValueError(f"max_sentence_chars must be positive, got {max_sentence_chars}")
        self._moderator = moderator
        self._window = window_sentences
        self._max_chars = max_sentence_chars
        self._text = ""
        self._bounds = [0]  # offsets where sentences end (and the first starts)
        self._verdict: ModerationVerdict | None = None
        self._finished = False
        self._checks = 0

    @property
    def text(self) -> str:
        return self._text

    @property
    def verdict(self) -> ModerationVerdict | None:
        """The first failing verdict, once there is one."""
        return self._verdict

    @property
    def checks(self) -> int:
        """How many windows have been checked."""
        return self._checks

    def feed(self, chunk: str) -> ModerationVerdict | None:
        """Add one streamed chunk; return a verdict if this chunk completed a failing window."""
        if self._verdict is not None or self._finished or not chunk:
            return None
        old_len = len(self._text)
        text, self._text = self._text, ""
        text += chunk  # sole reference: CPython appends in place, so feeding stays O(chunk)
        self._text = text
        # Re-scan any terminators at the old end: they were waiting for the next character.
        start = old_len
        while start > self._bounds[-1] and text[start - 1] in _UNDECIDED_TAIL:
            start -= 1
        for match in _SENTENCE_END.finditer(text, max(start, self._bounds[-1])):
            if self._sentence_ends(match.end()):
                return self._verdict
        while len(text) - self._bounds[-1] > self._max_chars:
            lo = self._bounds[-1]
            # Cut at the last space so a word still arriving is not split; a window always
            # overlaps the one before, so even a split word is seen whole once.
            cut = text.rfind(" ", lo + 1, lo + self._max_chars + 1)
            if self._sentence_ends(cut if cut > lo else lo + self._max_chars):
                return self._verdict
        return None

    def finish(self) -> ModerationVerdict | None:
        """End of the reply: check the last, unterminated sentence. Later calls return None."""
        if self._verdict is not None or self._finished:
            return None
        self._finished = True
        if self._sentence_ends(len(self._text)):
            return self._verdict
        return None

    def _sentence_ends(self, end: int) -> bool:
        """Record a sentence ending at ``end`` and check its window; True if the check failed."""
        last = self._bounds[-1]
        if end <= last:
            return False
        if not self._text[last:end].strip():
            self._bounds[-1] = end  # blank: fold into the previous boundary, nothing to check
            return False
        self._bounds.append(end)
        start = self._bounds[max(0, len(self._bounds) - 1 - self._window)]
        self._checks += 1
        verdict = self._moderator.check_window(self._text, start, end)
        if verdict.flagged:
            self._verdict = verdict
            return True
        return False
