"""Core value types: messages, requests, responses, stream chunks, provider declarations.

Every class is an ``attrs`` frozen class, so values are hashable, comparable and safe to
share between tasks. Conversion to and from wire dicts lives in :mod:`lmux_plug.convert`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

# Imported at run time (not only for type checking) so cattrs can resolve the annotations.
from lmux_plug._pricing import Cost, ModelPricing
from lmux_plug._secrets import remember_secret

__all__ = [
    "ApiKeyAuth",
    "AssistantMessage",
    "AudioContent",
    "Capability",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "ContentPart",
    "Credentials",
    "DeveloperMessage",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "FileContent",
    "FinishReason",
    "FunctionDefinition",
    "ImageContent",
    "JsonObjectResponseFormat",
    "JsonSchemaResponseFormat",
    "Message",
    "ModelSpec",
    "NoAuth",
    "ProviderSpec",
    "ResponseFormat",
    "Secret",
    "SystemMessage",
    "TextContent",
    "TextResponseFormat",
    "ThinkingBlock",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolMessage",
    "Usage",
    "UserMessage",
]


def _tuple(value: Any) -> tuple[Any, ...]:
    """Accept any iterable where a tuple is stored, so callers may pass lists."""
    return value if isinstance(value, tuple) else tuple(value)


def _text_or_parts(value: str | Iterable[ContentPart]) -> str | tuple[ContentPart, ...]:
    return value if isinstance(value, str) else tuple(value)


def _vectors(values: Iterable[Iterable[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(v if isinstance(v, tuple) else tuple(v) for v in values)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {} if value is None else dict(value)


# --------------------------------------------------------------------------- secrets


@attrs.frozen(repr=False)
class Secret:
    """A credential string that never shows itself in ``repr``, ``str`` or f-strings.

    Call :meth:`reveal` at the one place the value goes on the wire.
    """

    _value: str = attrs.field(alias="value")

    def __attrs_post_init__(self) -> None:
        # Every secret is scrubbed from errors, logs and files from the moment it exists.
        if isinstance(self._value, str):
            remember_secret(self._value)

    def reveal(self) -> str:
        """Return the secret value; use only to build the outgoing request."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)


@attrs.frozen
class Credentials:
    """Resolved credentials for one call; ``api_key`` is hidden from every repr."""

    api_key: Secret | None = None
    extra_headers: Mapping[str, Secret] = attrs.field(factory=dict, converter=_frozen_mapping)


# --------------------------------------------------------------------------- content parts


@attrs.frozen
class TextContent:
    """A text part of a multimodal message."""

    text: str
    type: Literal["text"] = "text"
    cache_control: bool = False


@attrs.frozen
class ImageContent:
    """An image part: an ``https:`` URL or a ``data:`` URL with base64 bytes."""

    url: str
    detail: str | None = None
    type: Literal["image"] = "image"

    @classmethod
    def from_base64(cls, data: str, media_type: str = "image/png") -> ImageContent:
        """Build a ``data:`` URL image from base64 text."""
        return cls(url=f"data:{media_type};base64,{data}")

    @property
    def media_type(self) -> str | None:
        """The media type of a ``data:`` URL, else ``None``."""
        if self.url.startswith("data:"):
            return self.url[5:].split(";", 1)[0] or None
        return None

    @property
    def base64_data(self) -> str | None:
        """The base64 payload of a ``data:`` URL, else ``None``."""
        if self.url.startswith("data:") and ";base64," in self.url:
            return self.url.split(";base64,", 1)[1]
        return None


@attrs.frozen
class AudioContent:
    """An audio part: base64 data and its format (``wav``, ``mp3``, ...)."""

    data: str
    format: str = "wav"
    type: Literal["audio"] = "audio"


@attrs.frozen
class FileContent:
    """A file part (PDF and other documents): base64 data or a provider file id."""

    data: str | None = None
    media_type: str = "application/pdf"
    filename: str | None = None
    file_id: str | None = None
    type: Literal["file"] = "file"


ContentPart = TextContent | ImageContent | AudioContent | FileContent


# --------------------------------------------------------------------------- tools


@attrs.frozen
class FunctionDefinition:
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}, hash=False
    )
    strict: bool | None = None


@attrs.frozen
class Tool:
    """A tool offered to the model (only function tools exist across providers)."""

    function: FunctionDefinition
    type: Literal["function"] = "function"


@attrs.frozen
class ToolChoice:
    """How the model must use tools: ``auto``, ``none``, ``required`` or a named function."""

    mode: Literal["auto", "none", "required", "function"] = "auto"
    function_name: str | None = None

    @classmethod
    def function(cls, name: str) -> ToolChoice:
        """Force a call of the named function."""
        return cls(mode="function", function_name=name)


@attrs.frozen
class ToolCall:
    """A complete tool call made by the model; ``arguments`` is the JSON text."""

    id: str
    name: str
    arguments: str = "{}"
    # Opaque provider data that must be sent back unchanged (Gemini thought signatures).
    signature: str | None = None
    type: Literal["function"] = "function"


@attrs.frozen
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with one ``index`` concatenate."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    signature: str | None = None


