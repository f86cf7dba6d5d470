"""Sans-IO codec for Ollama's native API (``/api/chat``, ``/api/embed``, ``/api/embeddings``).

Wire facts this module relies on:

* ``/api/chat`` streams by default, so a one-shot call must send ``"stream": false``;
  a stream is NDJSON whose last line has ``"done": true`` with ``done_reason`` and counts;
* tool calls carry their arguments as a JSON *object* and (before 2025 servers) no id:
  ids are synthesised from the position and the call, so the same bytes give the same ids;
* reasoning comes in ``message.thinking``; the request flag is ``think`` (a boolean, or
  ``"low"``/``"medium"``/``"high"`` for gpt-oss models);
* images are a list of bare base64 strings on the message; there are no URL images;
* errors are ``{"error": "..."}``, both as HTTP error bodies and as a line inside a stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import attrs

from lmux_plug import AssistantMessage
from lmux_plug import AudioContent
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import ContextLengthExceededError
from lmux_plug import DeveloperMessage
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import LmuxError
from lmux_plug import Message
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolMessage
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.wire import BaseCodec
from lmux_plug.wire import NDJSONDecoder
from lmux_plug.wire import WireRequest
from lmux_plug.wire import WireResponse
from lmux_plug.wire import count_of
from lmux_plug.wire import json_object
from lmux_plug.wire import merge_extra
from lmux_plug.wire import one_per_input
from lmux_plug.wire import reasoning_level
from lmux_plug.wire import sampling
from lmux_plug.wire import stream_event
from lmux_plug.wire import tool_arguments
from lmux_plug.wire import tool_call_id
from lmux_plug_ollama._host import normalise_base_url

if TYPE_CHECKING:
    from lmux_plug import ProviderContext

__all__ = [
    "CODEC",
    "OllamaCodec",
    "OllamaStreamDecoder",
    "decode_chat",
    "decode_embed",
    "decode_legacy_embedding",
    "encode_chat",
    "encode_embed",
    "encode_legacy_embedding",
    "error_from_line",
    "finish_reason_of",
    "usage_of",
]

_FINISH = {"stop": FinishReason.STOP, "length": FinishReason.LENGTH}


# --------------------------------------------------------------------------- requests


def _bad(message: str, model: str | None) -> InvalidRequestError:
    return InvalidRequestError(message, provider="ollama", model=model)


def _user(message: UserMessage, index: int, model: str) -> dict[str, Any]:
    if isinstance(message.content, str):
        return {"role": "user", "content": message.content}
    texts: list[str] = []
    images: list[str] = []
    for part in message.content:
        if isinstance(part, TextContent):
            texts.append(part.text)
        elif isinstance(part, ImageContent):
            data = part.base64_data
            if data is None:
                msg = (
                    f"message {index}: Ollama takes images as base64 only; pass a "
                    "'data:<type>;base64,...' URL instead of a link"
                )
                raise _bad(msg, model)
            images.append(data)
        elif isinstance(part, (AudioContent, FileContent)):
            msg = f"message {index}: Ollama chat does not accept {part.type} parts"
            raise _bad(msg, model)
    out: dict[str, Any] = {"role": "user", "content": "\n".join(texts)}
    if images:
        out["images"] = images
    return out


def _assistant(message: AssistantMessage, index: int, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": message.content or ""}
    thinking = "".join(b.text for b in message.thinking if not b.redacted)
    if thinking:
        out["thinking"] = thinking
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "function": {
                    "name": c.name,
                    "arguments": tool_arguments(c, index=index, provider="ollama", model=model),
                }
            }
            for c in message.tool_calls
        ]
    return out


def _messages(messages: tuple[Message, ...], model: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for index, message in enumerate(messages):
        if isinstance(message, (SystemMessage, DeveloperMessage)):
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            out.append(_user(message, index, model))
        elif isinstance(message, AssistantMessage):
            names.update((c.id, c.name) for c in message.tool_calls)
            out.append(_assistant(message, index, model))
        elif isinstance(message, ToolMessage):
            tool: dict[str, Any] = {"role": "tool", "content": message.content}
            # Ollama matches results to calls by function name, not id.
            name = message.name or names.get(message.tool_call_id)
            if name:
                tool["tool_name"] = name
            out.append(tool)
    if not out:
        raise _bad("at least one message is needed", model)
    return out


def _think(effort: str, model: str) -> bool | str:
    level = reasoning_level(effort, provider="ollama", model=model)
    if level == "none":
        return False
    if model.startswith("gpt-oss"):
        # gpt-oss takes low, medium or high; the others only switch thinking on or off.
        return {"minimal": "low", "xhigh": "high"}.get(level, level)
    return True


def encode_chat(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The ``/api/chat`` body for ``request``; ``stream`` is always sent explicitly.

    Raises :class:`InvalidRequestError` for input Ollama cannot take and
    :class:`UnsupportedFeatureError` for a ``tool_choice`` it cannot honour.
    ``request.extra`` is merged last (``options`` key by key).
    """
    model = request.model
    body: dict[str, Any] = {
        "model": model,
        "messages": _messages(request.messages, model),
        "stream": stream,
    }
    options = sampling(request, provider="ollama", max_tokens="num_predict")
    if options:
        body["options"] = options
    fmt = request.response_format
    if isinstance(fmt, JsonObjectResponseFormat):
        body["format"] = "json"
    elif isinstance(fmt, JsonSchemaResponseFormat):
        body["format"] = dict(fmt.schema)
    if request.reasoning_effort is not None:
        body["think"] = _think(request.reasoning_effort, model)
    choice = request.tool_choice
    if choice is not None and choice.mode in ("required", "function"):
        msg = f"Ollama has no tool_choice; {choice.mode!r} cannot be honoured"
        raise UnsupportedFeatureError(msg, provider="ollama", model=model)
    if request.tools and (choice is None or choice.mode != "none"):
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.function.name,
                    "description": t.function.description or "",
                    "parameters": dict(t.function.parameters),
                },
            }
            for t in request.tools
        ]
    return merge_extra(body, request.extra, nested=("options",))


