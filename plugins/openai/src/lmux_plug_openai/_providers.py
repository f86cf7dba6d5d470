"""Every provider this plugin serves, declared as data (no code per provider).

All of them speak the ``openai`` wire (Chat Completions + embeddings). Where a provider's
dialect differs, a switch in ``ProviderSpec.options`` says so (see :data:`OPTIONS`):

========================  =====================================================================
option                    meaning (default)
========================  =====================================================================
``max_tokens_field``      ``"max_tokens"`` (default), ``"max_completion_tokens"`` or ``"auto"``
                          (``max_completion_tokens`` for OpenAI reasoning models o1/o3/o4/gpt-5)
``stream_usage``          send ``stream_options.include_usage`` when streaming (``True``)
``developer_role``        send developer messages with role ``developer`` (``False``: as
                          ``system``, which every compatible server understands)
``seed_field``            body field for ``seed`` (``"seed"``; Mistral: ``"random_seed"``)
``reasoning_style``       ``"reasoning_effort"`` (default) or ``"openrouter"``
                          (``reasoning: {"effort": ...}``)
``usage_cost``            read the USD ``cost`` the provider reports in ``usage`` (``False``)
``default_body``          body fields sent on every chat call, under the request's own
``url_style``             ``"plain"`` (``{base}/chat/completions``) or ``"azure"``
                          (``{base}/openai/deployments/{model}/chat/completions?api-version=``)
``api_version``           Azure ``api-version`` when ``api_version_env`` is unset
``api_version_env``       env var holding the Azure ``api-version`` (``OPENAI_API_VERSION``)
``max_embed_inputs``      most texts per embeddings request; the core splits longer lists
``emulate_json``          JSON formats the core emulates (``json_object`` / ``json_schema``)
========================  =====================================================================

Prices are the providers' public list prices on each spec's ``pricing_date``, in USD per
million tokens; a pricing plugin overrides them without touching this file.
"""

from __future__ import annotations

from typing import Any

import attrs

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ModelPricing
from lmux_plug import ModelSpec
from lmux_plug import ProviderSpec
from lmux_plug import per_million_tokens

__all__ = ["OPTIONS", "PROVIDERS", "WIRE"]

WIRE = "openai"
OPTIONS = (
    "max_tokens_field",
    "stream_usage",
    "developer_role",
    "seed_field",
    "reasoning_style",
    "usage_cost",
    "default_body",
    "url_style",
    "api_version",
    "api_version_env",
    "max_embed_inputs",
    "emulate_json",
)

_C = Capability
_CHAT = frozenset({_C.CHAT, _C.STREAM})
_TOOLS_JSON = _CHAT | {_C.TOOLS, _C.JSON_OBJECT}
_STRUCTURED = _TOOLS_JSON | {_C.JSON_SCHEMA}
_VISION = _STRUCTURED | {_C.VISION}
_REASONING = _VISION | {_C.REASONING}
# PDF and other document input (OpenAI's file content parts).
_FILES = _VISION | {_C.FILES}
_REASONING_FILES = _REASONING | {_C.FILES}
_EMBED = frozenset({_C.EMBED})
# The APIs beyond chat: the Responses API (on chat models), legacy text completions (their
# own models), transcription (speech models; streamed by the gpt-4o transcribe family).
_RESP = frozenset({_C.RESPONSES})
_TEXT_COMPLETION = frozenset({_C.COMPLETIONS, _C.STREAM})
_SPEECH = frozenset({_C.TRANSCRIPTION})
_SPEECH_STREAM = _SPEECH | {_C.STREAM}
# Local servers run whatever model the user loaded, so they declare everything the wire
# can carry and let the server answer for the model.
_LOCAL = _VISION | {_C.EMBED, _C.REASONING, _C.COMPLETIONS}


def _per_minute(minute: str, input_: str = "0", output: str = "0") -> ModelPricing:
    """Audio priced by the minute (and, for token-billed speech models, by the token)."""
    return ModelPricing(
        input=per_million_tokens(input_), output=per_million_tokens(output), per_minute=minute
    )


def _price(input_: str, output: str, cached: str | None = None) -> ModelPricing:
    """Build a price-list entry: dollars per million input, output and cached-input tokens."""
    return ModelPricing(
        input=per_million_tokens(input_),
        output=per_million_tokens(output),
        cache_read=None if cached is None else per_million_tokens(cached),
    )


# One table row per model: capabilities, price, then the context window and the most output
# tokens where the provider publishes them.
_Row = (
    tuple[frozenset[Capability], ModelPricing]
    | tuple[frozenset[Capability], ModelPricing, int]
    | tuple[frozenset[Capability], ModelPricing, int, int]
)

# The day most hosted providers' list prices below were read.
_PRICED = "2025-08-15"


