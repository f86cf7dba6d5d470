"""Value types of the Responses, text-completion and transcription APIs.

Like :mod:`lmux_plug._types`, every class is an ``attrs`` frozen class. Requests are what a
plugin's hook receives (model id without the prefix, typed parameters, ``extra`` body fields
merged last); responses and chunks are what callers get back, normalised across providers.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Literal

import attrs

from lmux_plug._declarations import _frozen_mapping
from lmux_plug._declarations import _text_or_tuple
from lmux_plug._declarations import _tuple
from lmux_plug._pricing import Cost
from lmux_plug._types import AssistantMessage
from lmux_plug._types import FinishReason
from lmux_plug._types import Tool
from lmux_plug._types import ToolCall
from lmux_plug._types import ToolCallDelta
from lmux_plug._types import ToolChoice
from lmux_plug._types import Usage

__all__ = [
    "CompletionChunk",
    "CompletionRequest",
    "CompletionResponse",
    "FunctionCallDelta",
    "FunctionCallResult",
    "ResponseChunk",
    "ResponseOutputItem",
    "ResponseRequest",
    "ResponseResponse",
    "ToolChoiceFunction",
    "TranscriptionChunk",
    "TranscriptionRequest",
    "TranscriptionResponse",
    "TranscriptionSegment",
]


def _optional_tuple(value: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else _tuple(value)


def _frozen_field() -> Any:
    """A mapping of provider-specific body fields or headers (not hashed)."""
    return attrs.field(factory=dict, converter=_frozen_mapping, hash=False)


def _headers_field() -> Any:
    return attrs.field(factory=dict, converter=_frozen_mapping, hash=False, eq=False, repr=False)


# --------------------------------------------------------------------------- lmux names


@attrs.frozen
class ToolChoiceFunction:
    """Force a call of the function ``name`` (lmux's name; same as ``ToolChoice.function``)."""

    name: str
    type: Literal["function"] = "function"

    def to_tool_choice(self) -> ToolChoice:
        """The core :class:`ToolChoice` this stands for."""
        return ToolChoice.function(self.name)


@attrs.frozen
class FunctionCallResult:
    """The function name and JSON argument text of a complete call (lmux's shape)."""

    name: str
    arguments: str = "{}"


@attrs.frozen
class FunctionCallDelta:
    """A fragment of a streamed function call (lmux's shape)."""

    name: str | None = None
    arguments: str | None = None


# --------------------------------------------------------------------------- Responses


#: An item of ``ResponseResponse.output``: a typed message or tool call where the core has a
#: type, else the provider's item unchanged (reasoning, hosted tool calls, ...).
ResponseOutputItem = AssistantMessage | ToolCall | Mapping[str, Any]


@attrs.frozen
class ResponseRequest:
    """One Responses-API call as plugins see it.

    ``input`` is a string or a tuple of Responses input items (plain dicts, as the wire
    has them; typed messages and tool calls are converted before the plugin sees them).
    ``tools`` holds core :class:`Tool` values (function tools) and raw dicts (hosted tools
    such as ``{"type": "web_search"}``). ``text`` is the Responses ``text`` object
    (format and verbosity). ``extra`` carries other body fields, merged last.
    """

    model: str
    input: str | tuple[Mapping[str, Any], ...] = attrs.field(converter=_text_or_tuple)
    instructions: str | None = None
    tools: tuple[Tool | Mapping[str, Any], ...] | None = attrs.field(
        default=None, converter=_optional_tuple, hash=False
    )
    tool_choice: ToolChoice | None = None
    text: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    reasoning: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    previous_response_id: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    store: bool | None = None
    include: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    prompt_cache_key: str | None = None
    parallel_tool_calls: bool | None = None
    metadata: Mapping[str, str] | None = attrs.field(default=None, hash=False)
    user: str | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = _frozen_field()
    extra_headers: Mapping[str, str] = _frozen_field()


@attrs.frozen
class ResponseResponse:
    """A complete Responses-API answer.

    ``output`` keeps every output item in order: an :class:`AssistantMessage` for a message
    item, a :class:`ToolCall` for a function call (``id`` is the ``call_id`` that a
    ``function_call_output`` refers back to), and the provider's dict for everything else
    (reasoning and encrypted reasoning items, which stateless multi-turn sends back
    unchanged; hosted tool calls such as ``web_search_call``). ``citations`` are the
    annotations of the message text (URL and file citations), in order.
    """

    id: str
    model: str
    provider: str
    status: str = "completed"
    output_text: str = ""
    output: tuple[ResponseOutputItem, ...] = attrs.field(default=(), converter=_tuple, hash=False)
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tuple)
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None
    incomplete_details: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    error: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    citations: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_tuple, hash=False)
    reasoning: str = ""
    refusal: str | None = None
    previous_response_id: str | None = None
    request_id: str | None = None
    headers: Mapping[str, str] = _headers_field()
    raw: Any = attrs.field(default=None, eq=False, repr=False, hash=False)
    #: Seconds from sending the call to the whole answer, set by the registry.
    latency: float | None = attrs.field(default=None, eq=False, hash=False)

    @property
    def content(self) -> str:
        """The output text (the name chat users know)."""
        return self.output_text

    @property
    def input_items(self) -> tuple[Mapping[str, Any], ...]:
        """``output`` as Responses input items, to send back in a stateless next turn."""
        from lmux_plug._api_params import output_to_input  # noqa: PLC0415 - avoids a cycle

        return output_to_input(self.output)


