"""Build Responses / completion / transcription answers and their streams from plain text.

Offline providers (``echo``, :class:`~lmux_plug.testing.MockProvider`, lmux-style provider
adapters) answer with text; these helpers give that text the exact shapes a real provider's
answer has, including the stream event sequence of the Responses API, so callers see the
same types and event order whichever provider answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

from lmux_plug._api_types import CompletionChunk
from lmux_plug._api_types import CompletionResponse
from lmux_plug._api_types import ResponseChunk
from lmux_plug._api_types import ResponseResponse
from lmux_plug._api_types import TranscriptionChunk
from lmux_plug._api_types import TranscriptionResponse
from lmux_plug._types import AssistantMessage
from lmux_plug._types import ChatChunk
from lmux_plug._types import FinishReason
from lmux_plug._types import ToolCall
from lmux_plug._types import ToolCallDelta
from lmux_plug._types import Usage

__all__ = [
    "chat_chunks",
    "completion_chunks",
    "input_text",
    "response_events",
    "response_from_text",
    "synthetic_id",
    "transcription_chunks",
    "words",
]

_C = TypeVar("_C")  # a chunk type: ChatChunk or CompletionChunk


def synthetic_id(prefix: str, *parts: object) -> str:
    """A stable id derived from ``parts`` (same input, same id)."""
    seed = json.dumps([str(p) for p in parts])
    return f"{prefix}_{hashlib.sha256(seed.encode()).hexdigest()[:24]}"


def words(text: str) -> list[str]:
    """``text`` split after each space, so the pieces concatenate back to ``text``."""
    pieces = text.split(" ")
    out = [p if i == len(pieces) - 1 else p + " " for i, p in enumerate(pieces)]
    return [p for p in out if p]


def input_text(value: str | Iterable[Mapping[str, Any]]) -> str:
    """The text of the last user turn of a Responses ``input`` (for echo-style answers)."""
    if isinstance(value, str):
        return value
    for item in reversed(list(value)):
        if item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
            return " ".join(t for t in texts if isinstance(t, str) and t)
    return ""


def response_from_text(
    text: str,
    *,
    model: str,
    provider: str,
    usage: Usage,
    tool_calls: tuple[ToolCall, ...] = (),
    response_id: str | None = None,
) -> ResponseResponse:
    """A completed ``ResponseResponse`` whose output is ``text`` and then ``tool_calls``."""
    output: list[Any] = []
    if text:
        output.append(AssistantMessage(content=text))
    output.extend(tool_calls)
    return ResponseResponse(
        id=response_id or synthetic_id("resp", model, text, *tool_calls),
        model=model,
        provider=provider,
        status="completed",
        output_text=text,
        output=output,
        tool_calls=tool_calls,
        usage=usage,
    )


def response_events(response: ResponseResponse) -> list[ResponseChunk]:
    """The Responses stream of ``response``: created, text deltas, call arguments, completed."""
    events = [ResponseChunk(type="response.created")]
    events.extend(
        ResponseChunk(type="response.output_text.delta", delta=piece)
        for piece in words(response.output_text)
    )
    if response.output_text:
        events.append(ResponseChunk(type="response.output_text.done"))
    for index, call in enumerate(response.tool_calls):
        delta = ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
        events.append(
            ResponseChunk(type="response.function_call_arguments.delta", tool_call_delta=delta)
        )
    final = "response.incomplete" if response.status == "incomplete" else "response.completed"
    events.append(ResponseChunk(type=final, response=response, usage=response.usage))
    return events


def _streamed(
    make: Callable[..., _C], text: str, model: str, provider: str, **final: Any
) -> list[_C]:
    """``text`` as one ``make`` chunk per word, then a terminal chunk with ``final``'s fields."""
    chunks = [make(delta=piece, model=model, provider=provider) for piece in words(text)]
    chunks.append(make(model=model, provider=provider, **final))
    return chunks


def chat_chunks(
    text: str,
    tool_calls: Sequence[ToolCall],
    finish_reason: FinishReason | None,
    usage: Usage | None,
    *,
    model: str,
    provider: str,
) -> list[ChatChunk]:
    """A chat answer streamed word by word, then its tool calls, finish reason and usage.

    What ``echo`` and :class:`~lmux_plug.testing.MockProvider` stream for a whole answer.
    """
    deltas = tuple(
        ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
        for i, c in enumerate(tool_calls)
    )
    return _streamed(
        ChatChunk,
        text,
        model,
        provider,
        tool_call_deltas=deltas,
        finish_reason=finish_reason,
        usage=usage,
    )


def completion_chunks(response: CompletionResponse) -> list[CompletionChunk]:
    """``response`` streamed word by word; the terminal chunk has the finish reason and usage."""
    return _streamed(
        CompletionChunk,
        response.text,
        response.model,
        response.provider,
        finish_reason=response.finish_reason,
        usage=response.usage,
        id=response.id,
    )


def transcription_chunks(response: TranscriptionResponse) -> list[TranscriptionChunk]:
    """``response`` as ``transcript.text.delta`` events and a final ``transcript.text.done``."""
    chunks = [
        TranscriptionChunk(type="transcript.text.delta", delta=piece)
        for piece in words(response.text)
    ]
    chunks.append(
        TranscriptionChunk(type="transcript.text.done", response=response, usage=response.usage)
    )
    return chunks
