"""Prices and cost arithmetic, in :class:`~decimal.Decimal` US dollars.

Rates are stored per token. ``per_million_tokens("3")`` turns a price list figure into a
rate. ``calculate_cost`` never raises on odd usage: it returns ``None`` only when no price
is known, which the caller decides before calling it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypeAlias

    from lmux_plug._types import Usage

    # What ``Decimal()`` accepts (as typeshed spells it): the classes' ``__init__`` accept
    # what they accepted when ``Decimal`` itself was their converter.
    _DecimalInput: TypeAlias = Decimal | float | str | tuple[int, Sequence[int], int]

__all__ = [
    "Cost",
    "ModelPricing",
    "PricingTier",
    "calculate_cost",
    "duration_cost",
    "per_million_tokens",
]

_MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


def per_million_tokens(price: str | int | Decimal) -> Decimal:
    """Convert a price per million tokens (as printed on price lists) to a per-token rate.

    Pass strings, not floats: ``per_million_tokens("0.15")``.
    """
    value: object = price  # callers without type checking may still pass a float
    if isinstance(value, float):
        msg = "pass prices as str or Decimal, not float (binary floats are inexact)"
        raise TypeError(msg)
    rate = Decimal(price) / _MILLION
    if rate < 0:
        msg = f"price must be >= 0, got {price}"
        raise ValueError(msg)
    return rate


def _sorted_tiers(tiers: Iterable[PricingTier]) -> tuple[PricingTier, ...]:
    return tuple(sorted(tiers, key=lambda tier: tier.above_input_tokens))


def _decimal(value: _DecimalInput) -> Decimal:
    """``Decimal(value)``.

    A function rather than ``Decimal`` itself: attrs reads each converter's signature when
    it creates the class, and parsing a C type's text signature costs about 2.5 ms.
    """
    return Decimal(value)


def _rate(value: str | int | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@attrs.frozen
class PricingTier:
    """Rates that apply to a whole call once its input exceeds ``above_input_tokens``."""

    above_input_tokens: int
    input: Decimal = attrs.field(converter=_decimal)
    output: Decimal = attrs.field(converter=_decimal)
    cache_read: Decimal | None = attrs.field(default=None, converter=_rate)
    cache_write: Decimal | None = attrs.field(default=None, converter=_rate)


@attrs.frozen
class ModelPricing:
    """Per-token rates of one model; ``tiers`` replace the base rates for long prompts.

    Cache reads and writes cost ``cache_read`` / ``cache_write`` when declared, else the
    input rate. ``per_minute`` prices audio by its length (whisper-style transcription).
    """

    input: Decimal = attrs.field(converter=_decimal)
    output: Decimal = attrs.field(converter=_decimal)
    cache_read: Decimal | None = attrs.field(default=None, converter=_rate)
    cache_write: Decimal | None = attrs.field(default=None, converter=_rate)
    tiers: tuple[PricingTier, ...] = attrs.field(default=(), converter=_sorted_tiers)
    per_minute: Decimal | None = attrs.field(default=None, converter=_rate)

    def rates_for(self, input_tokens: int) -> ModelPricing | PricingTier:
        """The rates that apply to a call with ``input_tokens`` prompt tokens."""
        chosen: ModelPricing | PricingTier = self
        for tier in self.tiers:
            if input_tokens > tier.above_input_tokens:
                chosen = tier
        return chosen


@attrs.frozen
class Cost:
    """The price of one call, split by kind of token. ``total`` is their sum."""

    input: Decimal = ZERO
    output: Decimal = ZERO
    cache_read: Decimal = ZERO
    cache_write: Decimal = ZERO
    currency: str = "USD"

    @property
    def total(self) -> Decimal:
        """The whole price of the call."""
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
            self.currency,
        )


def calculate_cost(usage: Usage, pricing: ModelPricing) -> Cost:
    """Price ``usage`` with ``pricing``.

    Cached tokens are part of ``usage.input_tokens``; they are billed at the cache rates and
    the rest at the input rate. Inconsistent usage (more cached than input tokens) is billed
    as reported rather than raising: cost accounting must never break a call.
    """
    rates = pricing.rates_for(usage.input_tokens)
    cache_read_rate = rates.cache_read if rates.cache_read is not None else rates.input
    cache_write_rate = rates.cache_write if rates.cache_write is not None else rates.input
    uncached = max(usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens, 0)
    return Cost(
        input=uncached * rates.input,
        output=usage.output_tokens * rates.output,
        cache_read=usage.cache_read_tokens * cache_read_rate,
        cache_write=usage.cache_creation_tokens * cache_write_rate,
    )


def duration_cost(seconds: float, pricing: ModelPricing) -> Cost | None:
    """Price ``seconds`` of audio at ``pricing.per_minute``; ``None`` when no such rate.

    Seconds go through ``str`` so ``3.2`` stays ``3.2`` rather than its binary expansion.
    """
    if pricing.per_minute is None or seconds < 0:
        return None
    return Cost(input=Decimal(str(seconds)) * pricing.per_minute / 60)
