"""Gemini models as data, for every provider that serves them.

Google serves the same Gemini models from the Gemini API and from Vertex AI, with the same
capabilities and limits: both plugins' specs build their model lists from these, each with
its own price list. Nothing here does I/O; importing it is cheap (plugin discovery).
"""

from __future__ import annotations

from lmux_plug import CHAT_CAPABILITIES
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import PricingTier
from lmux_plug import per_million_tokens

__all__ = ["CHAT", "CONTEXT_WINDOW", "EMBED", "LONG_PROMPT", "NO_REASONING", "chat_model", "price"]

#: What a current Gemini chat model does.
CHAT = CHAT_CAPABILITIES | {
    Capability.VISION,
    Capability.AUDIO,
    Capability.FILES,
    Capability.REASONING,
}
#: Gemini 2.0 models: no thinking.
NO_REASONING = CHAT - {Capability.REASONING}
EMBED = frozenset({Capability.EMBED})
#: Every Gemini chat model's context window (tokens).
CONTEXT_WINDOW = 1_048_576
#: The prompt size above which a long-context tier bills the whole call at its rates.
LONG_PROMPT = 200_000


def price(
    input_: str, output: str, cache_read: str, *, long: tuple[str, str, str] | None = None
) -> ModelPricing:
    """A price list entry: dollars per million input, output and cached tokens.

    ``long``: the same three, billed for a whole call above :data:`LONG_PROMPT` prompt tokens.
    """
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


def chat_model(
    model_id: str, pricing: ModelPricing, capabilities: frozenset[Capability] = CHAT
) -> ModelSpec:
    """A Gemini chat model: thinking models write up to 65,536 tokens, the others 8,192."""
    out = 65_536 if Capability.REASONING in capabilities else 8_192
    return ModelSpec(model_id, capabilities, pricing, CONTEXT_WINDOW, out)
