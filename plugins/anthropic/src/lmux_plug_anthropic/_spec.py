"""The ``anthropic`` provider as data: endpoint, auth, models, capabilities and prices.

Prices are US dollars per million tokens from Anthropic's public price list, checked on
:data:`PRICING_DATE`. ``cache_write`` is the 5-minute cache-write rate (the default TTL);
1-hour writes cost more and are billed at that rate only if a pricing plugin says so.
Sonnet 4 and 4.5 have a long-context tier: once a request's prompt (input plus cache reads
and writes) exceeds 200K tokens, every token of the call is billed at the higher rates.
"""

from __future__ import annotations

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

_ALL = frozenset(
    {
        Capability.CHAT,
        Capability.STREAM,
        Capability.TOOLS,
        Capability.JSON_OBJECT,
        Capability.JSON_SCHEMA,
        Capability.VISION,
        Capability.FILES,
        Capability.REASONING,
    }
)
# Claude 3.5 Haiku and 3 Haiku have no extended thinking.
_NO_REASONING = _ALL - {Capability.REASONING}


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

MODELS = (
    ModelSpec(
        "claude-opus-4-6",
        capabilities=_ALL,
        pricing=_OPUS_45,
        context_window=1_000_000,
        max_output_tokens=128_000,
    ),
    ModelSpec(
        "claude-opus-4-5-20251101",
        capabilities=_ALL,
        pricing=_OPUS_45,
        context_window=200_000,
        max_output_tokens=64_000,
        aliases=("claude-opus-4-5",),
    ),
    ModelSpec(
        "claude-opus-4-1-20250805",
        capabilities=_ALL,
        pricing=_OPUS_4,
        context_window=200_000,
        max_output_tokens=32_000,
        aliases=("claude-opus-4-1",),
    ),
    ModelSpec(
        "claude-opus-4-20250514",
        capabilities=_ALL,
        pricing=_OPUS_4,
        context_window=200_000,
        max_output_tokens=32_000,
        aliases=("claude-opus-4-0",),
    ),
    ModelSpec(
        "claude-sonnet-4-6",
        capabilities=_ALL,
        pricing=_SONNET,
        context_window=1_000_000,
        max_output_tokens=64_000,
    ),
    ModelSpec(
        "claude-sonnet-4-5-20250929",
        capabilities=_ALL,
        pricing=_SONNET_TIERED,
        context_window=200_000,
        max_output_tokens=64_000,
        aliases=("claude-sonnet-4-5",),
    ),
    ModelSpec(
        "claude-sonnet-4-20250514",
        capabilities=_ALL,
        pricing=_SONNET_TIERED,
        context_window=200_000,
        max_output_tokens=64_000,
        aliases=("claude-sonnet-4-0",),
    ),
    ModelSpec(
        "claude-3-7-sonnet-20250219",
        capabilities=_ALL,
        pricing=_SONNET,
        context_window=200_000,
        max_output_tokens=64_000,
        aliases=("claude-3-7-sonnet-latest",),
    ),
    ModelSpec(
        "claude-haiku-4-5-20251001",
        capabilities=_ALL,
        pricing=_price("1", "5", "0.10", "1.25"),
        context_window=200_000,
        max_output_tokens=64_000,
        aliases=("claude-haiku-4-5",),
    ),
    ModelSpec(
        "claude-3-5-haiku-20241022",
        capabilities=_NO_REASONING,
        pricing=_price("0.80", "4", "0.08", "1"),
        context_window=200_000,
        max_output_tokens=8_192,
        aliases=("claude-3-5-haiku-latest",),
    ),
    ModelSpec(
        "claude-3-haiku-20240307",
        capabilities=_NO_REASONING,
        pricing=_price("0.25", "1.25", "0.03", "0.30"),
        context_window=200_000,
        max_output_tokens=4_096,
    ),
)

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