def encode_embed(request: EmbeddingRequest) -> dict[str, Any]:
    """The ``/api/embed`` body: every input in one call."""
    body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    body.update(request.extra)
    return body


def encode_legacy_embedding(request: EmbeddingRequest, text: str) -> dict[str, Any]:
    """The legacy ``/api/embeddings`` body: one input per call."""
    body: dict[str, Any] = {"model": request.model, "prompt": text}
    body.update(request.extra)
    return body


# --------------------------------------------------------------------------- responses


def usage_of(body: Mapping[str, Any]) -> Usage:
    """Prompt and output token counts from a final chat line or an embed body."""
    return Usage(
        input_tokens=count_of(body, "prompt_eval_count"), output_tokens=count_of(body, "eval_count")
    )


def finish_reason_of(raw: Any, has_tool_calls: bool) -> FinishReason:
    """Map ``done_reason``; a normal stop after tool calls is ``TOOL_CALLS``."""
    reason = _FINISH.get(str(raw), FinishReason.OTHER) if raw is not None else FinishReason.STOP
    if reason is FinishReason.STOP and has_tool_calls:
        return FinishReason.TOOL_CALLS
    return reason


def _tool_calls(message: Mapping[str, Any], first_index: int) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []
    raw_calls = message.get("tool_calls")
    for raw in raw_calls if isinstance(raw_calls, list) else ():
        function = raw.get("function") if isinstance(raw, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            text = arguments  # some proxies already send JSON text
        else:
            text = json.dumps(arguments if isinstance(arguments, Mapping) else {})
        index = first_index + len(calls)
        calls.append(
            (
                tool_call_id(raw.get("id"), function.get("name"), function.get("arguments"), index),
                str(function.get("name", "")),
                text,
            )
        )
    return calls


def _message(body: Mapping[str, Any]) -> Mapping[str, Any]:
    message = body.get("message")
    return message if isinstance(message, Mapping) else {}


def decode_chat(body: Any, *, model: str, provider: str = "ollama") -> ChatResponse:
    """Decode a non-streamed ``/api/chat`` body (already parsed JSON)."""
    body = json_object(body, what="Ollama response", provider=provider, model=model)
    if "error" in body:
        raise error_from_line(body, model=model, provider=provider)
    message = _message(body)
    calls = tuple(ToolCall(id=i, name=n, arguments=a) for i, n, a in _tool_calls(message, 0))
    thinking = message.get("thinking")
    content = message.get("content")
    return ChatResponse(
        content=content if isinstance(content, str) else None,
        model=str(body.get("model") or model),
        provider=provider,
        finish_reason=finish_reason_of(body.get("done_reason"), bool(calls)),
        tool_calls=calls,
        usage=usage_of(body),
        thinking=(ThinkingBlock(text=thinking),) if isinstance(thinking, str) and thinking else (),
        raw=body,
    )


def _vectors(raw: Any, *, model: str, provider: str) -> list[tuple[float, ...]]:
    if not isinstance(raw, list):
        raise ProviderError(
            "Ollama embedding response has no vectors", provider=provider, model=model
        )
    vectors = []
    for vector in raw:
        if not isinstance(vector, list) or not all(isinstance(v, (int, float)) for v in vector):
            raise ProviderError(
                "Ollama returned a malformed vector", provider=provider, model=model
            )
        vectors.append(tuple(float(v) for v in vector))
    return vectors


def decode_embed(
    body: Any, *, model: str, expected: int, provider: str = "ollama"
) -> EmbeddingResponse:
    """Decode an ``/api/embed`` body; the vector count must match the inputs."""
    mapping = body if isinstance(body, Mapping) else {}
    vectors = _vectors(mapping.get("embeddings"), model=model, provider=provider)
    one_per_input(vectors, expected, source="Ollama", provider=provider, model=model)
    return EmbeddingResponse(
        embeddings=vectors,
        model=str(mapping.get("model") or model),
        provider=provider,
        usage=Usage(input_tokens=count_of(mapping, "prompt_eval_count")),
    )


def decode_legacy_embedding(
    body: Any, *, model: str, provider: str = "ollama"
) -> tuple[float, ...]:
    """Decode one legacy ``/api/embeddings`` body into its vector."""
    mapping = body if isinstance(body, Mapping) else {}
    return _vectors([mapping.get("embedding")], model=model, provider=provider)[0]


# --------------------------------------------------------------------------- errors


def error_from_line(
    body: Mapping[str, Any],
    *,
    model: str | None,
    provider: str = "ollama",
    status: int | None = None,
) -> LmuxError:
    """The error for an ``{"error": "..."}`` object met in a 200 body or inside a stream."""
    raw = body.get("error")
    message = raw if isinstance(raw, str) else json.dumps(raw)
    lower = message.lower()
    context: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status_code": status,
        "body": json.dumps(body)[:2000],
    }
    if "not found" in lower and ("model" in lower or "pull" in lower):
        return NotFoundError(message, **context)
    if "context" in lower and ("length" in lower or "window" in lower or "exceed" in lower):
        return ContextLengthExceededError(message, **context)
    return ProviderError(message, **context)


