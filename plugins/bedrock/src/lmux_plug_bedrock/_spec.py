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

from typing import Any

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


_SONNET = _price("3", "15", cached=True)
_HAIKU_45 = _price("1", "5", cached=True)
_OPUS_45 = _price("5", "25", cached=True)
_HAIKU_35 = _price("0.80", "4", cached=True)
_OLD_HAIKU = _VISION - {Capability.FILES}
_TEXT = frozenset({Capability.CHAT, Capability.STREAM})

# One row a model: id, capabilities, price, context window, output limit. Claude and Nova
# are also called through their cross-region inference profiles (aliases).
_PROFILED: tuple[tuple[Any, ...], ...] = (
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", _CLAUDE_STRUCTURED, _SONNET, 200_000, 64_000),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", _CLAUDE_STRUCTURED, _HAIKU_45, 200_000, 64_000),
    ("anthropic.claude-opus-4-5-20251101-v1:0", _CLAUDE_STRUCTURED, _OPUS_45, 200_000, 64_000),
    ("anthropic.claude-sonnet-4-20250514-v1:0", _CLAUDE, _SONNET, 200_000, 64_000),
    ("anthropic.claude-3-7-sonnet-20250219-v1:0", _CLAUDE, _SONNET, 200_000, 64_000),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", _OLD_HAIKU, _HAIKU_35, 200_000, 8_192),
    ("anthropic.claude-3-haiku-20240307-v1:0", _OLD_HAIKU, _price("0.25", "1.25"), 200_000, 4_096),
    ("amazon.nova-micro-v1:0", _BASE, _price("0.035", "0.14"), 128_000, 10_000),
    ("amazon.nova-lite-v1:0", _VISION, _price("0.06", "0.24"), 300_000, 10_000),
    ("amazon.nova-pro-v1:0", _VISION, _price("0.80", "3.20"), 300_000, 10_000),
)
_PLAIN: tuple[tuple[Any, ...], ...] = (
    ("amazon.titan-text-lite-v1", _TEXT, _price("0.15", "0.20"), 4_096, 4_096),
    ("meta.llama3-1-8b-instruct-v1:0", _BASE, _price("0.22", "0.22"), 128_000, 2_048),
    ("meta.llama3-1-70b-instruct-v1:0", _BASE, _price("0.72", "0.72"), 128_000, 2_048),
    ("cohere.embed-english-v3", _EMBED, _price("0.10")),
    ("cohere.embed-multilingual-v3", _EMBED, _price("0.10")),
    ("cohere.embed-v4:0", _EMBED, _price("0.12")),
    ("amazon.titan-embed-text-v2:0", _EMBED, _price("0.02")),
    ("amazon.titan-embed-text-v1", _EMBED, _price("0.10")),
)
MODELS = (
    *(ModelSpec(i, c, p, w, o, _profiles(i)) for i, c, p, w, o in _PROFILED),
    *(ModelSpec(*row) for row in _PLAIN),
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
