"""Content moderation of a reply: a ``Moderator`` looks at text and returns a ``ModerationVerdict``.

``LocalModerator`` applies ``ModerationRules``: categories of regex patterns and word lists, plus
PII detectors for email addresses, phone numbers and payment card numbers (Luhn-checked, so random
digit runs do not fire). Each rule either blocks the whole reply (it is replaced by a message) or
masks the matched spans. ``ServiceModerator`` asks a moderation service (a provider, e.g. OpenAI's
moderation endpoint) instead and always blocks. Nothing here touches the turn or the UI.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from playground.checks.moderation_rules import (
    DEFAULT_BLOCK_MESSAGE,
    ModerationAction,
    ModerationRules,
    PiiDetector,
)
from playground.providers.base import ModerationProvider

__all__ = [
    "PASS",
    "LocalModerator",
    "ModerationSpan",
    "ModerationVerdict",
    "Moderator",
    "ServiceModerator",
    "luhn_valid",
]


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

    engine: Literal["local"] = "local"

    def __init__(self, rules: ModerationRules) -> None:
        self._rules = rules
        self._detectors = _compile(rules)

    @property
    def rules(self) -> ModerationRules:
        return self._rules

    async def moderate(self, text: str) -> ModerationVerdict:
        return self.check(text)

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


class Moderator(Protocol):
    """Checks a complete reply. ``engine`` says which kind ran (``local`` | ``openai``)."""

    @property
    def engine(self) -> Literal["local", "openai"]: ...

    async def moderate(self, text: str) -> ModerationVerdict: ...


class ServiceModerator:
    """Moderates with a moderation service; a flagged reply is always blocked.

    The verdict has no spans (the service does not say where); ``rule`` is
    ``openai:<category>`` for the highest-scoring flagged category. The provider raises
    ``ProviderError`` when the service fails.
    """

    engine: Literal["openai"] = "openai"

    def __init__(
        self, provider: ModerationProvider, *, block_message: str = DEFAULT_BLOCK_MESSAGE
    ) -> None:
        self._provider = provider
        self._block_message = block_message

    async def moderate(self, text: str) -> ModerationVerdict:
        result = await self._provider.moderate(text)
        if not result.flagged or result.category is None:
            return PASS
        top = result.category
        return ModerationVerdict(
            flagged=True,
            action="block",
            rule=f"openai:{top}",
            category=top,
            replacement_text=self._block_message,
            reason=f"blocked by OpenAI moderation ({top})",
        )
