"""What a run cost: a dated price table (``prices.yaml``, USD per 1M tokens) applied to the
usage a provider reported.

A price is looked up by model name, whichever server answered (OpenAI, Azure, or a gateway set
by ``OPENAI_BASE_URL`` serving the same model), so ``gpt-4o-mini`` costs the same everywhere
unless ``PLAYGROUND_PRICES`` says otherwise. A model with no price has no cost — shown as "—",
never as 0 — except the in-process model, which is free to run here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playground.errors import ConfigError
from playground.providers.base import Usage

__all__ = ["Cost", "Price", "PriceTable", "parse_price_overrides", "usd_text"]

_PER_TOKENS: Final = 1_000_000
_FREE_ENGINES: Final = ("local",)
_SNAPSHOT: Final = re.compile(r"-(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4})$")


class Price(BaseModel):
    """USD per 1M tokens for one model, with when and where the price was read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    as_of: str
    source: str

    def cost(self, usage: Usage) -> Cost:
        """The cost of ``usage``: cached prompt tokens at the cached rate (the input rate where
        none is listed), the others at the input rate, completion tokens at the output rate."""
        cached = min(max(usage.cached_tokens, 0), usage.prompt_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        input_usd = ((usage.prompt_tokens - cached) * self.input + cached * cached_rate) / (
            _PER_TOKENS
        )
        output_usd = usage.completion_tokens * self.output / _PER_TOKENS
        return Cost(
            usd=input_usd + output_usd,
            input_usd=input_usd,
            output_usd=output_usd,
            price_as_of=self.as_of,
        )


@dataclass(frozen=True, slots=True)
class Cost:
    """What one run cost, in USD (``completion-end.cost``)."""

    usd: float
    input_usd: float
    output_usd: float
    price_as_of: str


def usd_text(usd: float | None) -> str:
    """A cost as people read it: cents to four places, fractions of a cent to six; "—" when
    unknown (never "$0", which would claim the run was free)."""
    if usd is None:
        return "—"
    if usd == 0:
        return "$0"
    return f"${usd:,.4f}" if usd >= 0.01 else f"${usd:.6f}"


_FREE = Price(input=0, output=0, as_of="always", source="runs on this machine")
_OVERRIDE = re.compile(
    r"^(?P<name>[^=\s]+)\s*=\s*(?P<input>[0-9.]+)(?:/(?P<output>[0-9.]+))?(?:/(?P<cached>[0-9.]+))?$"
)


def parse_price_overrides(text: str) -> dict[str, Price]:
    """``PLAYGROUND_PRICES``: ``name=input/output[/cached]`` entries (USD per 1M tokens) split
    by commas; ``name=0`` makes a model free. A name may carry its engine (``compatible:llama3``)
    and ``compatible:*`` covers every model of that engine (a self-hosted server)."""
    prices: dict[str, Price] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = _OVERRIDE.match(entry)
        if match is None:
            raise ConfigError(
                f"PLAYGROUND_PRICES: {entry[:60]!r} is not name=input/output[/cached] "
                "(USD per 1M tokens)",
                field="PLAYGROUND_PRICES",
            )
        try:
            rates = [float(match[k]) if match[k] else None for k in ("input", "output", "cached")]
        except ValueError:
            raise ConfigError(
                f"PLAYGROUND_PRICES: {entry[:60]!r} has a rate that is not a number",
                field="PLAYGROUND_PRICES",
            ) from None
        given_input, given_output, cached = rates
        input_rate = given_input or 0.0
        output = input_rate if given_output is None else given_output
        prices[match["name"].lower()] = Price(
            input=input_rate,
            output=output,
            cached_input=cached,
            as_of="set here",
            source="PLAYGROUND_PRICES",
        )
    return prices


class PriceTable:
    """The shipped prices, with ``overrides`` (from ``PLAYGROUND_PRICES``) over them."""

    def __init__(
        self, prices: Mapping[str, Price], overrides: Mapping[str, Price] | None = None
    ) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        self._overrides = dict(overrides or {})

    @classmethod
    def shipped(cls, overrides: Mapping[str, Price] | None = None) -> PriceTable:
        text = resources.files("playground.pricing").joinpath("prices.yaml").read_text("utf-8")
        data: Any = yaml.safe_load(text)
        try:
            prices = {name: Price.model_validate(p) for name, p in data["prices"].items()}
        except (KeyError, TypeError, ValidationError) as exc:  # a packaging mistake, not input
            raise RuntimeError(f"prices.yaml is malformed: {exc}") from exc
        return cls(prices, overrides)

    def price_for(self, engine: str, name: str) -> Price | None:
        """The price of model ``name`` reached through ``engine``; None when unknown."""
        name = name.lower()
        # The most specific override first: this engine's model, the model anywhere, then
        # everything this engine serves.
        override = (
            self._overrides.get(f"{engine}:{name}")
            or _named(self._overrides, name)
            or self._overrides.get(f"{engine}:*")
        )
        if override is not None:
            return override
        if engine in _FREE_ENGINES:
            return _FREE
        # A gateway often names a model with its maker first (``openai/gpt-4o-mini``).
        return _named(self._prices, name.rpartition("/")[2])

    def cost(self, engine: str, name: str, usage: Usage | None) -> Cost | None:
        price = self.price_for(engine, name)
        if price is None or usage is None:
            return None
        return price.cost(usage)


def _named(prices: Mapping[str, Price], name: str) -> Price | None:
    """The price of ``name``, or of the listed name it is a dated snapshot of
    (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``, ``gpt-3.5-turbo-0125`` → ``gpt-3.5-turbo``).
    Other suffixes (``-audio-preview``) are other products at other prices: unknown."""
    if name in prices:
        return prices[name]
    base = _SNAPSHOT.sub("", name)
    return prices.get(base) if base != name else None
