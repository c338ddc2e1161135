"""The price table and what a run costs: lookup by model name (dated snapshots, gateway names,
overrides), cached prompt tokens at their own rate, and unknown prices never shown as free."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from playground.errors import ConfigError
from playground.pricing.table import Price, PriceTable, parse_price_overrides, usd_text
from playground.providers.base import Usage
from tests.support import make_settings


def test_the_shipped_table_prices_models_by_name_with_dates_and_sources() -> None:
    table = PriceTable.shipped()
    mini = table.price_for("openai", "gpt-4o-mini")
    assert mini is not None
    assert (mini.input, mini.cached_input, mini.output) == (0.15, 0.075, 0.60)
    assert mini.as_of and mini.source.startswith("https://")
    # A dated snapshot takes its family's price, the longest name first.
    assert table.price_for("openai", "gpt-4o-mini-2024-07-18") == mini
    assert table.price_for("openai", "gpt-4o-2024-08-06") == table.price_for("openai", "gpt-4o")
    # The same model through Azure or a gateway costs the same.
    assert table.price_for("azure", "gpt-4o-mini") == mini
    assert table.price_for("compatible", "openai/gpt-4o-mini") == mini
    # Unknown names have no price; the in-process model is free.
    assert table.price_for("compatible", "llama3") is None
    assert table.price_for("openai", "gpt-4o-minimal") is None
    local = table.price_for("local", "smollm2")
    assert local is not None and local.input == local.output == 0


def test_a_cost_bills_cached_prompt_tokens_at_the_cached_rate() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5, as_of="2026-01-01", source="test")
    cost = price.cost(
        Usage(prompt_tokens=1_000, completion_tokens=500, total_tokens=1_500, cached_tokens=600)
    )
    assert cost.input_usd == pytest.approx((400 * 2.0 + 600 * 0.5) / 1e6)
    assert cost.output_usd == pytest.approx(500 * 8.0 / 1e6)
    assert cost.usd == pytest.approx(cost.input_usd + cost.output_usd)
    assert cost.price_as_of == "2026-01-01"
    # Without a cached rate, cached tokens cost the input rate; a cached count larger than the
    # prompt (a server's bookkeeping slip) is held to the prompt.
    plain = Price(input=2.0, output=8.0, as_of="x", source="test")
    assert plain.cost(Usage(1_000, 0, 1_000, cached_tokens=600)).input_usd == pytest.approx(
        1_000 * 2.0 / 1e6
    )
    assert price.cost(Usage(100, 0, 100, cached_tokens=900)).input_usd == pytest.approx(
        100 * 0.5 / 1e6
    )


def test_the_table_answers_none_without_usage() -> None:
    assert PriceTable.shipped().cost("openai", "gpt-4o", None) is None


def test_overrides_set_add_or_zero_prices() -> None:
    overrides = parse_price_overrides("gpt-4o-mini=1/2/0.5, compatible:*=0, my-model=3/4")
    table = PriceTable.shipped(overrides)
    mini = table.price_for("openai", "gpt-4o-mini-2024-07-18")
    assert mini is not None and (mini.input, mini.output, mini.cached_input) == (1, 2, 0.5)
    assert mini.source == "PLAYGROUND_PRICES"
    free = table.price_for("compatible", "gpt-4o")  # a self-hosted server: zeroed
    assert free is not None and free.input == free.output == 0
    assert table.price_for("openai", "gpt-4o") == PriceTable.shipped().price_for("openai", "gpt-4o")
    mine = table.price_for("compatible", "my-model")
    assert mine is not None and mine.output == 4
    per_engine = PriceTable.shipped(parse_price_overrides("compatible:llama3=0.1/0.2"))
    llama = per_engine.price_for("compatible", "llama3")
    assert llama is not None and llama.output == 0.2
    assert per_engine.price_for("openai", "llama3") is None


@pytest.mark.parametrize("bad", ["gpt-4o", "gpt-4o=cheap", "=1/2", "a=1/2/3/4", "a=1..2"])
def test_a_bad_override_is_refused_naming_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError, match="PLAYGROUND_PRICES"):
        parse_price_overrides(bad)
    with pytest.raises(ValidationError, match="PLAYGROUND_PRICES"):
        make_settings(playground_prices=bad)


def test_costs_read_as_money_and_unknown_is_a_dash() -> None:
    assert usd_text(None) == "—"
    assert usd_text(0) == "$0"
    assert usd_text(0.0000162) == "$0.000016"
    assert usd_text(1.23456) == "$1.2346"
