"""OpenAI wire dicts for Responses, text-completion and transcription answers.

What the drop-in client (:mod:`lmux_plug.openai`) returns and the gateway sends is the same
JSON the OpenAI API sends, whichever provider answered: a Responses ``response`` object and
its stream events, a ``text_completion`` and its chunks, a transcription in the asked
``response_format``. One module, so the two stay identical.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug._aclose import aclose_if_any
from lmux_plug._types import AssistantMessage
from lmux_plug._types import ToolCall

if TYPE_CHECKING:
    from lmux_plug._api_types import CompletionChunk
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import ResponseChunk
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._api_types import TranscriptionResponse
    from lmux_plug._types import Usage

__all__ = [
    "ResponseEventWriter",
    "completion_chunk_dict",
    "completion_dict",
    "primed",
    "response_dict",
    "transcription_body",
]


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _item(item: Any, index: int, response: ResponseResponse) -> dict[str, Any]:
    if isinstance(item, AssistantMessage):
        content: list[dict[str, Any]] = []
        if item.content is not None:
            content.append(
                {
                    "type": "output_text",
                    "text": item.content,
                    "annotations": [dict(c) for c in response.citations],
                    "logprobs": [],
                }
            )
        if item.refusal is not None:
            content.append({"type": "refusal", "refusal": item.refusal})
        return {
            "id": f"msg_{response.id}_{index}",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": content,
        }
    if isinstance(item, ToolCall):
        return {
            "id": f"fc_{response.id}_{index}",
            "type": "function_call",
            "status": "completed",
            "call_id": item.id,
            "name": item.name,
            "arguments": item.arguments,
        }
    return dict(item)


def response_dict(
    response: ResponseResponse, *, model: str | None = None, status: str | None = None
) -> dict[str, Any]:
    """A Responses ``response`` object for ``response`` (``model``: the name to show)."""
    return {
        "id": response.id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status or response.status,
        "model": model or response.model,
        "output": [_item(item, i, response) for i, item in enumerate(response.output)],
        "incomplete_details": (
            dict(response.incomplete_details) if response.incomplete_details else None
        ),
        "error": dict(response.error) if response.error else None,
        "previous_response_id": response.previous_response_id,
        "usage": _usage(response.usage),
    }


class ResponseEventWriter:
    """Turns :class:`ResponseChunk` values into Responses stream events (dicts).

    A chunk that carries the provider's own event (``chunk.data``) is passed on as it came,
    with its ``response`` re-rendered when a model name must show; chunks built by offline
    providers get the event shape here. ``sequence_number`` is renumbered from 0.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.response: ResponseResponse | None = None
        self._sequence = 0

    def feed(self, chunk: ResponseChunk) -> dict[str, Any]:
        """The event for ``chunk``."""
        if chunk.response is not None:
            self.response = chunk.response
            event: dict[str, Any] = {
                "type": chunk.type,
                "response": response_dict(chunk.response, model=self.model),
            }
        elif chunk.data:
            event = dict(chunk.data)
            if isinstance(event.get("response"), Mapping):
                event["response"] = {**event["response"], "model": self.model}
        else:
            event = {"type": chunk.type}
            if chunk.type == "response.created":
                event["response"] = {
                    "id": "resp_pending",
                    "object": "response",
                    "status": "in_progress",
                    "model": self.model,
                    "output": [],
                }
            elif chunk.delta or chunk.type.endswith(".delta"):
                event.update(
                    item_id="msg_0",
                    output_index=0,
                    content_index=0,
                    delta=chunk.delta or chunk.reasoning_delta,
                )
                if chunk.tool_call_delta is not None:
                    event["delta"] = chunk.tool_call_delta.arguments
                    event["output_index"] = chunk.tool_call_delta.index
        event["sequence_number"] = self._sequence
        self._sequence += 1
        return event


def completion_dict(response: CompletionResponse, *, model: str | None = None) -> dict[str, Any]:
    """A ``text_completion`` object for ``response``."""
    texts = response.choices or (response.text,)
    return {
        "id": response.id or f"cmpl-{abs(hash((response.text, response.model))):x}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model or response.model,
        "choices": [
            {
                "text": text,
                "index": index,
                "logprobs": None,
                "finish_reason": response.finish_reason.value if index == 0 else "stop",
            }
            for index, text in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": response.usage.input_tokens,
            "completion_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        },
    }


def completion_chunk_dict(chunk: CompletionChunk, *, model: str, chunk_id: str) -> dict[str, Any]:
    """A streamed ``text_completion`` chunk (usage on the terminal chunk, when known)."""
    data: dict[str, Any] = {
        "id": chunk.id or chunk_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "text": chunk.delta,
                "index": chunk.index,
                "logprobs": None,
                "finish_reason": chunk.finish_reason.value if chunk.finish_reason else None,
            }
        ],
    }
    if chunk.usage is not None:
        data["usage"] = {
            "prompt_tokens": chunk.usage.input_tokens,
            "completion_tokens": chunk.usage.output_tokens,
            "total_tokens": chunk.usage.total_tokens,
        }
    return data


def transcription_body(
    response: TranscriptionResponse, response_format: str | None
) -> tuple[dict[str, Any] | str, str]:
    """The answer in ``response_format`` and its media type (JSON object or plain text)."""
    if response_format in ("text", "srt", "vtt"):
        return response.text, "text/plain"
    body: dict[str, Any] = {"text": response.text}
    if response_format in ("verbose_json", "diarized_json"):
        body.update(
            task="transcribe",
            language=response.language,
            duration=response.duration,
            segments=[
                {
                    key: value
                    for key, value in (
                        ("id", s.id if s.id is not None else i),
                        ("start", s.start),
                        ("end", s.end),
                        ("text", s.text),
                        ("speaker", s.speaker),
                    )
                    if value is not None
                }
                for i, s in enumerate(response.segments)
            ],
        )
        if response.words:
            body["words"] = [dict(w) for w in response.words]
    if response.duration is not None and not response.usage.total_tokens:
        body["usage"] = {"type": "duration", "seconds": response.duration}
    elif response.usage.total_tokens:
        body["usage"] = {
            "type": "tokens",
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        }
    return body, "application/json"


async def primed(iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """``iterator`` with its first item already fetched, so a failure before it raises here.

    The drop-in client raises it from ``create``; the gateway answers it with its own HTTP
    status instead of a 200 stream carrying an error event. Closing the result closes
    ``iterator`` (and releases its connection).
    """
    try:
        first = await iterator.__anext__()
    except StopAsyncIteration:
        return _nothing()
    return _then(first, iterator)


async def _nothing() -> AsyncIterator[Any]:
    return
    yield  # pragma: no cover - makes this an async generator


async def _then(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await aclose_if_any(rest)