def _models(rows: dict[str, _Row]) -> tuple[ModelSpec, ...]:
    """Turn a price-list table (model id -> row) into the provider's model declarations."""
    specs = []
    for model_id, row in rows.items():
        limits = (*row[2:], None, None)
        specs.append(
            ModelSpec(
                model_id,
                capabilities=row[0],
                pricing=row[1],
                context_window=limits[0],
                max_output_tokens=limits[1],
            )
        )
    return tuple(specs)


def _hosted(name: str, base_url: str, *, models: dict[str, _Row], **fields: Any) -> ProviderSpec:
    """Declare a hosted OpenAI-compatible service: its key is ``<NAME>_API_KEY``.

    ``models`` is its price-list table (see :func:`_models`).
    """
    auth = ApiKeyAuth(env=(f"{name.upper()}_API_KEY",))
    fields.setdefault("pricing_date", _PRICED)
    return ProviderSpec(
        name=name, wire=WIRE, base_url=base_url, auth=auth, models=_models(models), **fields
    )


_FILES_RESP = _FILES | _RESP
_REASONING_FILES_RESP = _REASONING_FILES | _RESP
_STRUCTURED_REASONING = _STRUCTURED | {_C.REASONING}
_ALL_OPENAI = _REASONING | {_C.EMBED, _C.AUDIO, _C.FILES, _C.RESPONSES, _C.COMPLETIONS}

OPENAI = _hosted(
    "openai",
    "https://api.openai.com/v1",
    base_url_env="OPENAI_BASE_URL",
    capabilities=_ALL_OPENAI | {_C.TRANSCRIPTION},
    models={
        "gpt-4o": (_FILES_RESP, _price("2.50", "10.00", "1.25"), 128_000, 16_384),
        "gpt-4o-mini": (_FILES_RESP, _price("0.15", "0.60", "0.075"), 128_000, 16_384),
        "gpt-4.1": (_FILES_RESP, _price("2.00", "8.00", "0.50"), 1_047_576, 32_768),
        "gpt-4.1-mini": (_FILES_RESP, _price("0.40", "1.60", "0.10"), 1_047_576, 32_768),
        "gpt-4.1-nano": (_FILES_RESP, _price("0.10", "0.40", "0.025"), 1_047_576, 32_768),
        "o3": (_REASONING_FILES_RESP, _price("2.00", "8.00", "0.50"), 200_000, 100_000),
        "o4-mini": (_REASONING_FILES_RESP, _price("1.10", "4.40", "0.275"), 200_000, 100_000),
        "gpt-5": (_REASONING_FILES_RESP, _price("1.25", "10.00", "0.125"), 400_000, 128_000),
        "gpt-5-mini": (
            _REASONING_FILES_RESP,
            _price("0.25", "2.00", "0.025"),
            400_000,
            128_000,
        ),
        "gpt-5-nano": (
            _REASONING_FILES_RESP,
            _price("0.05", "0.40", "0.005"),
            400_000,
            128_000,
        ),
        "text-embedding-3-small": (_EMBED, _price("0.02", "0")),
        "text-embedding-3-large": (_EMBED, _price("0.13", "0")),
        "text-embedding-ada-002": (_EMBED, _price("0.10", "0")),
        "gpt-3.5-turbo-instruct": (_TEXT_COMPLETION, _price("1.50", "2.00"), 4_096),
        "davinci-002": (_TEXT_COMPLETION, _price("2.00", "2.00"), 16_384),
        "babbage-002": (_TEXT_COMPLETION, _price("0.40", "0.40"), 16_384),
        "whisper-1": (_SPEECH, _per_minute("0.006")),
        "gpt-4o-transcribe": (_SPEECH_STREAM, _per_minute("0.006", "6.00", "10.00")),
        "gpt-4o-mini-transcribe": (_SPEECH_STREAM, _per_minute("0.003", "3.00", "5.00")),
        "gpt-4o-transcribe-diarize": (_SPEECH_STREAM, _per_minute("0.006", "6.00", "10.00")),
    },
    # OpenAI takes at most 2048 texts per embeddings request; longer lists are split.
    options={"max_tokens_field": "auto", "developer_role": True, "max_embed_inputs": 2048},
    description="OpenAI Chat Completions, Responses, completions, transcription and embeddings",
    pricing_date="2025-08-07",
)

