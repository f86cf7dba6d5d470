"""The ``bedrock`` provider as data: endpoint, auth, models, capabilities and prices.

Prices are US dollars per million tokens, on-demand in us-east-1, from the public Amazon
Bedrock price list, checked on :data:`PRICING_DATE`. Cross-region inference profiles
(``us.``, ``eu.``, ``apac.``, ``global.`` prefixes) are priced like the model they route to.

Auth: a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``, or ``api_key=``) goes as a bearer
token; without one, requests are signed with SigV4 using ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` or, failing those, the standard AWS
credential chain (shared config and credentials files, SSO, container and instance roles).
The region comes from ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` or the AWS config file.
"""

from __future__ import annotations

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens as per_m

__all__ = [
    "BEARER_ENV",
    "DEFAULT_INPUT_TYPE",
    "PRICING_DATE",
    "REGION_ENV",
    "SERVICE",
    "SPEC",
]

PRICING_DATE = "2026-11-21"
#: The SigV4 service name of the Bedrock runtime API.
SERVICE = "bedrock"
#: Where a Bedrock API key is read from (sent as ``Authorization: Bearer``).
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
#: Where the region is read from, in order (then the AWS config file).
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
#: ``input_type`` sent to Cohere embedding models when ``extra_body`` names none.
DEFAULT_INPUT_TYPE = "search_document"

_BASE = frozenset({Capability.CHAT, Capability.STREAM, Capability.TOOLS})
_VISION = _BASE | {Capability.VISION, Capability.FILES}
_CLAUDE = _VISION | {Capability.REASONING}
# Claude 4.5 models and later take Bedrock's native structured output (outputConfig).
_CLAUDE_STRUCTURED = _CLAUDE | {Capability.JSON_SCHEMA}
_EMBED = frozenset({Capability.EMBED})


def _price(input_: str, output: str = "0", *, cached: bool = False) -> ModelPricing:
    """Rates per million tokens; Claude's cache reads cost 0.1x input, writes 1.25x."""
    if not cached:
        return ModelPricing(input=per_m(input_), output=per_m(output))
    rate = per_m(input_)
    return ModelPricing(
        input=rate, output=per_m(output), cache_read=rate / 10, cache_write=rate * 5 / 4
    )


def _profiles(model_id: str) -> tuple[str, ...]:
    """The cross-region inference profile ids of ``model_id`` (same price, same model)."""
    return tuple(f"{geo}.{model_id}" for geo in ("us", "eu", "apac", "global"))


def _claude(model_id: str, price: ModelPricing, caps: frozenset[Capability], out: int) -> ModelSpec:
    return ModelSpec(
        model_id,
        capabilities=caps,
        pricing=price,
        context_window=200_000,
        max_output_tokens=out,
        aliases=_profiles(model_id),
    )


_SONNET = _price("3", "15", cached=True)

MODELS = (
    _claude("anthropic.claude-sonnet-4-5-20250929-v1:0", _SONNET, _CLAUDE_STRUCTURED, 64_000),
    _claude(
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        _price("1", "5", cached=True),
        _CLAUDE_STRUCTURED,
        64_000,
    ),
    _claude(
        "anthropic.claude-opus-4-5-20251101-v1:0",
        _price("5", "25", cached=True),
        _CLAUDE_STRUCTURED,
        64_000,
    ),
    _claude("anthropic.claude-sonnet-4-20250514-v1:0", _SONNET, _CLAUDE, 64_000),
    _claude("anthropic.claude-3-7-sonnet-20250219-v1:0", _SONNET, _CLAUDE, 64_000),
    _claude(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        _price("0.80", "4", cached=True),
        _VISION - {Capability.FILES},
        8_192,
    ),
    _claude(
        "anthropic.claude-3-haiku-20240307-v1:0",
        _price("0.25", "1.25"),
        _VISION - {Capability.FILES},
        4_096,
    ),
    ModelSpec(
        "amazon.nova-micro-v1:0",
        capabilities=_BASE,
        pricing=_price("0.035", "0.14"),
        context_window=128_000,
        max_output_tokens=10_000,
        aliases=_profiles("amazon.nova-micro-v1:0"),
    ),
    ModelSpec(
        "amazon.nova-lite-v1:0",
        capabilities=_VISION,
        pricing=_price("0.06", "0.24"),
        context_window=300_000,
        max_output_tokens=10_000,
        aliases=_profiles("amazon.nova-lite-v1:0"),
    ),
    ModelSpec(
        "amazon.nova-pro-v1:0",
        capabilities=_VISION,
        pricing=_price("0.80", "3.20"),
        context_window=300_000,
        max_output_tokens=10_000,
        aliases=_profiles("amazon.nova-pro-v1:0"),
    ),
    ModelSpec(
        "amazon.titan-text-lite-v1",
        capabilities=frozenset({Capability.CHAT, Capability.STREAM}),
        pricing=_price("0.15", "0.20"),
        context_window=4_096,
        max_output_tokens=4_096,
    ),
    ModelSpec(
        "meta.llama3-1-8b-instruct-v1:0",
        capabilities=_BASE,
        pricing=_price("0.22", "0.22"),
        context_window=128_000,
        max_output_tokens=2_048,
    ),
    ModelSpec(
        "meta.llama3-1-70b-instruct-v1:0",
        capabilities=_BASE,
        pricing=_price("0.72", "0.72"),
        context_window=128_000,
        max_output_tokens=2_048,
    ),
    ModelSpec("cohere.embed-english-v3", capabilities=_EMBED, pricing=_price("0.10")),
    ModelSpec("cohere.embed-multilingual-v3", capabilities=_EMBED, pricing=_price("0.10")),
    ModelSpec("cohere.embed-v4:0", capabilities=_EMBED, pricing=_price("0.12")),
    ModelSpec("amazon.titan-embed-text-v2:0", capabilities=_EMBED, pricing=_price("0.02")),
    ModelSpec("amazon.titan-embed-text-v1", capabilities=_EMBED, pricing=_price("0.10")),
)

SPEC = ProviderSpec(
    name="bedrock",
    wire="bedrock",
    # ``{region}`` is filled in per call (AWS_REGION, AWS_DEFAULT_REGION or the config file).
    base_url="https://bedrock-runtime.{region}.amazonaws.com",
    base_url_env="AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    # Optional: without a Bedrock API key the plugin signs with SigV4 (AWS credentials).
    auth=ApiKeyAuth(env=(BEARER_ENV,), optional=True),
    # Model ids the spec does not list (new releases, ARNs) get what Converse offers all.
    capabilities=_BASE | {Capability.VISION, Capability.JSON_SCHEMA, Capability.EMBED},
    models=MODELS,
    description="Amazon Bedrock runtime (Converse / ConverseStream, InvokeModel embeddings)",
    pricing_date=PRICING_DATE,
)
