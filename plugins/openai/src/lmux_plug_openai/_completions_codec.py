"""Sans-IO codec for legacy text completions (``POST /completions``).

Finish reasons are normalised as in chat (``eos`` → stop, ``length``, ...). In a stream the
terminal chunk is emitted once, at ``data: [DONE]`` (or at the end of the body when a finish
reason was seen): it carries the finish reason and the usage from wherever the provider put it
(a usage-only chunk after the finish, usage on the finish chunk, Groq's ``x_groq.usage``), so a
finish reason the wire repeats on a trailing chunk is still one terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmux_plug import CompletionChunk
from lmux_plug import CompletionRequest
from lmux_plug import CompletionResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import Usage
from lmux_plug_openai._bodies import body_with
from lmux_plug_openai._bodies import finished
from lmux_plug_openai._codec import finish_reason_of
from lmux_plug_openai._codec import request_id_of
from lmux_plug_openai._codec import usage_of
from lmux_plug_openai._event_stream import EventStreamDecoder
from lmux_plug_openai._event_stream import answer_decoder

__all__ = ["CompletionStreamDecoder", "decode_completion", "encode_completion"]

_FIELDS = (
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "n",
    "suffix",
    "echo",
    "logprobs",
    "presence_penalty",
    "frequency_penalty",
    "user",
)


def encode_completion(
    request: CompletionRequest, options: Mapping[str, Any], *, stream: bool = False
) -> dict[str, Any]:
    """The JSON body of ``POST /completions``; ``extra`` is merged last."""
    prompt = request.prompt if isinstance(request.prompt, str) else list(request.prompt)
    body = body_with(request, _FIELDS, prompt=prompt)
    if request.max_tokens is not None and (
        isinstance(request.max_tokens, bool) or request.max_tokens < 1
    ):
        msg = f"max_tokens must be a positive integer, got {request.max_tokens!r}"
        raise InvalidRequestError(msg, model=request.model)
    if request.stop is not None:
        body["stop"] = list(request.stop)
    if stream:
        body["stream"] = True
        if options.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
    return finished(body, request)


def _choices(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = payload.get("choices")
    found = [c for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []
    return sorted(found, key=_index)


def _index(choice: Mapping[str, Any]) -> int:
    value = choice.get("index")
    return value if isinstance(value, int) else 0


def _usage(payload: Mapping[str, Any]) -> Usage | None:
    usage = usage_of(payload.get("usage"))
    if usage is None:
        groq = payload.get("x_groq")
        usage = usage_of(groq.get("usage")) if isinstance(groq, Mapping) else None
    return usage


def completion_from_payload(
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
    secrets: tuple[str, ...],  # noqa: ARG001 - a completion body carries no error text to scrub
) -> CompletionResponse:
    """Decode a completion object (``headers``: lower-cased)."""
    choices = _choices(payload)
    if not choices:
        msg = f"{provider} answered a completion without choices"
        raise ProviderError(msg, provider=provider, model=model)
    texts = tuple(str(c.get("text") or "") for c in choices)
    return CompletionResponse(
        text=texts[0],
        model=str(payload.get("model") or model),
        provider=provider,
        finish_reason=finish_reason_of(choices[0].get("finish_reason")),
        usage=_usage(payload) or Usage(),
        id=str(payload["id"]) if payload.get("id") is not None else None,
        choices=texts,
        request_id=request_id_of(headers),
        headers=headers,
        raw=payload,
    )


#: Decode a whole ``POST /completions`` answer.
decode_completion = answer_decoder("choices", "a completion", completion_from_payload)


class CompletionStreamDecoder(EventStreamDecoder[CompletionChunk]):
    """Turn the bytes of a streamed completion into :class:`CompletionChunk` values."""

    what = "completion stream"

    def _start(self) -> None:
        self._request_id = request_id_of(self._headers)
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._id: str | None = None

    def _on_done(self) -> list[CompletionChunk]:
        return [self._terminal()]

    def _at_end(self) -> list[CompletionChunk]:
        # A finish reason without [DONE] (lax servers) still ends the stream properly.
        return [self._terminal()] if self._finish is not None else super()._at_end()

    def _terminal(self) -> CompletionChunk:
        self.done = True
        return CompletionChunk(
            finish_reason=self._finish or FinishReason.STOP,
            usage=self._usage,
            model=self._model,
            provider=self._provider,
            id=self._id,
            request_id=self._request_id,
        )

    def _on_event(self, name: str, payload: Mapping[str, Any]) -> list[CompletionChunk]:
        if name == "error" or payload.get("error") is not None:
            self._raise(payload)
        if self._id is None and payload.get("id") is not None:
            self._id = str(payload["id"])
        usage = _usage(payload)
        if usage is not None:
            self._usage = usage
        out: list[CompletionChunk] = []
        for choice in _choices(payload):
            text = choice.get("text")
            if isinstance(text, str) and text:
                out.append(
                    CompletionChunk(
                        delta=text,
                        index=_index(choice),
                        model=self._model,
                        provider=self._provider,
                        id=self._id,
                        request_id=self._request_id,
                    )
                )
            reason = choice.get("finish_reason")
            if reason is not None and self._finish is None:
                self._finish = finish_reason_of(reason)
        return out