# --------------------------------------------------------------------------- messages


@attrs.frozen
class SystemMessage:
    """Instructions for the model."""

    content: str
    role: Literal["system"] = "system"
    cache_control: bool = False


@attrs.frozen
class DeveloperMessage:
    """Developer instructions (OpenAI's successor of system messages)."""

    content: str
    role: Literal["developer"] = "developer"


@attrs.frozen
class UserMessage:
    """A user turn: plain text or a tuple of content parts."""

    content: str | tuple[ContentPart, ...] = attrs.field(converter=_text_or_parts)
    role: Literal["user"] = "user"
    name: str | None = None
    cache_control: bool = False


@attrs.frozen
class ThinkingBlock:
    """Model reasoning returned by the provider, kept so it can be sent back verbatim."""

    text: str
    signature: str | None = None
    redacted: bool = False


@attrs.frozen
class AssistantMessage:
    """A model turn, possibly with tool calls and reasoning."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tuple)
    thinking: tuple[ThinkingBlock, ...] = attrs.field(default=(), converter=_tuple)
    refusal: str | None = None
    role: Literal["assistant"] = "assistant"
    name: str | None = None


@attrs.frozen
class ToolMessage:
    """The result of a tool call, sent back to the model."""

    content: str
    tool_call_id: str
    name: str | None = None
    role: Literal["tool"] = "tool"
    is_error: bool = False


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage


# --------------------------------------------------------------------------- response formats


@attrs.frozen
class TextResponseFormat:
    """Plain text output (the default)."""

    type: Literal["text"] = "text"


@attrs.frozen
class JsonObjectResponseFormat:
    """Any valid JSON object."""

    type: Literal["json_object"] = "json_object"


@attrs.frozen
class JsonSchemaResponseFormat:
    """JSON that follows ``schema`` (structured output)."""

    name: str
    schema: Mapping[str, Any] = attrs.field(hash=False)
    strict: bool = True
    description: str | None = None
    type: Literal["json_schema"] = "json_schema"


ResponseFormat = TextResponseFormat | JsonObjectResponseFormat | JsonSchemaResponseFormat


# --------------------------------------------------------------------------- usage


def _non_negative(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        msg = f"{attribute.name} must be >= 0, got {value}"
        raise ValueError(msg)


@attrs.frozen
class Usage:
    """Token counts of one call.

    ``input_tokens`` counts every prompt token, including the cached ones reported in
    ``cache_read_tokens`` and ``cache_creation_tokens``; ``output_tokens`` includes
    ``reasoning_tokens``. Plugins normalise providers that count otherwise (Anthropic).
    """

    input_tokens: int = attrs.field(default=0, validator=_non_negative)
    output_tokens: int = attrs.field(default=0, validator=_non_negative)
    cache_read_tokens: int = attrs.field(default=0, validator=_non_negative)
    cache_creation_tokens: int = attrs.field(default=0, validator=_non_negative)
    reasoning_tokens: int = attrs.field(default=0, validator=_non_negative)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_creation_tokens + other.cache_creation_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


# --------------------------------------------------------------------------- requests


class FinishReason(str, enum.Enum):
    """Why generation stopped, the same values for every provider."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"


@attrs.frozen
class ChatRequest:
    """One chat call as plugins see it: the model id (prefix removed) and typed parameters.

    ``extra`` carries provider-specific body fields, merged into the request body last.
    """

    model: str
    messages: tuple[Message, ...] = attrs.field(converter=_tuple)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    tools: tuple[Tool, ...] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    user: str | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)
    extra_headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False
    )


@attrs.frozen
class EmbeddingRequest:
    """One embedding call: the model id (prefix removed) and the texts, in order."""

    model: str
    inputs: tuple[str, ...] = attrs.field(converter=_tuple)
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)
    extra_headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False
    )


# --------------------------------------------------------------------------- responses


@attrs.frozen
class ChatResponse:
    """A complete chat answer, normalised across providers."""

    content: str | None
    model: str
    provider: str
    finish_reason: FinishReason = FinishReason.STOP
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tuple)
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None
    request_id: str | None = None
    thinking: tuple[ThinkingBlock, ...] = attrs.field(default=(), converter=_tuple)
    refusal: str | None = None
    headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False, eq=False, repr=False
    )
    raw: Any = attrs.field(default=None, eq=False, repr=False, hash=False)
    cache_hit: bool = False
    attempts: tuple[Any, ...] = attrs.field(default=(), eq=False, repr=False, hash=False)
    # The object a class given as ``response_format`` was parsed into (see ``Registry.achat``).
    parsed: Any = attrs.field(default=None, eq=False, repr=False, hash=False)
    # Seconds from the start of the call (parameters checked) to the complete answer, set
    # by the core; not part of equality (the same answer may come back faster).
    latency: float | None = attrs.field(default=None, eq=False, hash=False)

    @property
    def message(self) -> AssistantMessage:
        """The answer as an :class:`AssistantMessage`, to continue the conversation."""
        return AssistantMessage(
            content=self.content,
            tool_calls=self.tool_calls,
            thinking=self.thinking,
            refusal=self.refusal,
        )

    @property
    def rate_limits(self) -> Mapping[str, str]:
        """The provider's rate-limit headers (``x-ratelimit-*``, ``anthropic-ratelimit-*``)."""
        return {k: v for k, v in self.headers.items() if "ratelimit" in k}


