"""Sans-IO codec for the Gemini API: typed requests to wire dicts, wire bytes to typed values.

Nothing here does I/O, so the same code serves the async hooks, the sync API and tests
that split a stream at arbitrary byte boundaries.

Wire facts this module relies on:

* roles are ``user`` and ``model``; system text goes to ``systemInstruction``;
* a tool result is a ``functionResponse`` part that names the *function* (not a call id),
  so the name is looked up from the assistant turn that made the call;
* function calls may carry no id: ids are synthesised from the response id, position and
  call, so decoding the same bytes always gives the same ids;
* ``thoughtSignature`` on a part must be sent back unchanged with that part (required for
  function calls on Gemini 3); it rides on :attr:`ToolCall.signature` or, for text parts,
  on a :class:`ThinkingBlock` with that signature;
* streams are SSE (``alt=sse``), a JSON array (without ``alt=sse``), or, when the request
  failed, one plain JSON error object even though ``Content-Type`` says event-stream.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import attrs

from lmux_plug import AssistantMessage
from lmux_plug import AudioContent
from lmux_plug import AuthenticationError
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
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
from lmux_plug import ProviderError
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.codec import add_turn
from lmux_plug.codec import objects_of
from lmux_plug.wire import BaseCodec
from lmux_plug.wire import JsonNesting
from lmux_plug.wire import SSEDecoder
from lmux_plug.wire import WireRequest
from lmux_plug.wire import count_of
from lmux_plug.wire import error_from_response
from lmux_plug.wire import json_object
from lmux_plug.wire import merge_extra
from lmux_plug.wire import one_per_input
from lmux_plug.wire import path_segment
from lmux_plug.wire import reasoning_level
from lmux_plug.wire import reclassed
from lmux_plug.wire import sampling
from lmux_plug.wire import stream_event
from lmux_plug.wire import tool_arguments
from lmux_plug.wire import tool_call_id
from lmux_plug_gemini._schema import to_gemini_schema

if TYPE_CHECKING:
    from lmux_plug import ProviderContext

__all__ = [
    "API_VERSION",
    "CODEC",
    "GeminiCodec",
    "GeminiStreamDecoder",
    "decode_chat",
    "decode_embeddings",
    "encode_chat",
    "encode_embeddings",
    "error_from_body",
    "finish_reason_of",
    "model_path",
    "refine_error",
    "usage_of",
]

MAX_STOP_SEQUENCES = 5
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}")
# Thinking budgets (tokens) for Gemini 2.x models, which take a budget, not a level.
# reasoning_effort -> thinkingBudget for Gemini 2.x. Flash takes 0-24,576 (0 turns thinking
# off); Pro cannot turn thinking off and takes 128-32,768, so its levels are clamped to that.
_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
}
_FLASH_MAX_BUDGET = 24576
# Thinking levels of Gemini 3, lowest first, and the ones each Pro generation takes (Flash
# takes all four; 3 Pro only low and high; 3.1 Pro every level but minimal).
_LEVELS = ("minimal", "low", "medium", "high")
_PRO_LEVELS = {"gemini-3": ("low", "high"), "gemini-3.1": ("low", "medium", "high")}
_PRO_BUDGETS = (128, 32768)
_FINISH = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "SAFETY": FinishReason.CONTENT_FILTER,
    "RECITATION": FinishReason.CONTENT_FILTER,
    "BLOCKLIST": FinishReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "SPII": FinishReason.CONTENT_FILTER,
    "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
    "IMAGE_RECITATION": FinishReason.CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
    "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
    "TOO_MANY_TOOL_CALLS": FinishReason.ERROR,
    "LANGUAGE": FinishReason.OTHER,
    "OTHER": FinishReason.OTHER,
    "FINISH_REASON_UNSPECIFIED": FinishReason.OTHER,
}
# Vertex-style integer enums (``enum-encoding=int``) for the same reasons.
_FINISH_INT = {1: "STOP", 2: "MAX_TOKENS", 3: "SAFETY", 4: "RECITATION", 5: "OTHER"}


# --------------------------------------------------------------------------- requests


def model_path(model: str) -> str:
    """The model id without a leading ``models/`` (both spellings are accepted), escaped.

    The id becomes one URL path segment: ``/``, ``?``, ``#`` are escaped, and ``..`` or
    control characters are refused with ``InvalidRequestError`` before any I/O.
    """
    return path_segment(model.removeprefix("models/"), provider="gemini")


def _bad(message: str, model: str | None = None) -> InvalidRequestError:
    return InvalidRequestError(message, provider="gemini", model=model)


def _media_part(url: str, media_type: str | None, data: str | None) -> dict[str, Any]:
    if data is not None:
        return {"inlineData": {"mimeType": media_type or "application/octet-stream", "data": data}}
    part: dict[str, Any] = {"fileUri": url}
    if media_type:
        part["mimeType"] = media_type
    return {"fileData": part}


def _guess_image_type(url: str) -> str | None:
    path = url.split("?", 1)[0].lower()
    for suffix, media_type in (
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".webp", "image/webp"),
        (".gif", "image/gif"),
        (".heic", "image/heic"),
    ):
        if path.endswith(suffix):
            return media_type
    return None


def _user_parts(message: UserMessage, index: int, model: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextContent):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, ImageContent):
            if not part.url:
                msg = f"message {index}: image part has no URL"
                raise _bad(msg, model)
            if part.url.startswith("data:"):
                data = part.base64_data
                if data is None:
                    msg = f"message {index}: image data URL is not base64"
                    raise _bad(msg, model)
                parts.append(_media_part(part.url, part.media_type, data))
            else:
                parts.append(_media_part(part.url, _guess_image_type(part.url), None))
        elif isinstance(part, AudioContent):
            if not part.data:
                msg = f"message {index}: audio part has no data"
                raise _bad(msg, model)
            parts.append(_media_part("", f"audio/{part.format}", part.data))
        elif isinstance(part, FileContent):
            if part.data is not None:
                parts.append(_media_part("", part.media_type, part.data))
            elif part.file_id is not None:
                parts.append(_media_part(part.file_id, part.media_type, None))
            else:
                msg = f"message {index}: file part has neither data nor file_id"
                raise _bad(msg, model)
    return parts


def _model_parts(message: AssistantMessage, index: int, model: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    loose_signatures: list[str] = []
    for block in message.thinking:
        if block.signature is None or block.redacted:
            continue  # thought summaries without a signature need not go back
        if block.text:
            parts.append({"text": block.text, "thought": True, "thoughtSignature": block.signature})
        else:
            loose_signatures.append(block.signature)
    if message.content:
        text_part: dict[str, Any] = {"text": message.content}
        if loose_signatures:
            # The signature came on the answer's text part; it goes back on it.
            text_part["thoughtSignature"] = loose_signatures[-1]
        parts.append(text_part)
    for call in message.tool_calls:
        part: dict[str, Any] = {
            "functionCall": {
                "name": call.name,
                "args": tool_arguments(call, index=index, provider="gemini", model=model),
            }
        }
        if call.signature:
            part["thoughtSignature"] = call.signature
        parts.append(part)
    return parts


def _tool_name(message: ToolMessage, calls: Mapping[str, str], index: int, model: str) -> str:
    if message.name:
        return message.name
    name = calls.get(message.tool_call_id)
    if name is None:
        msg = (
            f"message {index}: tool result for call id {message.tool_call_id!r} matches no "
            "earlier assistant tool call, and has no name (Gemini needs the function name)"
        )
        raise _bad(msg, model)
    return name


def _tool_response(message: ToolMessage) -> dict[str, Any]:
    try:
        value = json.loads(message.content)
    except ValueError:
        value = message.content
    if isinstance(value, dict) and not message.is_error:
        return value
    return {"error" if message.is_error else "result": value}


def _contents(messages: tuple[Message, ...], model: str) -> tuple[list[dict[str, Any]], list[str]]:
    contents: list[dict[str, Any]] = []
    system: list[str] = []
    calls: dict[str, str] = {}

    for index, message in enumerate(messages):
        if isinstance(message, (SystemMessage, DeveloperMessage)):
            if message.content:
                system.append(message.content)
        elif isinstance(message, UserMessage):
            parts = _user_parts(message, index, model)
            if not parts:
                msg = f"message {index}: user message has no content"
                raise _bad(msg, model)
            add_turn(contents, "user", parts, key="parts")
        elif isinstance(message, AssistantMessage):
            parts = _model_parts(message, index, model)
            for call in message.tool_calls:
                calls[call.id] = call.name
            if parts:  # an empty assistant turn says nothing; leaving it out is lossless
                add_turn(contents, "model", parts, key="parts")
        elif isinstance(message, ToolMessage):
            name = _tool_name(message, calls, index, model)
            response = {"functionResponse": {"name": name, "response": _tool_response(message)}}
            # Parallel function responses must arrive together in one content: add_turn
            # merges them into the user turn before.
            add_turn(contents, "user", [response], key="parts")
    if not contents:
        raise _bad("at least one user or assistant message is needed", model)
    return contents, system


def _thinking_config(effort: str, model: str) -> dict[str, Any]:
    level = reasoning_level(effort, provider="gemini", model=model)
    if model.startswith(("gemini-1", "gemini-2")):
        budget = _BUDGETS[level]
        if "-pro" in model:
            low, high = _PRO_BUDGETS
            budget = min(max(budget, low), high)
        else:
            budget = min(budget, _FLASH_MAX_BUDGET)
        return {"thinkingBudget": budget, "includeThoughts": budget > 0}
    # Gemini 3 and later take a level: "minimal" is as low and "high" as high as they go,
    # and Pro models take fewer of them (an unsupported one is refused with a 400).
    named = {"none": "minimal", "xhigh": "high"}.get(level, level)
    taken = _PRO_LEVELS.get(model.partition("-pro")[0]) if "-pro" in model else None
    if taken is not None and named not in taken:
        # The nearest level the model takes, rounding up: asking for more thought than
        # "low" should not get less.
        rank = _LEVELS.index(named)
        named = next((t for t in taken if _LEVELS.index(t) >= rank), taken[-1])
    return {"thinkingLevel": named, "includeThoughts": True}


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    declarations = []
    for tool in request.tools or ():
        function = tool.function
        if not _FUNCTION_NAME.fullmatch(function.name):
            msg = (
                f"tool name {function.name!r} is not valid for Gemini (letters, digits, "
                "'_', '.', ':', '-', starting with a letter or '_', at most 128 characters)"
            )
            raise _bad(msg, request.model)
        declaration: dict[str, Any] = {"name": function.name}
        if function.description:
            declaration["description"] = function.description
        if function.parameters and function.parameters.get("properties"):
            declaration["parametersJsonSchema"] = to_gemini_schema(function.parameters)
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.mode in ("required", "function") and not request.tools:
        msg = f"tool_choice={choice.mode!r} needs tools"
        raise _bad(msg, request.model)
    if not request.tools:
        # auto or none with nothing to call asks for a plain answer; the API refuses a
        # functionCallingConfig without function declarations (400), so none is sent.
        return None
    if choice.mode == "function":
        names = {t.function.name for t in request.tools}
        if choice.function_name not in names:
            msg = f"tool_choice names {choice.function_name!r}, which is not among the tools"
            raise _bad(msg, request.model)
        config: dict[str, Any] = {"mode": "ANY", "allowedFunctionNames": [choice.function_name]}
    else:
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}
    return {"functionCallingConfig": config}


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    if request.stop and len(request.stop) > MAX_STOP_SEQUENCES:
        msg = f"Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences"
        raise _bad(msg, request.model)
    config = sampling(
        request, provider="gemini", top_p="topP", max_tokens="maxOutputTokens", stop="stopSequences"
    )
    fmt = request.response_format
    if isinstance(fmt, JsonObjectResponseFormat):
        config["responseMimeType"] = "application/json"
    elif isinstance(fmt, JsonSchemaResponseFormat):
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = to_gemini_schema(fmt.schema)
    if request.reasoning_effort is not None:
        config["thinkingConfig"] = _thinking_config(request.reasoning_effort, request.model)
    return config


def encode_chat(request: ChatRequest) -> dict[str, Any]:
    """The ``generateContent`` / ``streamGenerateContent`` body for ``request``.

    Raises :class:`InvalidRequestError` for input Gemini cannot take. ``request.extra``
    is merged last (``generationConfig`` key by key).
    """
    model = model_path(request.model)
    contents, system = _contents(request.messages, model)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        body["tools"] = _tools(request)
    tool_config = _tool_config(request)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    generation = _generation_config(request)
    if generation:
        body["generationConfig"] = generation
    return merge_extra(body, request.extra, nested=("generationConfig",))


def encode_embeddings(request: EmbeddingRequest) -> dict[str, Any]:
    """The ``batchEmbedContents`` body: one request per input, in order."""
    model = model_path(request.model)
    if request.dimensions is not None and request.dimensions < 1:
        raise _bad("dimensions must be >= 1", model)
    requests = []
    for text in request.inputs:
        item: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        item.update(request.extra)  # e.g. taskType, title
        requests.append(item)
    return {"requests": requests}


# --------------------------------------------------------------------------- responses


def usage_of(metadata: Any) -> Usage:
    """Normalise ``usageMetadata``: thoughts count as output and as reasoning tokens."""
    if not isinstance(metadata, Mapping):
        return Usage()
    thoughts = count_of(metadata, "thoughtsTokenCount")
    return Usage(
        input_tokens=count_of(metadata, "promptTokenCount")
        + count_of(metadata, "toolUsePromptTokenCount"),
        output_tokens=count_of(metadata, "candidatesTokenCount") + thoughts,
        cache_read_tokens=count_of(metadata, "cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def finish_reason_of(raw: Any, has_tool_calls: bool) -> FinishReason:
    """Map Gemini's ``finishReason``; a normal stop with function calls is ``TOOL_CALLS``."""
    if isinstance(raw, int):
        raw = _FINISH_INT.get(raw, "OTHER")
    reason = _FINISH.get(str(raw), FinishReason.OTHER)
    if reason is FinishReason.STOP and has_tool_calls:
        return FinishReason.TOOL_CALLS
    return reason