@attrs.frozen
class ResponseChunk:
    """One event of a streamed Responses-API answer.

    ``type`` is the Responses event type (``response.output_text.delta``, ...); ``delta``
    is output text only (empty for other events); ``reasoning_delta`` carries reasoning
    text; ``tool_call_delta`` a fragment of a function call's arguments. The last chunk
    (``response.completed`` or ``response.incomplete``) carries ``response``, the whole
    :class:`ResponseResponse`, and its usage and cost.
    """

    type: str
    delta: str = ""
    reasoning_delta: str = ""
    tool_call_delta: ToolCallDelta | None = None
    item: Mapping[str, Any] | None = attrs.field(default=None, hash=False, repr=False)
    response: ResponseResponse | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    sequence_number: int | None = None
    data: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False, eq=False, repr=False
    )


# --------------------------------------------------------------------------- completions


@attrs.frozen
class CompletionRequest:
    """One legacy text-completion call (``/v1/completions``) as plugins see it."""

    model: str
    prompt: str | tuple[str, ...] = attrs.field(converter=_text_or_tuple)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    seed: int | None = None
    n: int | None = None
    suffix: str | None = None
    echo: bool | None = None
    logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    timeout: float | None = None
    extra: Mapping[str, Any] = _frozen_field()
    extra_headers: Mapping[str, str] = _frozen_field()


@attrs.frozen
class CompletionResponse:
    """A complete text completion; ``choices`` holds every choice's text when ``n > 1``."""

    text: str
    model: str
    provider: str
    finish_reason: FinishReason = FinishReason.STOP
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None
    id: str | None = None
    choices: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    request_id: str | None = None
    headers: Mapping[str, str] = _headers_field()
    raw: Any = attrs.field(default=None, eq=False, repr=False, hash=False)
    #: Seconds from sending the call to the whole answer, set by the registry.
    latency: float | None = attrs.field(default=None, eq=False, hash=False)


@attrs.frozen
class CompletionChunk:
    """One piece of a streamed completion; exactly one chunk has ``finish_reason``.

    Usage and cost ride on that terminal chunk (or the last chunk, when the provider sends
    usage after the finish reason).
    """

    delta: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    cost: Cost | None = None
    index: int = 0
    model: str | None = None
    provider: str | None = None
    id: str | None = None
    request_id: str | None = None


# --------------------------------------------------------------------------- transcription


@attrs.frozen
class TranscriptionRequest:
    """One transcription call: the audio bytes, the file name they are uploaded as, options.

    ``response_format`` is the provider's (``json``, ``verbose_json``, ``text``,
    ``diarized_json``, ...); ``timestamp_granularities`` asks for ``segment`` / ``word``.
    """

    model: str
    audio: bytes = attrs.field(repr=lambda v: f"<{len(v)} bytes>")
    filename: str = "audio.wav"
    media_type: str = "application/octet-stream"
    language: str | None = None
    prompt: str | None = None
    response_format: str | None = None
    temperature: float | None = None
    timestamp_granularities: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_tuple
    )
    timeout: float | None = None
    extra: Mapping[str, Any] = _frozen_field()
    extra_headers: Mapping[str, str] = _frozen_field()


@attrs.frozen
class TranscriptionSegment:
    """A stretch of the transcript with its times in seconds, and its speaker if diarized."""

    text: str
    start: float = 0.0
    end: float = 0.0
    speaker: str | None = None
    id: str | int | None = None


@attrs.frozen
class TranscriptionResponse:
    """A transcript.

    ``duration`` is the audio length in seconds where the provider reports it (whisper-style
    usage in seconds lands here too); ``usage`` holds token counts where the provider bills
    tokens; ``cost`` comes from per-minute prices for duration-billed models.
    """

    text: str
    model: str
    provider: str
    language: str | None = None
    duration: float | None = None
    segments: tuple[TranscriptionSegment, ...] = attrs.field(default=(), converter=_tuple)
    words: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_tuple, hash=False)
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None
    request_id: str | None = None
    headers: Mapping[str, str] = _headers_field()
    raw: Any = attrs.field(default=None, eq=False, repr=False, hash=False)
    #: Seconds from sending the call to the whole answer, set by the registry.
    latency: float | None = attrs.field(default=None, eq=False, hash=False)


@attrs.frozen
class TranscriptionChunk:
    """One event of a streamed transcription (``transcript.text.delta`` / ``.done``).

    ``delta`` is new transcript text; the last chunk carries ``response``, the whole
    :class:`TranscriptionResponse`, and its usage and cost.
    """

    type: str
    delta: str = ""
    response: TranscriptionResponse | None = None
    usage: Usage | None = None
    cost: Cost | None = None
