"""Content moderation of a reply: local rules, the OpenAI moderation model, and a streaming window.

``LocalModerator`` applies ``ModerationRules`` (loaded from ``assets/moderation_rules.yaml``):
categories of regex patterns and word lists, plus PII detectors for email addresses, phone
numbers and payment card numbers (Luhn-checked, so random digit runs do not fire). Each rule
either blocks the whole reply (it is replaced by a message) or masks the matched spans.
``OpenAIModerator`` asks the OpenAI moderation endpoint instead and always blocks.
``StreamingGuardrail`` runs a ``LocalModerator`` over sentence windows while a reply streams; it is
weaker than checking the complete reply, and ``LIMITS`` says how, in words the UI shows. Every
check returns a ``ModerationVerdict``; nothing here touches the turn or the UI.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import openai
from openai import AsyncOpenAI
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from playground.checks.rulefiles import RegexPattern, load_rules_file
from playground.errors import ErrorCategory, ProviderError
from playground.providers.openai_llm import translate_openai_error
from playground.settings import ASSETS_DIR

__all__ = [
    "DEFAULT_BLOCK_MESSAGE",
    "DEFAULT_MODERATION_RULES_PATH",
    "LIMITS",
    "CategoryRule",
    "LocalModerator",
    "ModerationAction",
    "ModerationRules",
    "ModerationSpan",
    "ModerationVerdict",
    "OpenAIModerator",
    "PiiDetector",
    "PiiRules",
    "StreamingGuardrail",
    "load_moderation_rules",
    "luhn_valid",
]

ModerationAction = Literal["block", "mask"]

DEFAULT_MODERATION_RULES_PATH = ASSETS_DIR / "moderation_rules.yaml"
DEFAULT_BLOCK_MESSAGE = "This reply was withheld by the content guardrail."

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

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _category_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError("use lowercase letters, digits, '-' and '_', starting with a letter")
    return name


# Names become rule ids ("violence.words"), so they are kept short and plain.
_CategoryName = Annotated[str, AfterValidator(_category_name)]


class CategoryRule(BaseModel):
    """One category of content (``violence``, ``secrets``...) and what to do when it appears."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: ModerationAction
    description: str = ""
    patterns: tuple[RegexPattern, ...] = ()
    # Whole words or phrases; matched at word boundaries, any whitespace between phrase words.
    words: tuple[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)], ...] = ()
    case_sensitive: bool = False
    replacement: str = "[removed]"  # for action "mask"
    message: str | None = None  # for action "block"; the file's block_message if unset
    label: str | None = None  # what one match is called in reasons ("secret"); category if unset

    @model_validator(mode="after")
    def _has_something_to_match(self) -> CategoryRule:
        if not self.patterns and not self.words:
            raise ValueError("give at least one entry in patterns or words")
        return self


class PiiDetector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    action: ModerationAction = "mask"
    replacement: str | None = None  # for "mask"; "[email removed]" etc. if unset
    message: str | None = None  # for "block"; the file's block_message if unset


class PiiRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: PiiDetector = PiiDetector()
    phone: PiiDetector = PiiDetector()
    card: PiiDetector = PiiDetector()