class _Parts:
    """What the parts of one candidate (or one stream event) say, in order."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thoughts: list[str] = []
        self.calls: list[tuple[str, str, str, str | None]] = []  # id, name, args, signature
        self.signatures: list[str] = []  # signatures on text parts

    def read(self, candidate: Mapping[str, Any], response_id: str, first_index: int) -> None:
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in objects_of(parts):
            signature = part.get("thoughtSignature")
            signature = signature if isinstance(signature, str) and signature else None
            call = part.get("functionCall")
            if isinstance(call, Mapping):
                index = first_index + len(self.calls)
                args = call.get("args")
                arguments = json.dumps(args if isinstance(args, Mapping) else {})
                call_id = tool_call_id(
                    call.get("id"), call.get("name"), call.get("args"), response_id, index
                )
                self.calls.append((call_id, str(call.get("name", "")), arguments, signature))
                continue
            text = part.get("text")
            if isinstance(text, str):
                (self.thoughts if part.get("thought") else self.text).append(text)
            if signature is not None:
                self.signatures.append(signature)


def _first_candidate(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    candidates = body.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], Mapping):
        return candidates[0]
    return None


def _blocked(body: Mapping[str, Any], model: str) -> LmuxError | None:
    feedback = body.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    if reason:
        from lmux_plug import ContentFilterError  # noqa: PLC0415 - rare path

        return ContentFilterError(
            f"Gemini blocked the prompt: {reason}", provider="gemini", model=model
        )
    return None


def decode_chat(body: Any, *, model: str, provider: str = "gemini") -> ChatResponse:
    """Decode a ``generateContent`` response body (already parsed JSON)."""
    body = json_object(body, what="Gemini response", provider=provider, model=model)
    if "error" in body:
        raise error_from_body(body, model=model, provider=provider)
    candidate = _first_candidate(body)
    if candidate is None:
        blocked = _blocked(body, model)
        if blocked is not None:
            raise blocked
        raise ProviderError("Gemini response has no candidates", provider=provider, model=model)
    response_id = str(body.get("responseId") or "")
    parts = _Parts()
    parts.read(candidate, response_id, 0)
    calls = tuple(ToolCall(id=i, name=n, arguments=a, signature=s) for i, n, a, s in parts.calls)
    thinking: list[ThinkingBlock] = []
    if parts.thoughts:
        thinking.append(ThinkingBlock(text="".join(parts.thoughts)))
    thinking.extend(ThinkingBlock(text="", signature=s) for s in parts.signatures)
    return ChatResponse(
        content="".join(parts.text) if parts.text else None,
        model=str(body.get("modelVersion") or model),
        provider=provider,
        finish_reason=finish_reason_of(candidate.get("finishReason", "STOP"), bool(calls)),
        tool_calls=calls,
        usage=usage_of(body.get("usageMetadata")),
        request_id=response_id or None,
        thinking=thinking,
        raw=body,
    )


def decode_embeddings(
    body: Any, *, model: str, expected: int, provider: str = "gemini"
) -> EmbeddingResponse:
    """Decode a ``batchEmbedContents`` body; the vector count must match the inputs."""
    embeddings = body.get("embeddings") if isinstance(body, Mapping) else None
    vectors = []
    for item in one_per_input(
        embeddings, expected, source="Gemini", provider=provider, model=model
    ):
        values = item.get("values") if isinstance(item, Mapping) else None
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
            raise ProviderError("Gemini embedding without values", provider=provider, model=model)
        vectors.append(tuple(float(v) for v in values))
    return EmbeddingResponse(
        embeddings=vectors,
        model=model,
        provider=provider,
        usage=usage_of(body.get("usageMetadata")),
    )


# --------------------------------------------------------------------------- errors


def refine_error(error: LmuxError) -> LmuxError:
    """Gemini answers a bad key with 400 ``API_KEY_INVALID``: that is an auth failure."""
    if isinstance(error, InvalidRequestError) and error.body and "API_KEY_INVALID" in error.body:
        return reclassed(error, AuthenticationError)
    return error


def error_from_body(
    body: Mapping[str, Any], *, model: str | None, provider: str = "gemini"
) -> LmuxError:
    """The error for a ``{"error": {...}}`` object met in a 200 body or inside a stream."""
    error = body.get("error")
    code = error.get("code") if isinstance(error, Mapping) else None
    status = code if isinstance(code, int) and 400 <= code <= 599 else 500
    return refine_error(
        error_from_response(status, {}, json.dumps(body), provider=provider, model=model)
    )


# --------------------------------------------------------------------------- streaming


class _JsonArraySplitter:
    """Split a streamed JSON array ``[{...},{...}]`` into its top-level object texts."""

    def __init__(self) -> None:
        self._buffer: list[str] = []
        self._nesting = JsonNesting("{", "}")

    def feed(self, text: str) -> list[str]:
        out: list[str] = []
        index = 0
        while index < len(text):
            if self._nesting.depth == 0:
                # '[', ',', ']' and whitespace between elements: skip to the next object.
                index = text.find("{", index)
                if index < 0:
                    break
            end = self._nesting.end_in(text, index)
            if end is None:
                self._buffer.append(text[index:])
                break
            out.append("".join(self._buffer) + text[index:end])
            self._buffer = []
            index = end
        return out

    @property
    def pending(self) -> bool:
        return self._nesting.depth > 0


class GeminiStreamDecoder:
    """Feed raw stream bytes; get :class:`ChatChunk` values; call :meth:`finish` at the end.

    Content chunks come from :meth:`feed`; the single terminal chunk (finish reason and the
    final usage, which Gemini repeats cumulatively on every event) comes from
    :meth:`finish`, which raises :class:`ProviderError` when the stream ended before any
    ``finishReason``. An error object in the stream raises the matching ``LmuxError``.
    """

    def __init__(self, *, model: str, provider: str = "gemini") -> None:
        self.model = model
        self.provider = provider
        self._mode: str | None = None  # "sse", "array" or "object"
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._sse = SSEDecoder()
        self._array = _JsonArraySplitter()
        self._object: list[str] = []
        self._usage = Usage()
        self._finish: Any = None
        self._calls = 0
        self._request_id: str | None = None
        self._model_version: str | None = None
        self._finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Add bytes (split anywhere); return the content chunks they complete."""
        if self._mode is None:
            stripped = data.lstrip()
            if not stripped:
                return []
            self._mode = {ord("["): "array", ord("{"): "object"}.get(stripped[0], "sse")
        if self._mode == "sse":
            return self._events([e.data for e in self._sse.feed(data)])
        text = self._text.decode(data)
        if self._mode == "array":
            return self._events(self._array.feed(text))
        self._object.append(text)
        return []

    def close(self) -> list[ChatChunk]:
        """End of stream (the driver's shape): ``[`` :meth:`finish` ``]``."""
        return [self.finish()]

    def finish(self) -> ChatChunk:
        """End of stream: the terminal chunk, or an error if the stream was cut short."""
        chunks: list[ChatChunk] = []
        if self._mode == "sse":
            chunks = self._events([e.data for e in self._sse.flush()])
        elif self._mode == "object":
            self._object.append(self._text.decode(b"", final=True))
            chunks = self._events(["".join(self._object)])
        elif self._mode == "array" and self._array.pending:
            self._finish = None  # an element was cut off: the data is incomplete
        if self._finish is None:
            raise ProviderError(
                "Gemini stream ended before a finishReason (truncated)",
                provider=self.provider,
                model=self.model,
            )
        end: dict[str, Any] = {
            "finish_reason": finish_reason_of(self._finish, self._calls > 0),
            "usage": self._usage,
            "model": self._model_version or self.model,
            "provider": self.provider,
            "request_id": self._request_id,
        }
        if chunks:  # a plain JSON object (non-SSE answer) carries content and the finish
            return attrs.evolve(chunks[-1], **end)
        return ChatChunk(**end)

    def _events(self, payloads: list[str]) -> list[ChatChunk]:
        chunks = []
        for payload in payloads:
            if not payload.strip():
                continue
            event = stream_event(
                payload, what="Gemini stream event", provider=self.provider, model=self.model
            )
            chunk = self._event(event)
            if chunk is not None:
                chunks.append(chunk)
        return chunks

    def _event(self, event: Mapping[str, Any]) -> ChatChunk | None:
        if "error" in event:
            raise error_from_body(event, model=self.model, provider=self.provider)
        if "usageMetadata" in event:
            self._usage = usage_of(event["usageMetadata"])
        if event.get("responseId"):
            self._request_id = str(event["responseId"])
        if event.get("modelVersion"):
            self._model_version = str(event["modelVersion"])
        candidate = _first_candidate(event)
        if candidate is None:
            blocked = _blocked(event, self.model)
            if blocked is not None:
                raise blocked
            return None
        parts = _Parts()
        parts.read(candidate, self._request_id or "", self._calls)
        deltas = tuple(
            ToolCallDelta(index=self._calls + n, id=i, name=name, arguments=a, signature=s)
            for n, (i, name, a, s) in enumerate(parts.calls)
        )
        self._calls += len(deltas)
        if candidate.get("finishReason") is not None:
            self._finish = candidate["finishReason"]
        text, thoughts = "".join(parts.text), "".join(parts.thoughts)
        # A signature on a text part closes the model's reasoning; it goes back with the
        # next request as a signature-only thinking block.
        signed = tuple(ThinkingBlock(text="", signature=s) for s in parts.signatures)
        if not (text or thoughts or deltas or signed):
            return None
        return ChatChunk(
            delta=text,
            thinking_delta=thoughts,
            tool_call_deltas=deltas,
            thinking=signed,
            model=self._model_version or self.model,
            provider=self.provider,
            request_id=self._request_id,
        )


