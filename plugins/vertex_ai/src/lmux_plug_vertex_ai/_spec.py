"""The ``vertex_ai`` provider as data: endpoint, auth, models, capabilities and prices.

The models are Gemini's (:mod:`lmux_plug_gemini.models`: capabilities, limits, price shape).
Prices are US dollars per million tokens from the public Vertex AI generative AI price list
(standard, on-demand), checked on :data:`PRICING_DATE`. Gemini 2.5 Pro has a long-context
tier: above 200K prompt tokens every token of the call is billed at the higher rates. The
``text-embedding-*`` models are billed per character, which token prices cannot express:
they carry no price here (``cost`` is ``None``) unless a pricing plugin supplies one.
"""

from __future__ import annotations

from lmux_plug_gemini.models import CHAT
from lmux_plug_gemini.models import EMBED
from lmux_plug_gemini.models import NO_REASONING
from lmux_plug_gemini.models import chat_model
from lmux_plug_gemini.models import price

from lmux_plug import ApiKeyAuth
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
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

_PRO_LONG = ("2.50", "15", "0.25")

MODELS = (
    chat_model("gemini-2.5-pro", price("1.25", "10", "0.125", long=_PRO_LONG)),
    chat_model("gemini-2.5-flash", price("0.30", "2.50", "0.03")),
    chat_model("gemini-2.5-flash-lite", price("0.10", "0.40", "0.01")),
    chat_model("gemini-2.0-flash-001", price("0.15", "0.60", "0.0375"), NO_REASONING),
    chat_model("gemini-2.0-flash-lite-001", price("0.075", "0.30", "0.01875"), NO_REASONING),
    ModelSpec(
        "gemini-embedding-001",
        capabilities=EMBED,
        pricing=ModelPricing(input=per_m("0.15"), output=0),
        context_window=2_048,
    ),
    ModelSpec("text-embedding-005", capabilities=EMBED, context_window=2_048),
    ModelSpec("text-multilingual-embedding-002", capabilities=EMBED, context_window=2_048),
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
    capabilities=CHAT | EMBED,
    models=MODELS,
    options={"api_version": API_VERSION},
    description="Google Vertex AI (Gemini generateContent, predict embeddings)",
    pricing_date=PRICING_DATE,
)