AZURE = ProviderSpec(
    name="azure",
    wire=WIRE,
    # A placeholder: the real endpoint comes from AZURE_OPENAI_ENDPOINT or base_url=;
    # calling with the placeholder raises ConfigurationError before any I/O.
    base_url="https://{resource}.openai.azure.com",
    base_url_env="AZURE_OPENAI_ENDPOINT",
    auth=ApiKeyAuth(env=("AZURE_OPENAI_API_KEY",), header="api-key", scheme=None),
    capabilities=_ALL_OPENAI | {_C.TRANSCRIPTION},
    options={
        "url_style": "azure",
        "api_version": "2024-10-21",
        "api_version_env": "OPENAI_API_VERSION",
        "max_tokens_field": "auto",
        "developer_role": True,
    },
    description="Azure OpenAI: the model id is the deployment name",
)

GROQ = _hosted(
    "groq",
    "https://api.groq.com/openai/v1",
    capabilities=_REASONING | {_C.TRANSCRIPTION},
    models={
        # Whisper on Groq is billed per hour of audio ($0.111, $0.04, $0.02), 10 s minimum.
        "whisper-large-v3": (_SPEECH, _per_minute("0.00185")),
        "whisper-large-v3-turbo": (_SPEECH, _per_minute("0.000667")),
        "distil-whisper-large-v3-en": (_SPEECH, _per_minute("0.000333")),
        "llama-3.3-70b-versatile": (_TOOLS_JSON, _price("0.59", "0.79"), 131_072, 32_768),
        "llama-3.1-8b-instant": (_TOOLS_JSON, _price("0.05", "0.08"), 131_072, 131_072),
        "openai/gpt-oss-120b": (_STRUCTURED_REASONING, _price("0.15", "0.75"), 131_072, 65_536),
        "openai/gpt-oss-20b": (_STRUCTURED_REASONING, _price("0.10", "0.50"), 131_072),
    },
    description="Groq (usage also arrives as x_groq.usage; errors as SSE 'event: error')",
)

TOGETHER = _hosted(
    "together",
    "https://api.together.xyz/v1",
    capabilities=_VISION | {_C.EMBED, _C.COMPLETIONS, _C.TRANSCRIPTION},
    models={
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": (
            _STRUCTURED,
            _price("0.88", "0.88"),
            131_072,
        ),
        "deepseek-ai/DeepSeek-V3": (_STRUCTURED, _price("1.25", "1.25"), 131_072),
        "openai/gpt-oss-120b": (_STRUCTURED, _price("0.15", "0.60"), 131_072),
    },
    description="Together AI",
)

DEEPSEEK = _hosted(
    "deepseek",
    "https://api.deepseek.com",
    capabilities=_TOOLS_JSON | {_C.JSON_SCHEMA, _C.RESPONSES, _C.REASONING},
    models={
        "deepseek-chat": (_STRUCTURED | _RESP, _price("0.28", "0.42", "0.028"), 128_000, 8_192),
        # The reasoner always thinks (reasoning_content) and accepts reasoning_effort.
        "deepseek-reasoner": (
            _STRUCTURED_REASONING | _RESP,
            _price("0.28", "0.42", "0.028"),
            128_000,
            65_536,
        ),
    },
    # DeepSeek has json_object but no json_schema: the core emulates the latter.
    options={"emulate_json": ("json_schema",)},
    description="DeepSeek (reasoning_content becomes thinking; json_schema emulated)",
    pricing_date="2025-09-29",
)

MISTRAL = _hosted(
    "mistral",
    "https://api.mistral.ai/v1",
    capabilities=_VISION | {_C.EMBED},
    models={
        "mistral-large-latest": (_VISION, _price("2", "6"), 131_072),
        "mistral-medium-latest": (_VISION, _price("0.4", "2"), 131_072),
        # mistral-small-latest (Magistral-based since 2025) accepts reasoning_effort.
        "mistral-small-latest": (_VISION | {_C.REASONING}, _price("0.1", "0.3"), 131_072),
        "magistral-medium-latest": (_STRUCTURED, _price("2", "5"), 40_960),
        "mistral-embed": (_EMBED, _price("0.1", "0")),
    },
    # Mistral names the seed ``random_seed``, always sends usage in the last chunk and
    # validates request bodies strictly, so no stream_options.
    options={"seed_field": "random_seed", "stream_usage": False},
    description="Mistral AI (La Plateforme)",
)

OPENROUTER = _hosted(
    "openrouter",
    "https://openrouter.ai/api/v1",
    capabilities=_REASONING | {_C.EMBED, _C.COMPLETIONS},
    models={
        "openai/gpt-4o": (_VISION, _price("2.50", "10.00", "1.25"), 128_000),
        "openai/gpt-5-mini": (_REASONING, _price("0.25", "2.00", "0.025"), 400_000),
        "anthropic/claude-sonnet-4": (_REASONING, _price("3.00", "15.00", "0.30"), 200_000),
    },
    # OpenRouter reports the exact USD cost of each call when asked with usage.include.
    options={
        "usage_cost": True,
        "default_body": {"usage": {"include": True}},
        "reasoning_style": "openrouter",
    },
    description="OpenRouter (cost reported in usage; ': OPENROUTER PROCESSING' keep-alives)",
)

