"""The ``anthropic`` provider as data: endpoint, auth, models, capabilities and prices.

Prices are US dollars per million tokens from Anthropic's public price list, checked on
:data:`PRICING_DATE`. ``cache_write`` is the 5-minute cache-write rate (the default TTL);
1-hour writes cost more and are billed at that rate only if a pricing plugin says so.
Sonnet 4 and 4.5 have a long-context tier: once a request's prompt (input plus cache reads
and writes) exceeds 200K tokens, every token of the call is billed at the higher rates.
"""

from __future__ import annotations

from typing import Any

from lmux_plug import CHAT_CAPABILITIES
from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import PricingTier
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens

__all__ = ["API_VERSION", "DEFAULT_MAX_TOKENS", "PRICING_DATE", "SPEC", "default_max_tokens"]

API_VERSION = "2023-06-01"
PRICING_DATE = "2026-11-21"
# Used for models the spec does not list: small enough for every Claude model.
DEFAULT_MAX_TOKENS = 4096

_ALL = CHAT_CAPABILITIES | {Capability.VISION, Capability.FILES, Capability.REASONING}
# Claude 3.5 Haiku and 3 Haiku have no extended thinking.
_NO_THINK = _ALL - {Capability.REASONING}


def _price(
    input_: str, output: str, cache_read: str, cache_write: str, *tiers: PricingTier
) -> ModelPricing:
    return ModelPricing(
        input=per_million_tokens(input_),
        output=per_million_tokens(output),
        cache_read=per_million_tokens(cache_read),
        cache_write=per_million_tokens(cache_write),
        tiers=tiers,
    )


_SONNET_LONG_CONTEXT = PricingTier(
    above_input_tokens=200_000,
    input=per_million_tokens("6"),
    output=per_million_tokens("22.50"),
    cache_read=per_million_tokens("0.60"),
    cache_write=per_million_tokens("7.50"),
)
_OPUS_45 = _price("5", "25", "0.50", "6.25")
_OPUS_4 = _price("15", "75", "1.50", "18.75")
_SONNET = _price("3", "15", "0.30", "3.75")
_SONNET_TIERED = _price("3", "15", "0.30", "3.75", _SONNET_LONG_CONTEXT)

_HAIKU_45 = _price("1", "5", "0.10", "1.25")
_HAIKU_35 = _price("0.80", "4", "0.08", "1")
_HAIKU_3 = _price("0.25", "1.25", "0.03", "0.30")

# One row a model: id, capabilities, price, context window, output limit, then its aliases.
_ROWS: tuple[tuple[Any, ...], ...] = (
    ("claude-opus-4-6", _ALL, _OPUS_45, 1_000_000, 128_000),
    ("claude-opus-4-5-20251101", _ALL, _OPUS_45, 200_000, 64_000, "claude-opus-4-5"),
    ("claude-opus-4-1-20250805", _ALL, _OPUS_4, 200_000, 32_000, "claude-opus-4-1"),
    ("claude-opus-4-20250514", _ALL, _OPUS_4, 200_000, 32_000, "claude-opus-4-0"),
    ("claude-sonnet-4-6", _ALL, _SONNET, 1_000_000, 64_000),
    ("claude-sonnet-4-5-20250929", _ALL, _SONNET_TIERED, 200_000, 64_000, "claude-sonnet-4-5"),
    ("claude-sonnet-4-20250514", _ALL, _SONNET_TIERED, 200_000, 64_000, "claude-sonnet-4-0"),
    ("claude-3-7-sonnet-20250219", _ALL, _SONNET, 200_000, 64_000, "claude-3-7-sonnet-latest"),
    ("claude-haiku-4-5-20251001", _ALL, _HAIKU_45, 200_000, 64_000, "claude-haiku-4-5"),
    ("claude-3-5-haiku-20241022", _NO_THINK, _HAIKU_35, 200_000, 8_192, "claude-3-5-haiku-latest"),
    ("claude-3-haiku-20240307", _NO_THINK, _HAIKU_3, 200_000, 4_096),
)
MODELS = tuple(ModelSpec(i, c, p, w, o, a) for i, c, p, w, o, *a in _ROWS)

SPEC = ProviderSpec(
    name="anthropic",
    wire="anthropic",
    base_url="https://api.anthropic.com",
    base_url_env="ANTHROPIC_BASE_URL",
    auth=ApiKeyAuth(env=("ANTHROPIC_API_KEY",), header="x-api-key", scheme=None),
    capabilities=_ALL,
    models=MODELS,
    default_headers={"anthropic-version": API_VERSION},
    description="Anthropic Messages API (Claude)",
    pricing_date=PRICING_DATE,
)


def default_max_tokens(spec: ProviderSpec, model: str) -> int:
    """``max_tokens`` to send when the caller gave none: the model's output limit."""
    declared = spec.model(model)
    if declared is not None and declared.max_output_tokens:
        return declared.max_output_tokens
    return DEFAULT_MAX_TOKENS