# --------------------------------------------------------------------------- streaming


class OllamaStreamDecoder:
    """Feed raw NDJSON bytes; get :class:`ChatChunk` values; call :meth:`finish` at the end.

    The ``done: true`` line becomes the single terminal chunk (with any content it carries,
    the finish reason and usage). :meth:`finish` raises :class:`ProviderError` when the
    stream ended without that line; an ``{"error": ...}`` line raises the matching error.
    """

    def __init__(self, *, model: str, provider: str = "ollama") -> None:
        self.model = model
        self.provider = provider
        self._lines = NDJSONDecoder()
        self._calls = 0
        self._done = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Add bytes (split anywhere); return the chunks of the lines they complete."""
        return self._decode(self._lines.feed(data))

    def close(self) -> list[ChatChunk]:
        """End of stream (the driver's shape): same as :meth:`finish`."""
        return self.finish()

    def finish(self) -> list[ChatChunk]:
        """End of stream: chunks of a last unterminated line; raise if ``done`` never came."""
        truncated = ProviderError(
            "Ollama stream ended without a 'done' line (truncated)",
            provider=self.provider,
            model=self.model,
        )
        rest = self._lines.flush()
        for line in rest:
            try:
                json.loads(line)
            except ValueError:
                # Half a line at the end: the connection was cut mid-line.
                raise truncated from None
        chunks = self._decode(rest)
        if not self._done:
            raise truncated
        return chunks

    def _decode(self, lines: list[str]) -> list[ChatChunk]:
        chunks = []
        for line in lines:
            if self._done:
                continue  # nothing after the final line counts
            event = stream_event(
                line, what="Ollama stream line", provider=self.provider, model=self.model
            )
            if "error" in event:
                raise error_from_line(event, model=self.model, provider=self.provider)
            chunk = self._chunk(event)
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _chunk(self, event: Mapping[str, Any]) -> ChatChunk | None:
        message = _message(event)
        calls = _tool_calls(message, self._calls)
        deltas = tuple(
            ToolCallDelta(index=self._calls + n, id=i, name=name, arguments=a)
            for n, (i, name, a) in enumerate(calls)
        )
        self._calls += len(deltas)
        content = message.get("content")
        thinking = message.get("thinking")
        text = content if isinstance(content, str) else ""
        thought = thinking if isinstance(thinking, str) else ""
        model = str(event.get("model") or self.model)
        if event.get("done"):
            self._done = True
            return ChatChunk(
                delta=text,
                thinking_delta=thought,
                tool_call_deltas=deltas,
                finish_reason=finish_reason_of(event.get("done_reason"), self._calls > 0),
                usage=usage_of(event),
                model=model,
                provider=self.provider,
            )
        if not (text or thought or deltas):
            return None
        return ChatChunk(
            delta=text,
            thinking_delta=thought,
            tool_call_deltas=deltas,
            model=model,
            provider=self.provider,
        )


# --------------------------------------------------------------------------- the codec


def endpoint(provider: ProviderContext, path: str) -> str:
    """``path`` (``/api/chat`` ...) on the provider's base URL, ``OLLAMA_HOST`` spellings read.

    Model ids travel in the JSON body, never in the URL path.
    """
    return normalise_base_url(provider.base_url) + path


class OllamaCodec(BaseCodec):
    """Ollama's native wire: ``/api/chat`` (JSON, NDJSON streams) and ``/api/embed``."""

    chat_decoder = staticmethod(decode_chat)
    embed_decoder = staticmethod(decode_embed)
    stream_decoder_class = OllamaStreamDecoder

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """``POST /api/chat`` with ``stream`` set as asked."""
        return WireRequest(endpoint(provider, "/api/chat"), encode_chat(request, stream=stream))

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """``POST /api/embed`` with every input."""
        return WireRequest(endpoint(provider, "/api/embed"), encode_embed(request))

    # -- embeddings on servers older than /api/embed --------------------------------------

    def embed_api(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> tuple[str, EmbeddingRequest]:
        """The endpoint asked for (``auto``, ``embed``, ``embeddings``) and the request without it.

        ``extra_body={"embed_api": ...}`` wins over the provider option ``embed_api``.
        """
        extra = dict(request.extra)
        api = str(extra.pop("embed_api", provider.option("embed_api", "auto")))
        if api not in EMBED_APIS:
            msg = f"embed_api must be one of {', '.join(EMBED_APIS)}, got {api!r}"
            raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        return api, attrs.evolve(request, extra=extra)

    @staticmethod
    def endpoint_missing(error: NotFoundError) -> bool:
        """Whether a 404 means "no /api/embed here" (not "no such model")."""
        # An unknown *model* is a JSON {"error": "model ... not found"}; an unknown
        # *endpoint* (a server older than /api/embed) is Go's plain "404 page not found".
        return "model" not in (error.body or "").lower()

    def encode_legacy_embeds(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> list[WireRequest]:
        """One ``POST /api/embeddings`` per input (the legacy endpoint takes one text)."""
        if request.dimensions is not None:
            msg = "the legacy /api/embeddings endpoint cannot set dimensions"
            raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        url = endpoint(provider, "/api/embeddings")
        return [WireRequest(url, encode_legacy_embedding(request, text)) for text in request.inputs]

    def decode_legacy_embeds(
        self,
        responses: Sequence[WireResponse],
        request: EmbeddingRequest,
        provider: ProviderContext,
    ) -> EmbeddingResponse:
        """The vectors of the legacy answers, in input order (that endpoint counts no tokens)."""
        vectors = [
            decode_legacy_embedding(
                response.json(provider=provider.name, model=request.model),
                model=request.model,
                provider=provider.name,
            )
            for response in responses
        ]
        return EmbeddingResponse(
            embeddings=vectors,
            model=request.model,
            provider=provider.name,
            usage=Usage(),
            headers=dict(responses[-1].headers) if responses else {},
        )


#: The ``embed_api`` values (provider option or ``extra_body`` field).
EMBED_APIS = ("auto", "embed", "embeddings")
#: The codec instance the plugin's hooks drive.
CODEC = OllamaCodec()