_FIREWORKS_MODELS = "accounts/fireworks/models/"

FIREWORKS = _hosted(
    "fireworks",
    "https://api.fireworks.ai/inference/v1",
    capabilities=_VISION | {_C.EMBED, _C.COMPLETIONS},
    models={
        f"{_FIREWORKS_MODELS}llama-v3p3-70b-instruct": (
            _STRUCTURED,
            _price("0.90", "0.90"),
            131_072,
        ),
        f"{_FIREWORKS_MODELS}gpt-oss-120b": (
            _STRUCTURED_REASONING,
            _price("0.15", "0.60"),
            131_072,
        ),
    },
    description="Fireworks AI",
)

DEEPINFRA = _hosted(
    "deepinfra",
    "https://api.deepinfra.com/v1/openai",
    capabilities=_VISION | {_C.EMBED, _C.COMPLETIONS},
    models={"meta-llama/Meta-Llama-3.1-8B-Instruct": (_TOOLS_JSON, _price("0.03", "0.05"))},
    description="DeepInfra",
)

_SONAR = _CHAT | {_C.JSON_SCHEMA, _C.JSON_OBJECT}

PERPLEXITY = _hosted(
    "perplexity",
    "https://api.perplexity.ai",
    capabilities=_SONAR,
    models={
        # Token prices only: Perplexity also bills a per-request search fee.
        "sonar": (_SONAR, _price("1", "1"), 127_072),
        "sonar-pro": (_SONAR, _price("3", "15"), 200_000),
    },
    # Perplexity has json_schema but no json_object: the core emulates the latter.
    options={"stream_usage": False, "emulate_json": ("json_object",)},
    description="Perplexity Sonar (token prices exclude per-request search fees)",
)

CEREBRAS = _hosted(
    "cerebras",
    "https://api.cerebras.ai/v1",
    capabilities=_STRUCTURED_REASONING | {_C.COMPLETIONS},
    models={
        "llama-3.3-70b": (_STRUCTURED, _price("0.85", "1.20"), 65_536),
        "llama3.1-8b": (_STRUCTURED, _price("0.10", "0.10"), 8_192),
        "gpt-oss-120b": (_STRUCTURED_REASONING, _price("0.25", "0.69"), 65_536),
    },
    description="Cerebras Inference",
)

XAI = _hosted(
    "xai",
    "https://api.x.ai/v1",
    capabilities=_REASONING | {_C.RESPONSES},
    models={
        # grok-4 always reasons and rejects reasoning_effort, so it does not declare it.
        "grok-4": (_VISION | _RESP, _price("3.00", "15.00", "0.75"), 256_000),
        "grok-3": (_STRUCTURED | _RESP, _price("3.00", "15.00", "0.75"), 131_072),
        "grok-3-mini": (_STRUCTURED_REASONING | _RESP, _price("0.30", "0.50", "0.075")),
    },
    description="xAI Grok",
)


def _local(name: str, port: int, key_env: str, description: str) -> ProviderSpec:
    """Declare a server on this machine: no key needed (sent when the env var is set)."""
    return ProviderSpec(
        name=name,
        wire=WIRE,
        base_url=f"http://127.0.0.1:{port}/v1",
        base_url_env=f"{name.upper()}_BASE_URL",
        auth=ApiKeyAuth(env=(key_env,), optional=True),
        capabilities=_LOCAL,
        description=description,
    )


VLLM = attrs.evolve(
    _local("vllm", 8000, "VLLM_API_KEY", "vLLM OpenAI-compatible server"),
    capabilities=_LOCAL | {_C.RESPONSES, _C.TRANSCRIPTION},
)
LLAMACPP = _local("llamacpp", 8080, "LLAMACPP_API_KEY", "llama.cpp server (llama-server)")
LMSTUDIO = attrs.evolve(
    _local("lmstudio", 1234, "LMSTUDIO_API_KEY", "LM Studio local server"),
    capabilities=_LOCAL | {_C.RESPONSES},
)
OLLAMA_OPENAI = _local(
    "ollama_openai", 11434, "OLLAMA_API_KEY", "Ollama's OpenAI-compatible /v1 endpoint"
)

PROVIDERS: tuple[ProviderSpec, ...] = (
    OPENAI,
    AZURE,
    GROQ,
    TOGETHER,
    DEEPSEEK,
    MISTRAL,
    OPENROUTER,
    FIREWORKS,
    DEEPINFRA,
    PERPLEXITY,
    CEREBRAS,
    XAI,
    VLLM,
    LLAMACPP,
    LMSTUDIO,
    OLLAMA_OPENAI,
)
