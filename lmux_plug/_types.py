"""Core value types: messages, requests, responses, stream chunks, provider declarations.

Every class is an ``attrs`` frozen class, so values are hashable, comparable and safe to
share between tasks. Conversion to and from wire dicts lives in :mod:`lmux_plug.convert`.
The declarations (:class:`ProviderSpec` and what it holds, :class:`Secret`,
:class:`Credentials`) are defined in :mod:`lmux_plug._declarations` and re-exported here;
the rest is only created when a call (or a caller) first needs it, which keeps
``import lmux_plug`` and plugin discovery fast.

The call types are built several times per call (the request, its messages, the answer,
its usage, every stream chunk), so they are dict classes (``slots=False``): attrs' frozen
``__init__`` then stores each field in the instance's dict, where a slotted frozen class
calls ``object.__setattr__`` once per field (1.5-1.6x the instructions to build a
``ChatResponse`` or a ``ChatRequest``), and :func:`lmux_plug._evolve.evolve` copies an
answer's dict to set the core's own values on it (latency, cost).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Literal

import attrs

# The declaration types live in their own module (created at plugin discovery); they are
# re-exported here so every value type can be imported from this module.
from lmux_plug._declarations import ApiKeyAuth
from lmux_plug._declarations import Capability
from lmux_plug._declarations import Credentials
from lmux_plug._declarations import ModelSpec
from lmux_plug._declarations import NoAuth
from lmux_plug._declarations import ProviderSpec
from lmux_plug._declarations import Secret
from lmux_plug._declarations import _frozen_mapping
from lmux_plug._declarations import _tuple

# Imported at run time (not only for type checking) so cattrs can resolve the annotations.
from lmux_plug._pricing import Cost

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


def _vectors(values: Iterable[Iterable[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(v if isinstance(v, tuple) else tuple(v) for v in values)


# --------------------------------------------------------------------------- content parts


@attrs.frozen(slots=False)
class TextContent:
    """A text part of a multimodal message."""

    text: str
    type: Literal["text"] = "text"
    cache_control: bool = False


@attrs.frozen(slots=False)
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


@attrs.frozen(slots=False)
class AudioContent:
    """An audio part: base64 data and its format (``wav``, ``mp3``, ...)."""

    data: str
    format: str = "wav"
    type: Literal["audio"] = "audio"


@attrs.frozen(slots=False)
class FileContent:
    """A file part (PDF and other documents): base64 data or a provider file id."""

    data: str | None = None
    media_type: str = "application/pdf"
    filename: str | None = None
    file_id: str | None = None
    type: Literal["file"] = "file"


ContentPart = TextContent | ImageContent | AudioContent | FileContent


# --------------------------------------------------------------------------- tools


@attrs.frozen(slots=False)
class FunctionDefinition:
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}, hash=False
    )
    strict: bool | None = None


@attrs.frozen(slots=False)
class Tool:
    """A tool offered to the model (only function tools exist across providers)."""

    function: FunctionDefinition
    type: Literal["function"] = "function"


@attrs.frozen(slots=False)
class ToolChoice:
    """How the model must use tools: ``auto``, ``none``, ``required`` or a named function."""

    mode: Literal["auto", "none", "required", "function"] = "auto"
    function_name: str | None = None

    @classmethod
    def function(cls, name: str) -> ToolChoice:
        """Force a call of the named function."""
        return cls(mode="function", function_name=name)


@attrs.frozen(slots=False)
class ToolCall:
    """A complete tool call made by the model; ``arguments`` is the JSON text."""

    id: str
    name: str
    arguments: str = "{}"
    # Opaque provider data that must be sent back unchanged (Gemini thought signatures).
    signature: str | None = None
    type: Literal["function"] = "function"


@attrs.frozen(slots=False)
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with one ``index`` concatenate."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    signature: str | None = None


# --------------------------------------------------------------------------- messages


def _text_or_parts(value: str | Iterable[ContentPart]) -> str | tuple[ContentPart, ...]:
    # ``_text_or_tuple`` typed with the parts so that ``UserMessage(...)`` is checked; not
    # a call of it, which would double the converter's cost for every message built.
    return value if isinstance(value, str) else tuple(value)


@attrs.frozen(slots=False)
class SystemMessage:
    """Instructions for the model."""

    content: str
    role: Literal["system"] = "system"
    cache_control: bool = False


@attrs.frozen(slots=False)
class DeveloperMessage:
    """Developer instructions (OpenAI's successor of system messages)."""

    content: str
    role: Literal["developer"] = "developer"


@attrs.frozen(slots=False)
class UserMessage:
    """A user turn: plain text or a tuple of content parts."""

    content: str | tuple[ContentPart, ...] = attrs.field(converter=_text_or_parts)
    role: Literal["user"] = "user"
    name: str | None = None
    cache_control: bool = False


@attrs.frozen(slots=False)
class ThinkingBlock:
    """Model reasoning returned by the provider, kept so it can be sent back verbatim."""

    text: str
    signature: str | None = None
    redacted: bool = False


@attrs.frozen(slots=False)
class AssistantMessage:
    """A model turn, possibly with tool calls and reasoning."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tuple)
    thinking: tuple[ThinkingBlock, ...] = attrs.field(default=(), converter=_tuple)
    refusal: str | None = None
    role: Literal["assistant"] = "assistant"
    name: str | None = None


@attrs.frozen(slots=False)
class ToolMessage:
    """The result of a tool call, sent back to the model."""

    content: str
    tool_call_id: str
    name: str | None = None
    role: Literal["tool"] = "tool"
    is_error: bool = False


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage


# --------------------------------------------------------------------------- response formats


@attrs.frozen(slots=False)
class TextResponseFormat:
    """Plain text output (the default)."""

    type: Literal["text"] = "text"


@attrs.frozen(slots=False)
class JsonObjectResponseFormat:
    """Any valid JSON object."""

    type: Literal["json_object"] = "json_object"


@attrs.frozen(slots=False)
class JsonSchemaResponseFormat:
    """JSON that follows ``schema`` (structured output)."""

    name: str
    schema: Mapping[str, Any] = attrs.field(hash=False)
    strict: bool = True
    description: str | None = None
    type: Literal["json_schema"] = "json_schema"


ResponseFormat = TextResponseFormat | JsonObjectResponseFormat | JsonSchemaResponseFormat


# --------------------------------------------------------------------------- usage


#: Usage's counts in field order: checked one by one to name a negative one, and summed.
_TOKEN_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)


@attrs.frozen(slots=False)
class Usage:
    """Token counts of one call.

    ``input_tokens`` counts every prompt token, including the cached ones reported in
    ``cache_read_tokens`` and ``cache_creation_tokens``; ``output_tokens`` includes
    ``reasoning_tokens``. Plugins normalise providers that count otherwise (Anthropic).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0

    def __attrs_post_init__(self) -> None:
        # Every answer and every usage chunk builds one: the five counts are checked in one
        # comparison (a validator per field was five calls), and looked at one by one only
        # to name the negative one.
        if (
            min(
                self.input_tokens,
                self.output_tokens,
                self.cache_read_tokens,
                self.cache_creation_tokens,
                self.reasoning_tokens,
            )
            < 0
        ):
            for name in _TOKEN_COUNTS:
                value = getattr(self, name)
                if value < 0:
                    msg = f"{name} must be >= 0, got {value}"
                    raise ValueError(msg)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, name) + getattr(other, name) for name in _TOKEN_COUNTS))