@attrs.frozen
class ChatChunk:
    """One piece of a streamed answer. The terminal chunk has ``finish_reason`` set.

    Usage and cost arrive on the terminal chunk (or a chunk after it when the provider sends
    usage last); plugins put them on the terminal chunk where the wire allows.
    """

    delta: str = ""
    tool_call_deltas: tuple[ToolCallDelta, ...] = attrs.field(default=(), converter=_tuple)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    thinking_delta: str = ""
    model: str | None = None
    provider: str | None = None
    request_id: str | None = None
    # Completed reasoning blocks (with their signatures, or redacted data), on the chunk
    # that closes them: what a caller sends back in ``AssistantMessage.thinking``.
    thinking: tuple[ThinkingBlock, ...] = attrs.field(default=(), converter=_tuple)
    # Set by the core on the terminal chunk (and a later usage chunk): seconds from the
    # start of the call to this chunk, and to the first chunk with content.
    latency: float | None = attrs.field(default=None, eq=False, hash=False)
    time_to_first_token: float | None = attrs.field(default=None, eq=False, hash=False)


@attrs.frozen
class EmbeddingResponse:
    """Embedding vectors, one per input, in input order."""

    embeddings: tuple[tuple[float, ...], ...] = attrs.field(converter=_vectors)
    model: str
    provider: str
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None
    request_id: str | None = None
    headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False, eq=False, repr=False
    )
    # Seconds from the start of the call to the answer, set by the core.
    latency: float | None = attrs.field(default=None, eq=False, hash=False)


# --------------------------------------------------------------------------- declarations


class Capability(str, enum.Enum):
    """What a provider (or one of its models) can do; calls outside it fail before I/O."""

    CHAT = "chat"
    STREAM = "stream"
    EMBED = "embed"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"
    VISION = "vision"
    AUDIO = "audio"
    FILES = "files"
    REASONING = "reasoning"
    RESPONSES = "responses"
    COMPLETIONS = "completions"
    TRANSCRIPTION = "transcription"


def _capability_set(value: Iterable[Capability]) -> frozenset[Capability]:
    """Store capabilities as a frozenset (callers may pass any iterable)."""
    return value if isinstance(value, frozenset) else frozenset(value)


@attrs.frozen
class ApiKeyAuth:
    """API-key authentication: where the key is read from and where it goes on the wire.

    ``header`` and ``scheme`` put it in a header (``Authorization: Bearer <key>``);
    ``query`` puts it in a query parameter instead. The names also drive cassette scrubbing.
    """

    env: tuple[str, ...] = attrs.field(converter=_tuple)
    header: str | None = "authorization"
    scheme: str | None = "Bearer"
    query: str | None = None
    optional: bool = False

    def headers_for(self, key: str) -> dict[str, str]:
        """The headers that carry ``key``."""
        if self.header is None:
            return {}
        return {self.header: f"{self.scheme} {key}" if self.scheme else key}


@attrs.frozen
class NoAuth:
    """No credentials (local servers)."""

    env: tuple[str, ...] = ()
    header: None = None
    query: None = None
    optional: bool = True

    def headers_for(self, key: str) -> dict[str, str]:  # noqa: ARG002 - same shape as ApiKeyAuth
        """No headers."""
        return {}


@attrs.frozen
class ModelSpec:
    """A model a provider declares: its id, capabilities, pricing and context window."""

    id: str
    capabilities: frozenset[Capability] | None = None
    pricing: ModelPricing | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class ProviderSpec:
    """A provider declared as data.

    ``name`` is the model prefix (``"openai"`` in ``"openai/gpt-4o"``); ``wire`` names the
    codec that speaks to it (``"openai"`` for every OpenAI-compatible endpoint), so a
    compatible endpoint needs a spec and no code. ``capabilities`` applies to models not
    listed in ``models``; a listed model may narrow it.
    """

    name: str
    wire: str
    base_url: str
    auth: ApiKeyAuth | NoAuth = attrs.field(factory=NoAuth)
    capabilities: frozenset[Capability] = attrs.field(
        factory=lambda: frozenset({Capability.CHAT, Capability.STREAM}),
        converter=_capability_set,  # typed, so mypy infers the __init__ parameter
    )
    models: tuple[ModelSpec, ...] = attrs.field(default=(), converter=_tuple)
    base_url_env: str | None = None
    default_headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False
    )
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)
    description: str = ""
    pricing_date: str | None = None

    def model(self, model_id: str) -> ModelSpec | None:
        """The declared spec of ``model_id`` (by id or alias), if any."""
        for spec in self.models:
            if spec.id == model_id or model_id in spec.aliases:
                return spec
        return None

    def capabilities_of(self, model_id: str) -> frozenset[Capability]:
        """What ``model_id`` can do: its own declaration, else the provider's."""
        spec = self.model(model_id)
        if spec is not None and spec.capabilities is not None:
            return spec.capabilities
        return self.capabilities