class ModerationRules(BaseModel):
    """The moderation rules file. Block rules win over mask rules; file order breaks ties."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_message: str = Field(default=DEFAULT_BLOCK_MESSAGE, min_length=1)
    categories: dict[_CategoryName, CategoryRule] = Field(default_factory=dict)
    pii: PiiRules = PiiRules()

    @field_validator("categories")
    @classmethod
    def _pii_is_reserved(cls, value: dict[str, CategoryRule]) -> dict[str, CategoryRule]:
        if "pii" in value:
            raise ValueError("'pii' is reserved for the pii section; pick another category name")
        return value


def load_moderation_rules(path: Path | str = DEFAULT_MODERATION_RULES_PATH) -> ModerationRules:
    """Load and validate a rules file; a bad file raises ``ConfigError`` naming path and field."""
    return load_rules_file(path, ModerationRules)


@dataclass(frozen=True, slots=True)
class ModerationSpan:
    """A matched stretch of the checked text, ``text[start:end]``, and what would replace it."""

    start: int
    end: int
    rule: str
    replacement: str


@dataclass(frozen=True, slots=True)
class ModerationVerdict:
    """The outcome of one check.

    ``rule`` names what fired (``pii.email``, ``violence.words``, ``violence.patterns[0]``,
    ``openai:harassment``) and ``category`` its category (``pii``, ``violence``...).
    ``replacement_text`` is what to deliver instead of the checked text: the block message, or
    the text with every span masked. ``reason`` is one line for the UI. Unflagged verdicts
    carry only ``flagged=False``.
    """

    flagged: bool
    action: ModerationAction | None = None
    rule: str | None = None
    category: str | None = None
    spans: tuple[ModerationSpan, ...] = ()
    replacement_text: str | None = None
    reason: str = ""

    def text_for(self, original: str) -> str:
        """What to deliver in place of ``original`` (the text this verdict was computed on)."""
        if self.flagged and self.replacement_text is not None:
            return self.replacement_text
        return original


PASS = ModerationVerdict(flagged=False)

# --- PII detectors ----------------------------------------------------------------------------
# Digits are spelled [0-9] because \d also matches other scripts' digits. Every detector refuses
# to start or end inside a longer run of digits, letters, dots or dashes, which is what keeps
# version numbers (3.11.7), dates (2024-01-15), IP addresses and IDs from matching a part.

_EMAIL = re.compile(
    r"(?<![\w.%+-])"
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![\w-]|\.[A-Za-z0-9])"
)

_PHONE = re.compile(
    r"""
    (?<![\w.+/:-])
    (?:
        # International, with a leading +: +44 20 7946 0958, +1-555-123-4567, +4930123456
        \+[0-9]{1,3}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){2,6}
        # North American with an area code in brackets: (555) 123-4567, 1 (800) 555-0199
      | (?:1[ .-]?)?\([0-9]{3}\)[ ]?[0-9]{3}[ .-][0-9]{4}
        # North American, one separator used throughout: 555-123-4567, 1.800.555.0199
      | (?:1[ .-])?[0-9]{3}(?P<sep>[ .-])[0-9]{3}(?P=sep)[0-9]{4}
        # National numbers with a trunk 0 and at least one space or dash: 020 7946 0958
      | 0[0-9]{2,4}[ -][0-9]{3,4}(?:[ -]?[0-9]{3,4})?
    )
    (?![\w]|[.,/:-][0-9])
    """,
    re.VERBOSE,
)

_CARD = re.compile(
    r"""
    (?<![\w.+/:-])
    (?:
        [0-9]{13,19}                                              # 4111111111111111
      | [0-9]{4}(?P<s4>[ -])[0-9]{4}(?P=s4)[0-9]{4}(?P=s4)[0-9]{1,4}(?:(?P=s4)[0-9]{1,3})?
      | [0-9]{4}(?P<s6>[ -])[0-9]{6}(?P=s6)[0-9]{4,5}             # Amex, Diners: 4-6-5, 4-6-4
    )
    (?![\w]|[.,/:-][0-9])
    """,
    re.VERBOSE,
)


_PII_REPLACEMENTS = {
    "email": "[email removed]",
    "phone": "[phone number removed]",
    "card": "[card number removed]",
}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number carries (``digits`` holds only 0-9)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def _is_card(match: str) -> bool:
    digits = _digits(match)
    # Issuer numbers start with 2-6 (Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover 6);
    # together with Luhn this keeps ~95% of random 16-digit IDs and all ms timestamps out.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _is_phone(match: str) -> bool:
    digits = len(_digits(match))
    if match.startswith("+"):
        return 8 <= digits <= 15  # E.164 allows at most 15
    if match.startswith("0"):
        return 10 <= digits <= 11
    return digits in (10, 11)


# --- compiled rules -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Detector:
    rule: str
    category: str
    action: ModerationAction
    regex: re.Pattern[str]
    replacement: str
    message: str
    label: str
    description: str = ""
    accept: Callable[[str], bool] | None = None  # extra check on the matched text


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    order: int  # detector position: file order breaks ties
    detector: _Detector


def _word_regex(words: tuple[str, ...], flags: int) -> re.Pattern[str]:
    alternatives = sorted(
        (r"\s+".join(re.escape(part) for part in word.split()) for word in words),
        key=len,
        reverse=True,  # longest first, so "kill you all" wins over "kill you"
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", flags)


def _compile(rules: ModerationRules) -> tuple[_Detector, ...]:
    detectors: list[_Detector] = []
    for name, category in rules.categories.items():
        flags = 0 if category.case_sensitive else re.IGNORECASE
        compiled = [(f"{name}.words", _word_regex(category.words, flags))] if category.words else []
        compiled += [
            (f"{name}.patterns[{index}]", re.compile(pattern, flags))
            for index, pattern in enumerate(category.patterns)
        ]
        detectors += [
            _Detector(
                rule=rule,
                category=name,
                action=category.action,
                regex=regex,
                replacement=category.replacement,
                message=category.message or rules.block_message,
                label=category.label or f"{name} match",
                description=category.description,
            )
            for rule, regex in compiled
        ]
    pii: tuple[tuple[str, PiiDetector, re.Pattern[str], str, Callable[[str], bool] | None], ...] = (
        # Cards before phones: where both match the same digits, the card reading is kept.
        ("card", rules.pii.card, _CARD, "card number", _is_card),
        ("email", rules.pii.email, _EMAIL, "email address", None),
        ("phone", rules.pii.phone, _PHONE, "phone number", _is_phone),
    )
    detectors += [
        _Detector(
            rule=f"pii.{kind}",
            category="pii",
            action=config.action,
            regex=regex,
            replacement=config.replacement or _PII_REPLACEMENTS[kind],
            message=config.message or rules.block_message,
            label=label,
            accept=accept,
        )
        for kind, config, regex, label, accept in pii
        if config.enabled
    ]
    return tuple(detectors)


def _plural(label: str, count: int) -> str:
    if count == 1:
        return label
    return label + ("es" if label.endswith(("s", "x", "ch", "sh")) else "s")


def _non_overlapping(hits: list[_Hit]) -> list[_Hit]:
    """Earliest first; of overlapping hits keep the one starting first, then the longest."""
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end, h.order)):
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept


def _mask(text: str, spans: tuple[ModerationSpan, ...]) -> str:
    """``text`` with each (sorted, non-overlapping) span replaced."""
    out: list[str] = []
    at = 0
    for span in spans:
        out.append(text[at : span.start])
        out.append(span.replacement)
        at = span.end
    out.append(text[at:])
    return "".join(out)


def _span(hit: _Hit) -> ModerationSpan:
    return ModerationSpan(hit.start, hit.end, hit.detector.rule, hit.detector.replacement)


class LocalModerator:
    """Checks text against ``ModerationRules``; pure and synchronous, safe to share."""

    def __init__(self, rules: ModerationRules) -> None:
        self._rules = rules
        self._detectors = _compile(rules)

    @property
    def rules(self) -> ModerationRules:
        return self._rules

    def check(self, text: str) -> ModerationVerdict:
        """Block if any block rule matches (the earliest match decides which), else mask every
        mask rule's matches, else pass. Spans are offsets into ``text``."""
        return self.check_window(text, 0, len(text))

    def check_window(self, text: str, start: int, end: int) -> ModerationVerdict:
        """Check only ``text[start:end]`` but phrase the verdict for all of ``text``: spans are
        offsets into ``text`` and a mask verdict's ``replacement_text`` is ``text`` masked."""
        hits: list[_Hit] = []
        for order, detector in enumerate(self._detectors):
            # pos/endpos rather than a slice: lookbehinds still see the text before the window,
            # so a window starting inside a number or word does not match a fragment of it.
            for match in detector.regex.finditer(text, start, end):
                if match.end() == match.start():
                    continue  # a pattern that can match nothing flags nothing
                if detector.accept is None or detector.accept(match.group()):
                    hits.append(_Hit(match.start(), match.end(), order, detector))
        if not hits:
            return PASS
        blocking = [h for h in hits if h.detector.action == "block"]
        if blocking:
            first = min(blocking, key=lambda h: (h.start, h.order)).detector
            spans = tuple(
                _span(h)
                for h in _non_overlapping(
                    [h for h in blocking if h.detector.category == first.category]
                )
            )
            about = f" ({first.description})" if first.description else ""
            return ModerationVerdict(
                flagged=True,
                action="block",
                rule=first.rule,
                category=first.category,
                spans=spans,
                replacement_text=first.message,
                reason=f"blocked by rule {first.rule}{about}",
            )
        kept = _non_overlapping(hits)
        spans = tuple(_span(h) for h in kept)
        counts = Counter(h.detector.label for h in kept)
        listed = ", ".join(f"{n} {_plural(label, n)}" for label, n in counts.items())
        first = kept[0].detector
        return ModerationVerdict(
            flagged=True,
            action="mask",
            rule=first.rule,
            category=first.category,
            spans=spans,
            replacement_text=_mask(text, spans),
            reason=f"masked {listed}",
        )