# --------------------------------------------------------------------------- requests


class FinishReason(str, enum.Enum):
    """Why generation stopped, the same values for every provider."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"


@attrs.frozen(slots=False)
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
    extra: Mapping[str, Any] = attrs.field(default=None, converter=_frozen_mapping, hash=False)
    extra_headers: Mapping[str, str] = attrs.field(
        default=None, converter=_frozen_mapping, hash=False
    )


@attrs.frozen(slots=False)
class EmbeddingRequest:
    """One embedding call: the model id (prefix removed) and the texts, in order."""

    model: str
    inputs: tuple[str, ...] = attrs.field(converter=_tuple)
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = attrs.field(default=None, converter=_frozen_mapping, hash=False)
    extra_headers: Mapping[str, str] = attrs.field(
        default=None, converter=_frozen_mapping, hash=False
    )


# --------------------------------------------------------------------------- responses


@attrs.frozen(slots=False)
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
        default=None, converter=_frozen_mapping, hash=False, eq=False, repr=False
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


@attrs.frozen(slots=False)
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


@attrs.frozen(slots=False)
class EmbeddingResponse:
    """Embedding vectors, one per input, in input order."""

    embeddings: tuple[tuple[float, ...], ...] = attrs.field(converter=_vectors)
    model: str
    provider: str
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None
    request_id: str | None = None
    headers: Mapping[str, str] = attrs.field(
        default=None, converter=_frozen_mapping, hash=False, eq=False, repr=False
    )
    # Seconds from the start of the call to the answer, set by the core.
    latency: float | None = attrs.field(default=None, eq=False, hash=False)
