"""The ``cohere`` provider as data: endpoint, auth, models, capabilities and prices.

Prices are US dollars per million tokens from Cohere's public price list, checked on
:data:`PRICING_DATE`. The core prices ``Usage``, which counts every token the model saw
(``usage.tokens``, the system preamble Cohere adds included); Cohere's invoice counts
``usage.billed_units``, which stay on ``ChatResponse.raw`` for callers who reconcile bills.
"""

from __future__ import annotations

from typing import Any

from lmux_plug import CHAT_CAPABILITIES
from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens as per_m

__all__ = ["DEFAULT_INPUT_TYPE", "MAX_TEXTS_PER_EMBED", "PRICING_DATE", "SPEC", "THINKING_CEILINGS"]

PRICING_DATE = "2026-11-21"
#: ``input_type`` sent with ``embed`` when the caller gives none (``extra_body``): texts
#: embedded to be stored and searched. Queries should pass ``"search_query"``.
DEFAULT_INPUT_TYPE = "search_document"
#: Cohere's limit of texts per ``/v2/embed`` call; longer lists are sent in several calls.
MAX_TEXTS_PER_EMBED = 96

_CHAT = CHAT_CAPABILITIES
_VISION = frozenset({Capability.CHAT, Capability.STREAM, Capability.VISION})
_REASONING = _CHAT | {Capability.REASONING}
_EMBED = frozenset({Capability.EMBED})


def _price(input_: str, output: str = "0") -> ModelPricing:
    return ModelPricing(input=per_m(input_), output=per_m(output))


_COMMAND_A = _price("2.50", "10")

_EMBED_V3 = _price("0.10")

# One row a model: id, capabilities, price, context window, output limit, then its aliases.
_ROWS: tuple[tuple[Any, ...], ...] = (
    ("command-a-03-2025", _CHAT, _COMMAND_A, 256_000, 8_000, "command-a"),
    ("command-a-reasoning-08-2025", _REASONING, _COMMAND_A, 256_000, 32_000),
    ("command-a-vision-07-2025", _VISION, _COMMAND_A, 128_000, 8_000),
    ("command-r-plus-08-2024", _CHAT, _COMMAND_A, 128_000, 4_000),
    ("command-r-08-2024", _CHAT, _price("0.15", "0.60"), 128_000, 4_000),
    ("command-r7b-12-2024", _CHAT, _price("0.0375", "0.15"), 128_000, 4_000),
    ("embed-v4.0", _EMBED, _price("0.12"), 128_000, None),
    ("embed-english-v3.0", _EMBED, _EMBED_V3, None, None),
    ("embed-multilingual-v3.0", _EMBED, _EMBED_V3, None, None),
    ("embed-english-light-v3.0", _EMBED, _EMBED_V3, None, None),
    ("embed-multilingual-light-v3.0", _EMBED, _EMBED_V3, None, None),
)
MODELS = tuple(ModelSpec(i, c, p, w, o, a) for i, c, p, w, o, *a in _ROWS)
#: Tokens of a model's output its thinking leaves to the answer.
_ANSWER_ROOM = 4096
#: model id (and alias) -> the largest thinking budget the codec sends it: thinking tokens
#: count as output, so a budget must stay below the model's output limit (command-a-reasoning
#: writes 32,000 tokens; an ``xhigh`` budget of 32,768 would leave the answer none).
THINKING_CEILINGS = {
    name: model.max_output_tokens - _ANSWER_ROOM
    for model in MODELS
    if model.max_output_tokens and Capability.REASONING in (model.capabilities or ())
    for name in (model.id, *model.aliases)
}

SPEC = ProviderSpec(
    name="cohere",
    wire="cohere",
    base_url="https://api.cohere.com",
    base_url_env="CO_API_URL",
    auth=ApiKeyAuth(env=("CO_API_KEY", "COHERE_API_KEY")),
    # Model ids the spec does not list (new releases) may chat or embed: Cohere decides.
    capabilities=_CHAT | _EMBED,
    models=MODELS,
    # The core sends longer input lists in parts of this size (the plugin batches too).
    options={"max_embed_inputs": MAX_TEXTS_PER_EMBED},
    description="Cohere v2 API (Command chat and tools, Embed)",
    pricing_date=PRICING_DATE,
)
