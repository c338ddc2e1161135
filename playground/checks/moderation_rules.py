"""The moderation rules file (``assets/moderation_rules.yaml``), validated.

Categories of regex patterns and word lists, each blocking the whole reply or masking the matched
spans, plus PII detectors (email, phone, payment card). A bad file raises ``ConfigError`` naming
the path and field; the option is then unavailable with that reason, never the app.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

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
from playground.settings import ASSETS_DIR

__all__ = [
    "DEFAULT_BLOCK_MESSAGE",
    "DEFAULT_MODERATION_RULES_PATH",
    "CategoryRule",
    "ModerationAction",
    "ModerationRules",
    "PiiDetector",
    "PiiRules",
    "load_moderation_rules",
]

ModerationAction = Literal["block", "mask"]

DEFAULT_MODERATION_RULES_PATH = ASSETS_DIR / "moderation_rules.yaml"
DEFAULT_BLOCK_MESSAGE = "This reply was withheld by the content guardrail."

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
