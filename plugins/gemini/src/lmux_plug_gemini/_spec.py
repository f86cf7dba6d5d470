"""The ``gemini`` provider declared as data: endpoint, key, models, capabilities, prices.

Prices are US dollars per million tokens from Google's Gemini Developer API price list
(standard tier, paid), as of :data:`PRICING_DATE`. Gemini 2.5 Pro and Gemini 3 Pro bill
a whole call at higher rates once its prompt exceeds 200,000 tokens (a ``PricingTier``).
Thinking tokens are billed as output tokens, which is how the codec counts them.
"""

from __future__ import annotations

from lmux_plug import ApiKeyAuth
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens
from lmux_plug_gemini.models import CHAT
from lmux_plug_gemini.models import EMBED
from lmux_plug_gemini.models import chat_model
from lmux_plug_gemini.models import price

__all__ = ["BASE_URL", "PRICING_DATE", "SPEC"]

BASE_URL = "https://generativelanguage.googleapis.com"
PRICING_DATE = "2026-03-01"

SPEC = ProviderSpec(
    name="gemini",
    wire="gemini",
    base_url=BASE_URL,
    auth=ApiKeyAuth(env=("GEMINI_API_KEY", "GOOGLE_API_KEY"), header="x-goog-api-key", scheme=None),
    # Models not listed (new releases, tuned models) get every chat capability plus
    # embeddings: the API answers 400/404 itself when a model lacks one.
    capabilities=CHAT | EMBED,
    models=(
        chat_model("gemini-2.5-pro", price("1.25", "10", "0.125", long=("2.50", "15", "0.25"))),
        chat_model("gemini-2.5-flash", price("0.30", "2.50", "0.03")),
        chat_model("gemini-2.5-flash-lite", price("0.10", "0.40", "0.01")),
        chat_model("gemini-3-pro-preview", price("2", "12", "0.20", long=("4", "18", "0.40"))),
        chat_model("gemini-3-flash-preview", price("0.50", "3", "0.05")),
        ModelSpec(
            "gemini-embedding-001",
            capabilities=EMBED,
            pricing=ModelPricing(input=per_million_tokens("0.15"), output=0),
            context_window=2_048,
        ),
    ),
    description="Google Gemini API (AI Studio keys, generativelanguage.googleapis.com)",
    pricing_date=PRICING_DATE,
)
