"""Cost arithmetic: non-negative, additive over usage parts, tier boundaries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

from lmux_plug import ModelPricing
from lmux_plug import PricingTier
from lmux_plug import Usage
from lmux_plug import calculate_cost
from lmux_plug import per_million_tokens
from lmux_plug.testing import strategies as lst


@given(lst.usages(), lst.model_pricings())
def test_cost_is_non_negative_and_total_is_the_sum(usage: Usage, pricing: ModelPricing) -> None:
    cost = calculate_cost(usage, pricing)
    parts = (cost.input, cost.output, cost.cache_read, cost.cache_write)
    assert all(p >= 0 for p in parts)
    assert cost.total == sum(parts)


@given(lst.usages(), lst.model_pricings())
def test_cost_is_additive_over_usage_parts(usage: Usage, pricing: ModelPricing) -> None:
    """Pricing each kind of token on its own and adding gives the same total (same tier)."""
    rates = pricing.rates_for(usage.input_tokens)
    flat = ModelPricing(rates.input, rates.output, rates.cache_read, rates.cache_write)
    parts = [
        Usage(
            input_tokens=usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens
        ),
        Usage(output_tokens=usage.output_tokens),
        Usage(input_tokens=usage.cache_read_tokens, cache_read_tokens=usage.cache_read_tokens),
        Usage(
            input_tokens=usage.cache_creation_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
        ),
    ]
    total = sum((calculate_cost(p, flat).total for p in parts), Decimal(0))
    assert total == calculate_cost(usage, pricing).total


def test_tier_applies_strictly_above_its_boundary() -> None:
    pricing = ModelPricing(
        input=per_million_tokens("1.25"),
        output=per_million_tokens("10"),
        tiers=(PricingTier(200_000, per_million_tokens("2.50"), per_million_tokens("15")),),
    )
    at = calculate_cost(Usage(input_tokens=200_000, output_tokens=1_000_000), pricing)
    above = calculate_cost(Usage(input_tokens=200_001, output_tokens=1_000_000), pricing)
    assert at.input == Decimal("0.25")
    assert at.output == Decimal(10)
    assert above.input == Decimal(200001) * Decimal("2.50") / Decimal(1_000_000)
    assert above.output == Decimal(15)


def test_cache_rates_default_to_the_input_rate() -> None:
    pricing = ModelPricing(input=per_million_tokens("3"), output=per_million_tokens("15"))
    cost = calculate_cost(Usage(input_tokens=1_000_000, cache_read_tokens=400_000), pricing)
    assert cost.input == Decimal("1.8")
    assert cost.cache_read == Decimal("1.2")


def test_cached_rates_are_used_when_declared() -> None:
    pricing = ModelPricing(
        input=per_million_tokens("3"),
        output=per_million_tokens("15"),
        cache_read=per_million_tokens("0.30"),
        cache_write=per_million_tokens("3.75"),
    )
    cost = calculate_cost(
        Usage(input_tokens=3_000_000, cache_read_tokens=1_000_000, cache_creation_tokens=1_000_000),
        pricing,
    )
    assert (cost.input, cost.cache_read, cost.cache_write) == (
        Decimal(3),
        Decimal("0.3"),
        Decimal("3.75"),
    )


def test_prices_refuse_floats_and_negatives() -> None:
    with pytest.raises(TypeError):
        per_million_tokens(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        per_million_tokens("-1")