# --------------------------------------------------------------------------- the codec

API_VERSION = "v1beta"


def _url(provider: ProviderContext, model: str, method: str) -> str:
    version = provider.option("api_version", API_VERSION)
    return provider.url(f"{version}/models/{model_path(model)}:{method}")


class GeminiCodec(BaseCodec):
    """The Gemini API wire (``generateContent``, SSE streams, embeddings).

    Vertex AI serves the same bodies on other URLs: its codec overrides :meth:`model_url`.
    """

    chat_decoder = staticmethod(decode_chat)
    embed_decoder = staticmethod(decode_embeddings)
    stream_decoder_class = GeminiStreamDecoder

    def model_url(self, provider: ProviderContext, model: str, method: str) -> str:
        """``{base}/<api version>/models/<model>:<method>``."""
        return _url(provider, model, method)

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """``models/<model>:generateContent`` or ``:streamGenerateContent?alt=sse``."""
        if stream:
            url = self.model_url(provider, request.model, "streamGenerateContent")
            return WireRequest(url, encode_chat(request), params={"alt": "sse"})
        url = self.model_url(provider, request.model, "generateContent")
        return WireRequest(url, encode_chat(request))

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """Every input in one ``batchEmbedContents`` call."""
        url = self.model_url(provider, request.model, "batchEmbedContents")
        return WireRequest(url, encode_embeddings(request))

    def refine_error(self, error: LmuxError) -> LmuxError:
        """A 400 ``API_KEY_INVALID`` is an authentication failure."""
        return refine_error(error)


#: The codec instance the plugin's hooks drive.
CODEC = GeminiCodec()