class OpenAIModerator:
    """Moderates with the OpenAI moderation endpoint; a flagged reply is always blocked.

    The verdict has no spans (the endpoint does not say where); ``rule`` is
    ``openai:<category>`` for the highest-scoring flagged category.
    """

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str | None = None,
        block_message: str = DEFAULT_BLOCK_MESSAGE,
        provider: str = "openai",
    ) -> None:
        self._client = client
        self._model = model
        self._block_message = block_message
        self._provider = provider

    async def check(self, text: str) -> ModerationVerdict:
        """Raises ``ProviderError`` (translated from the SDK) when the endpoint fails."""
        try:
            response = await self._client.moderations.create(
                input=text, model=self._model if self._model else openai.omit
            )
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc, self._provider) from exc
        if not response.results:
            raise ProviderError(
                f"{self._provider}: the moderation endpoint returned no result — retry.",
                category=ErrorCategory.SERVER,
                provider=self._provider,
            )
        result = response.results[0]
        if not result.flagged:
            return PASS
        flags = result.categories.model_dump(by_alias=True)
        scores = result.category_scores.model_dump(by_alias=True)
        # Flagged with no category set should not happen; fall back to the top score if it does.
        fired = [name for name, on in flags.items() if on] or list(scores)
        top = max(fired, key=lambda name: scores.get(name) or 0.0)
        return ModerationVerdict(
            flagged=True,
            action="block",
            rule=f"openai:{top}",
            category=top,
            replacement_text=self._block_message,
            reason=f"blocked by OpenAI moderation ({top})",
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
