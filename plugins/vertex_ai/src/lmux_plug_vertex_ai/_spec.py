"""The ``vertex_ai`` provider as data: endpoint, auth, models, capabilities and prices.

Prices are US dollars per million tokens from the public Vertex AI generative AI price list
(standard, on-demand), checked on :data:`PRICING_DATE`. Gemini 2.5 Pro has a long-context
tier: above 200K prompt tokens every token of the call is billed at the higher rates. The
``text-embedding-*`` models are billed per character, which token prices cannot express:
they carry no price here (``cost`` is ``None``) unless a pricing plugin supplies one.
"""

from __future__ import annotations

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import PricingTier
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens as per_m

__all__ = [
    "API_VERSION",
    "DEFAULT_LOCATION",
    "LOCATION_ENV",
    "PRICING_DATE",
    "PROJECT_ENV",
    "SPEC",
    "TOKEN_ENV",
]

PRICING_DATE = "2026-11-21"
#: The REST version the plugin builds URLs with (``v1beta1`` through the ``api_version``
#: option or a base URL that ends with it).
API_VERSION = "v1"
#: Where an OAuth access token is read from; without one, google-auth default credentials.
TOKEN_ENV = "VERTEX_ACCESS_TOKEN"  # noqa: S105 - the variable name, not a token
#: Where the project id is read from, in order (then the default credentials' project).
PROJECT_ENV = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
#: Where the location is read from, in order.
LOCATION_ENV = ("GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION")
#: The location used when none is set: ``global`` serves every Gemini model.
DEFAULT_LOCATION = "global"

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
_NO_REASONING = _CHAT - {Capability.REASONING}
_EMBED = frozenset({Capability.EMBED})


def _price(
    input_: str, output: str, cache_read: str, tier: PricingTier | None = None
) -> ModelPricing:
    return ModelPricing(
        input=per_m(input_),
        output=per_m(output),
        cache_read=per_m(cache_read),
        tiers=(tier,) if tier is not None else (),
    )


_PRO_LONG = PricingTier(
    above_input_tokens=200_000,
    input=per_m("2.50"),
    output=per_m("15"),
    cache_read=per_m("0.25"),
)


def _gemini(model_id: str, pricing: ModelPricing, caps: frozenset[Capability] = _CHAT) -> ModelSpec:
    return ModelSpec(
        model_id,
        capabilities=caps,
        pricing=pricing,
        context_window=1_048_576,
        max_output_tokens=65_536 if caps is _CHAT else 8_192,
    )


MODELS = (
    _gemini("gemini-2.5-pro", _price("1.25", "10", "0.125", _PRO_LONG)),
    _gemini("gemini-2.5-flash", _price("0.30", "2.50", "0.03")),
    _gemini("gemini-2.5-flash-lite", _price("0.10", "0.40", "0.01")),
    _gemini("gemini-2.0-flash-001", _price("0.15", "0.60", "0.0375"), _NO_REASONING),
    _gemini("gemini-2.0-flash-lite-001", _price("0.075", "0.30", "0.01875"), _NO_REASONING),
    ModelSpec(
        "gemini-embedding-001",
        capabilities=_EMBED,
        pricing=ModelPricing(input=per_m("0.15"), output=0),
        context_window=2_048,
    ),
    ModelSpec("text-embedding-005", capabilities=_EMBED, context_window=2_048),
    ModelSpec("text-multilingual-embedding-002", capabilities=_EMBED, context_window=2_048),
)

SPEC = ProviderSpec(
    name="vertex_ai",
    wire="vertex_ai",
    # The API root; ``{location}`` is filled in per call (``global`` has no prefix).
    base_url="https://{location}-aiplatform.googleapis.com",
    base_url_env="VERTEX_AI_BASE_URL",
    # Optional: without a token the plugin asks google-auth for default credentials.
    auth=ApiKeyAuth(env=(TOKEN_ENV,), optional=True),
    # Model ids the spec does not list (new releases, tuned endpoints) may do either.
    capabilities=_CHAT | _EMBED,
    models=MODELS,
    options={"api_version": API_VERSION},
    description="Google Vertex AI (Gemini generateContent, predict embeddings)",
    pricing_date=PRICING_DATE,
)
