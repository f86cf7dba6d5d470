"""The ``ollama`` provider declared as data.

Models are whatever the server has pulled, so none are listed; every model gets the
provider's capabilities and the server answers 400/404 itself when one lacks a feature.

Pricing: local models cost nothing per token, and Ollama's hosted service (ollama.com) is
billed by subscription rather than per token, so the plugin prices every ``ollama``
model at zero (see :func:`lmux_plug_ollama.lmux_plug_pricing`) instead of leaving cost
unknown. :data:`PRICING_DATE` records when that was last checked.
"""

from __future__ import annotations

from lmux_plug import CHAT_CAPABILITIES
from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ProviderSpec

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_PORT", "FREE", "PRICING_DATE", "SPEC"]

DEFAULT_PORT = 11434
DEFAULT_BASE_URL = f"http://localhost:{DEFAULT_PORT}"
PRICING_DATE = "2026-03-01"
FREE = ModelPricing(input=0, output=0)

_CAPABILITIES = CHAT_CAPABILITIES | {Capability.EMBED, Capability.VISION, Capability.REASONING}

SPEC = ProviderSpec(
    name="ollama",
    wire="ollama",
    base_url=DEFAULT_BASE_URL,
    # No key for a local server; ollama.com takes a bearer key from OLLAMA_API_KEY.
    auth=ApiKeyAuth(
        env=("OLLAMA_API_KEY",), header="authorization", scheme="Bearer", optional=True
    ),
    capabilities=_CAPABILITIES,
    base_url_env="OLLAMA_HOST",
    # "auto": /api/embed, falling back to the legacy /api/embeddings on servers without it;
    # "embed" or "embeddings" force one endpoint.
    options={"embed_api": "auto"},
    description="Ollama native API (local server, or ollama.com with OLLAMA_API_KEY)",
    pricing_date=PRICING_DATE,
)
