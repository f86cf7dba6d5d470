"""The ``gemini`` provider declared as data: endpoint, key, models, capabilities, prices.

Prices are US dollars per million tokens from Google's Gemini Developer API price list
(standard tier, paid), as of :data:`PRICING_DATE`. Gemini 2.5 Pro and Gemini 3 Pro bill
a whole call at higher rates once its prompt exceeds 200,000 tokens (a ``PricingTier``).
Thinking tokens are billed as output tokens, which is how the codec counts them.
"""

from __future__ import annotations

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import PricingTier
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens

__all__ = ["BASE_URL", "PRICING_DATE", "SPEC"]

BASE_URL = "https://generativelanguage.googleapis.com"
PRICING_DATE = "2026-03-01"
LONG_PROMPT = 200_000

_CHAT = frozenset(
    {
        Capability.CHAT,
        Capability.STREAM,
        Capability.TOOLS,
        Capability.JSON_OBJECT,
        Capability.JSON_SCHEMA,
        Capability.VISION,
        Capability.AUDIO,
        Capability.FILES,
        Capability.REASONING,
    }
)
_EMBED = frozenset({Capability.EMBED})
_ALL: frozenset[Capability] = _CHAT.union(_EMBED)


def _price(
    input_: str, output: str, cache_read: str, *, long: tuple[str, str, str] | None = None
) -> ModelPricing:
    tiers: tuple[PricingTier, ...] = ()
    if long is not None:
        tiers = (
            PricingTier(
                above_input_tokens=LONG_PROMPT,
                input=per_million_tokens(long[0]),
                output=per_million_tokens(long[1]),
                cache_read=per_million_tokens(long[2]),
            ),
        )
    return ModelPricing(
        input=per_million_tokens(input_),
        output=per_million_tokens(output),
        cache_read=per_million_tokens(cache_read),
        tiers=tiers,
    )


SPEC = ProviderSpec(
    name="gemini",
    wire="gemini",
    base_url=BASE_URL,
    auth=ApiKeyAuth(env=("GEMINI_API_KEY", "GOOGLE_API_KEY"), header="x-goog-api-key", scheme=None),
    # Models not listed (new releases, tuned models) get every chat capability plus
    # embeddings: the API answers 400/404 itself when a model lacks one.
    capabilities=_ALL,
    models=(
        ModelSpec(
            "gemini-2.5-pro",
            capabilities=_CHAT,
            pricing=_price("1.25", "10", "0.125", long=("2.50", "15", "0.25")),
            context_window=1_048_576,
            max_output_tokens=65_536,
        ),
        ModelSpec(
            "gemini-2.5-flash",
            capabilities=_CHAT,
            pricing=_price("0.30", "2.50", "0.03"),
            context_window=1_048_576,
            max_output_tokens=65_536,
        ),
        ModelSpec(
            "gemini-2.5-flash-lite",
            capabilities=_CHAT,
            pricing=_price("0.10", "0.40", "0.01"),
            context_window=1_048_576,
            max_output_tokens=65_536,
        ),
        ModelSpec(
            "gemini-3-pro-preview",
            capabilities=_CHAT,
            pricing=_price("2", "12", "0.20", long=("4", "18", "0.40")),
            context_window=1_048_576,
            max_output_tokens=65_536,
        ),
        ModelSpec(
            "gemini-3-flash-preview",
            capabilities=_CHAT,
            pricing=_price("0.50", "3", "0.05"),
            context_window=1_048_576,
            max_output_tokens=65_536,
        ),
        ModelSpec(
            "gemini-embedding-001",
            capabilities=_EMBED,
            pricing=ModelPricing(input=per_million_tokens("0.15"), output=0),
            context_window=2_048,
        ),
    ),
    description="Google Gemini API (AI Studio keys, generativelanguage.googleapis.com)",
    pricing_date=PRICING_DATE,
)
