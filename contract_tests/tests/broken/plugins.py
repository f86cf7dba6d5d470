"""Deliberately broken variants of the ``acme`` example plugin, one defect each.

Each variant's ``fails_on`` names the clause that must fail because of it (and the ``-k``
expression selecting it); the tests in ``test_broken_plugins.py`` run the suite on each
and check that clause failed.
"""

from __future__ import annotations

import base64
import logging
import socket
import struct
import sys
from collections.abc import AsyncIterator
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import Cost
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import RateLimitError
from lmux_plug import TimeoutError as LmuxTimeoutError
from lmux_plug import Usage
from lmux_plug import hookimpl
from lmux_plug.wire import SSEDecoder
from lmux_plug.wire import error_from_response

# Both loaded under these names, before this file, by the tests' conftest (import_io.py
# loads acme itself too: the loading clause imports it alone in a fresh process).
AcmePlugin = sys.modules["lmux_contract_examples_acme"].AcmePlugin
#: Connects at import time (see ``import_io.py``).
ImportTimeIO = sys.modules["lmux_contract_examples_import_io"].ImportTimeIO


class WrongUsage(AcmePlugin):
    """Swaps prompt and completion token counts."""

    fails_on = ("types.usage", "types")

    def usage(self, data: Any) -> Usage:
        usage = super().usage(data)
        return Usage(input_tokens=usage.output_tokens, output_tokens=usage.input_tokens)


class WrongCost(AcmePlugin):
    """Prices output tokens at the input rate."""

    fails_on = ("types.cost", "types")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        rate = Decimal("0.000001")
        cost = Cost(
            input=response.usage.input_tokens * rate, output=response.usage.output_tokens * rate
        )
        return attrs.evolve(response, cost=cost)


class NoTerminalChunk(AcmePlugin):
    """Never emits the terminal chunk (finish_reason and usage are dropped)."""

    fails_on = (
        "streaming.terminal_chunk",
        "streaming and not arbitrary and not early and not multibyte",
    )

    async def decode_stream(
        self, response: Any, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        async for chunk in super().decode_stream(response, request, provider):
            if chunk.finish_reason is None:
                yield chunk


class _RewritesReads(AcmePlugin):
    """Decodes the stream after passing each network read through :meth:`read` on its own."""

    def read(self, raw: bytes) -> bytes:
        """What the variant makes of one network read, seen alone."""
        return raw

    async def decode_stream(
        self, response: Any, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        async def reads() -> AsyncIterator[bytes]:
            async for raw in response.iter_bytes():
                yield self.read(raw)

        class _Rewritten:
            def iter_bytes(self) -> AsyncIterator[bytes]:
                return reads()

        async for chunk in super().decode_stream(_Rewritten(), request, provider):
            yield chunk


class SplitSensitive(_RewritesReads):
    """Parses each network read on its own, as if events never straddled two reads."""

    fails_on = ("streaming.arbitrary_splits", "arbitrary_splits")

    def read(self, raw: bytes) -> bytes:
        # Defect: a fresh decoder per read drops any event split across reads.
        events = SSEDecoder().feed(raw)
        return b"".join(f"data: {e.data}\n\n".encode() for e in events)


class LeaksConnections(AcmePlugin):
    """Keeps every streaming response (for a 'debug log') and never closes it."""

    fails_on = ("streaming.early_close", "early_close")

    def __init__(self) -> None:
        self.kept: list[Any] = []

    async def stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        response = await self.open_stream(request, provider)
        self.kept.append(response)
        async for chunk in self.decode_stream(response, request, provider):
            yield chunk


class IgnoresStreamErrors(AcmePlugin):
    """Skips error events inside a stream and ends it as if it were complete."""

    fails_on = ("errors.stream_error_event", "stream_error_event")

    async def decode_stream(
        self, response: Any, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        decoder = SSEDecoder()
        async for raw in response.iter_bytes():
            for event in decoder.feed(raw):
                if event.data != "[DONE]" and '"error"' not in event.data:
                    payload = self.decode_event(event.data, provider, request)
                    for choice in payload.get("choices") or ():
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield ChatChunk(delta=text, provider=provider.name, model=request.model)
        yield ChatChunk(
            finish_reason=FinishReason.STOP, provider=provider.name, model=request.model
        )


class RawTransportErrors(AcmePlugin):
    """Talks to aiohttp itself and lets its exceptions escape (timeouts, resets)."""

    fails_on = ("errors.connection_reset", "timeout or connection_reset")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        timeout = aiohttp.ClientTimeout(total=request.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                provider.url(path), json=body, headers=provider.auth_headers()
            ) as response,
        ):
            raw = await response.read()
            if response.status >= 400:
                raise error_from_response(
                    response.status,
                    dict(response.headers),
                    raw,
                    provider=provider.name,
                    secrets=provider.secrets(),
                )
            return await response.json(content_type=None)


class KeyErrorOnOddJson(AcmePlugin):
    """Indexes the answer without checking its shape (KeyError / TypeError escape)."""

    fails_on = ("errors.unexpected_json", "unexpected_json")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        data = await self.post(
            provider, "chat/completions", self.encode(request, stream=False), request
        )
        message = data["choices"][0]["message"]
        return ChatResponse(
            content=message["content"],
            model=request.model,
            provider=provider.name,
            usage=self.usage(data["usage"]),
        )


class LeaksKey(AcmePlugin):
    """Puts the key it used into its authentication errors and its own log ('to help debugging').

    The core scrubs every known key from errors, so the log line of the plugin's own
    (unscrubbed) logger is the leak the clause must catch.
    """

    fails_on = ("auth.key_not_leaked", "auth")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        try:
            return await super().chat(request, provider)
        except AuthenticationError as exc:
            key = provider.credentials.api_key.reveal() if provider.credentials.api_key else ""
            logging.getLogger("lmux_contract_examples_acme").warning("key %s was rejected", key)
            msg = f"key {key} was rejected: {exc.message}"
            raise AuthenticationError(
                msg, provider=provider.name, status_code=exc.status_code
            ) from None


class IgnoresRetryAfter(AcmePlugin):
    """Rebuilds rate-limit errors and drops their retry_after."""

    fails_on = ("errors.retry_after", "retry_after")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        try:
            return await super().chat(request, provider)
        except RateLimitError as exc:
            raise RateLimitError(
                exc.message, provider=provider.name, status_code=exc.status_code
            ) from None


class DeclarationDoesIO(AcmePlugin):
    """Asks a local discovery daemon for models while declaring its provider (I/O at load)."""

    fails_on = ("capabilities.undeclared_before_io", "capabilities")

    @hookimpl
    def lmux_plug_providers(self) -> Sequence[ProviderSpec]:
        try:
            with socket.create_connection(("127.0.0.1", 9), timeout=0.2):
                pass
        except OSError:
            pass  # no daemon: fall back to the static list
        return [self.spec]


class StatefulClient(AcmePlugin):
    """Keeps per-client conversation state, so a second identical call answers differently."""

    fails_on = ("parity.chat", "parity")

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        count = self.calls[id(provider.transport)] = self.calls.get(id(provider.transport), 0) + 1
        if count > 1:
            response = attrs.evolve(response, content=f"{response.content} (again)")
        return response


class EmbeddingsOutOfOrder(AcmePlugin):
    """Returns the vectors in reverse order."""

    fails_on = ("embeddings.vectors", "embeddings")

    async def embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        response = await super().embed(request, provider)
        return attrs.evolve(response, embeddings=tuple(reversed(response.embeddings)))


class DropsSystemMessages(AcmePlugin):
    """Silently drops system messages from the request."""

    fails_on = ("requests.texts_round_trip", "requests")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        body["messages"] = [m for m in body["messages"] if m.get("role") != "system"]
        return body


class TruncatesModelIds(AcmePlugin):
    """Sends only the part of the model id after its last '/'."""

    fails_on = ("registry.model_ids_verbatim", "registry")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        body["model"] = request.model.rsplit("/", 1)[-1]
        return body


class StreamCostWrong(AcmePlugin):
    """Prices the streamed answer at a flat rate (the non-streamed cost is right)."""

    fails_on = ("types.cost", "cost")

    async def stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        async for chunk in super().stream(request, provider):
            if chunk.usage is not None:
                chunk = attrs.evolve(chunk, cost=Cost(input=Decimal("0.01")))  # noqa: PLW2901
            yield chunk


class StreamIgnoresTimeout(AcmePlugin):
    """Opens streams without the request's timeout (chat honours it)."""

    fails_on = ("errors.timeout", "timeout and stream")

    async def open_stream(self, request: ChatRequest, provider: ProviderContext) -> Any:
        return await super().open_stream(attrs.evolve(request, timeout=60.0), provider)


class EmbedIgnoresTimeout(AcmePlugin):
    """Embeds without the request's timeout (chat honours it)."""

    fails_on = ("errors.timeout", "timeout and embed")

    async def embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        return await super().embed(attrs.evolve(request, timeout=60.0), provider)


class StreamIndexesEvents(AcmePlugin):
    """Indexes each stream event without checking its shape (KeyError on odd JSON)."""

    fails_on = ("errors.unexpected_json", "unexpected_json and stream")

    def decode_event(
        self, data: str, provider: ProviderContext, request: ChatRequest
    ) -> dict[str, Any]:
        payload = super().decode_event(data, provider, request)
        if not payload.get("usage"):
            payload["choices"][0]["delta"]
        return payload


class _ReadsVectors(AcmePlugin):
    """Acme's embeddings call (without dimensions), reading the items with :meth:`vectors`."""

    def vectors(self, items: Any, provider: ProviderContext, request: Any) -> list[Any]:
        """The answer's vectors, read from its ``data`` items the variant's way."""
        raise NotImplementedError

    async def embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        body = {"model": request.model, "input": list(request.inputs)}
        data = await self.post(provider, "embeddings", body, request)
        items = data.get("data") if isinstance(data, dict) else None
        return EmbeddingResponse(
            embeddings=self.vectors(items, provider, request),
            model=request.model,
            provider=provider.name,
            usage=self.usage(data.get("usage")),
        )


class EmbedIndexesItems(_ReadsVectors):
    """Reads each embedding item's ``embedding`` key without checking it is there."""

    fails_on = ("errors.unexpected_json", "unexpected_json and embed")

    def vectors(self, items: Any, provider: ProviderContext, request: Any) -> list[Any]:
        if not isinstance(items, list):
            raise ProviderError("no data", provider=provider.name, model=request.model)
        return [[float(x) for x in item["embedding"]] for item in items]


class ChatDropsToolCalls(AcmePlugin):
    """Reads only the text of a non-streamed answer: its tool calls are lost."""

    fails_on = ("tools.calls", "tools")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        return attrs.evolve(response, tool_calls=())


class LogsHeadersInRecord(AcmePlugin):
    """Logs the request headers as a record attribute (the message itself is clean)."""

    fails_on = ("auth.key_not_leaked", "key_not_leaked and success")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        logging.getLogger("acme.debug").debug(
            "posting to %s", path, extra={"headers": provider.auth_headers()}
        )
        return await super().post(provider, path, body, request)


class LeaksKeyOnTimeout(AcmePlugin):
    """Attaches the request headers to timeout errors ('for debugging')."""

    fails_on = ("auth.key_not_leaked", "key_not_leaked and timeout")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        try:
            return await super().post(provider, path, body, request)
        except LmuxTimeoutError as exc:
            exc.request_headers = provider.auth_headers()  # type: ignore[attr-defined]
            raise


class LeaksKeyInStreamErrors(AcmePlugin):
    """Adds the request headers to stream error events and its own log ('for support').

    The core scrubs every known key from errors, so the log line of the plugin's own
    (unscrubbed) logger is the leak the clause must catch.
    """

    fails_on = ("auth.key_not_leaked", "key_not_leaked and stream")

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        sent = provider.auth_headers()
        logging.getLogger("lmux_contract_examples_acme").warning("stream error, sent %s", sent)
        msg = f"{error.message} (sent {sent})"
        raise ProviderError(msg, provider=provider.name, model=error.model)


class DropsEmptyInputs(AcmePlugin):
    """Leaves empty strings out of the embeddings request (so vectors shift)."""

    fails_on = ("embeddings.empty_inputs", "empty_inputs")

    async def embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        kept = tuple(text for text in request.inputs if text)
        return await super().embed(attrs.evolve(request, inputs=kept or request.inputs), provider)


class DecodesEachRead(_RewritesReads):
    """Decodes each network read as text on its own (a character split across reads breaks)."""

    fails_on = ("streaming.multibyte_splits", "multibyte_splits")

    def read(self, raw: bytes) -> bytes:
        return raw.decode("utf-8", errors="replace").encode()


class LowercasesModelIds(AcmePlugin):
    """Sends model ids in lower case ('the API is case-insensitive')."""

    fails_on = ("registry.model_ids_verbatim", "model_ids_verbatim")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        body["model"] = request.model.lower()
        return body


class StreamErrorsAreGeneric(AcmePlugin):
    """Turns every stream error event into a generic ProviderError without its message."""

    fails_on = ("errors.stream_error_event", "stream_error_event")

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        raise ProviderError("the stream failed", provider=provider.name, model=error.model)


class DropsLongEvents(AcmePlugin):
    """Skips stream events longer than 64 KiB (a fixed line buffer)."""

    fails_on = ("types.long_values", "long_values")

    def decode_event(
        self, data: str, provider: ProviderContext, request: ChatRequest
    ) -> dict[str, Any]:
        if len(data) > 65_536:
            return {}
        return super().decode_event(data, provider, request)


class TruncatesLongAnswers(AcmePlugin):
    """Keeps at most 64 KiB of a non-streamed answer."""

    fails_on = ("types.long_values", "long_values")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        return attrs.evolve(response, content=(response.content or "")[:65_536])


class AssumesCachedTokens(AcmePlugin):
    """Reads ``usage.prompt_tokens_details.cached_tokens`` as if every answer had it.

    The suite's synthesised answers always carry it; real recorded answers (older models,
    other OpenAI-compatible servers) often do not: only real traffic shows this defect.
    """

    def usage(self, data: Any) -> Usage:
        usage = super().usage(data)
        cached = data["prompt_tokens_details"]["cached_tokens"] if data else 0
        return attrs.evolve(usage, cache_read_tokens=int(cached or 0))


class UsageWithFloor(AcmePlugin):
    """Reports at least one input token ('an empty count means the field was missing')."""

    fails_on = ("types.usage_reported", "usage_reported")

    def usage(self, data: Any) -> Usage:
        usage = super().usage(data)
        return attrs.evolve(usage, input_tokens=max(usage.input_tokens, 1))


class DropsMaxTokens(AcmePlugin):
    """Forgets max_tokens when encoding (the answer is never capped)."""

    fails_on = ("requests.parameters", "parameters")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        body.pop("max_tokens", None)
        return body


class SendsDimensionsAboveOne(AcmePlugin):
    """Sends embedding dimensions only when above 1 (a truthiness slip: 1 is dropped too)."""

    fails_on = ("requests.embed_dimensions", "embed_dimensions")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        if path == "embeddings" and not (body.get("dimensions") or 0) > 1:
            body = {k: v for k, v in body.items() if k != "dimensions"}
        return await super().post(provider, path, body, request)


class IgnoresExtraBody(AcmePlugin):
    """Builds the body from the typed fields only: the caller's provider fields are lost."""

    fails_on = ("requests.extra_body", "extra_body")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return super().encode(attrs.evolve(request, extra={}), stream=stream)


class RefusesMaxTokens(AcmePlugin):
    """Refuses any max_tokens before sending ('the API picks the length'): callers cannot cap it."""

    fails_on = ("requests.parameters", "parameters")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if request.max_tokens is not None:
            raise InvalidRequestError(
                "max_tokens is not supported", provider="acme", model=request.model
            )
        return super().encode(request, stream=stream)


class ChatAsksForStream(AcmePlugin):
    """Encodes non-streamed chat calls with ``"stream": true`` (and then reads JSON)."""

    fails_on = ("types.chat_response", "chat_response")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        encode = self.encode
        self.encode = lambda req, *, stream: encode(req, stream=True)  # type: ignore[method-assign]
        try:
            return await super().chat(request, provider)
        finally:
            del self.encode


class NamesToolChoiceByMode(AcmePlugin):
    """Sends a tool choice naming one function as its mode (``"function"``), not the name.

    The API then refuses the request, or lets the model call any tool: a defect only a
    clause that reads the tool choice back out of the body sees (found by mutation testing).
    """

    fails_on = ("requests.tool_choice", "tool_choice")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice.mode
        return body


class StreamAsksForWholeAnswer(AcmePlugin):
    """Encodes streamed calls with ``"stream": false``: the API answers with one JSON body."""

    fails_on = ("streaming.chunks", "streaming and not arbitrary and not early and not multibyte")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        if stream:
            body["stream"] = False
        return body


class DropsToolCallIds(AcmePlugin):
    """Leaves the ids of a non-streamed answer's tool calls empty (results cannot be matched)."""

    fails_on = ("tools.calls", "tools")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        calls = tuple(attrs.evolve(c, id="") for c in response.tool_calls)
        return attrs.evolve(response, tool_calls=calls)


class ToolIndexesFromOne(AcmePlugin):
    """Numbers streamed tool calls from 1 ('the first call')."""

    fails_on = ("tools.calls", "tools")

    def index_of(self, index: int) -> int:
        return index + 1

    def choice_chunks(
        self, payload: dict[str, Any], request: ChatRequest, provider: ProviderContext
    ) -> tuple[list[ChatChunk], FinishReason | None]:
        chunks, finish = super().choice_chunks(payload, request, provider)
        shifted = [
            attrs.evolve(
                c,
                tool_call_deltas=[
                    attrs.evolve(d, index=self.index_of(d.index)) for d in c.tool_call_deltas
                ],
            )
            for c in chunks
        ]
        return shifted, finish


class ToolCallsFinishAsStop(AcmePlugin):
    """Reports every non-streamed answer as finished with ``stop``, tool calls included."""

    fails_on = ("tools.calls", "tools")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        return attrs.evolve(response, finish_reason=FinishReason.STOP)


class PassesOddDeltasThrough(AcmePlugin):
    """Copies a stream event's ``delta.content`` into its chunk whatever its JSON type."""

    fails_on = ("errors.odd_fields", "odd_fields and stream")

    def choice_chunks(
        self, payload: dict[str, Any], request: ChatRequest, provider: ProviderContext
    ) -> tuple[list[ChatChunk], FinishReason | None]:
        chunks, finish = [], None
        for choice in payload.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                chunks.append(
                    ChatChunk(delta=delta["content"], provider=provider.name, model=request.model)
                )
            if choice.get("finish_reason"):
                finish = FinishReason.STOP
        return chunks, finish


class EmbedTrustsIndexes(_ReadsVectors):
    """Orders embeddings by ``int(item["index"])``: a null or odd index lets TypeError escape."""

    fails_on = ("errors.odd_fields", "odd_fields and embed")

    def vectors(self, items: Any, provider: ProviderContext, request: Any) -> list[Any]:
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("embedding"), list) for i in items
        ):
            raise ProviderError("odd embeddings", provider=provider.name, model=request.model)
        ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
        return [[float(x) for x in item["embedding"]] for item in ordered]


class EmbedAcceptsMissingVectors(_ReadsVectors):
    """Returns whatever vectors came back, even fewer than the inputs it was asked to embed."""

    fails_on = ("errors.odd_fields", "odd_fields and embed")

    def vectors(self, items: Any, provider: ProviderContext, request: Any) -> list[Any]:
        if not isinstance(items, list) or not all(
            isinstance(i, dict)
            and isinstance(i.get("index"), int)
            and isinstance(i.get("embedding"), list)
            and all(isinstance(x, float) for x in i["embedding"])
            for i in items
        ):
            raise ProviderError("odd embeddings", provider=provider.name, model=request.model)
        return [i["embedding"] for i in sorted(items, key=lambda i: i["index"])]


class ToolDeltasAtIndexZero(ToolIndexesFromOne):
    """Puts every streamed tool-call delta at index 0 ('there is only ever one call')."""

    fails_on = ("tools.several_calls", "several_calls and stream")

    def index_of(self, index: int) -> int:
        return 0


class KeepsFirstToolCall(AcmePlugin):
    """Keeps only the first tool call of a non-streamed answer."""

    fails_on = ("tools.several_calls", "several_calls and chat")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        return attrs.evolve(response, tool_calls=response.tool_calls[:1])


class Base64BigEndian(AcmePlugin):
    """Passes ``encoding_format`` on and reads base64 vectors as big-endian float32."""

    fails_on = ("embeddings.base64", "base64")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        asked = getattr(request, "encoding_format", None) if path == "embeddings" else None
        if asked is not None:
            body = {**body, "encoding_format": asked}
        data = await super().post(provider, path, body, request)
        for item in data.get("data", ()) if asked is not None else ():
            raw = item["embedding"]
            if isinstance(raw, str):
                packed = base64.b64decode(raw)
                item["embedding"] = list(struct.unpack(f">{len(packed) // 4}f", packed))
        return data


class _SeesImages(AcmePlugin):
    """Acme with the ``vision`` capability declared (images in user turns)."""

    spec = attrs.evolve(
        AcmePlugin.spec,
        capabilities=AcmePlugin.spec.capabilities | {Capability.VISION},
        models=tuple(
            attrs.evolve(m, capabilities=m.capabilities | {Capability.VISION})
            if Capability.CHAT in m.capabilities
            else m
            for m in AcmePlugin.spec.models
        ),
    )

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        for message in request.messages:
            parts = () if isinstance(message.content, str) else message.content or ()
            if any(isinstance(p, ImageContent) and not p.url for p in parts):
                raise InvalidRequestError("an image part needs a url", provider="acme")
        return super().encode(request, stream=stream)


class DropsImageParts(_SeesImages):
    """Declares vision but sends only the text of a user turn (its images are lost)."""

    fails_on = ("requests.content_parts", "content_parts and image")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        for message in body["messages"]:
            if isinstance(message.get("content"), list):
                texts = [p["text"] for p in message["content"] if p.get("type") == "text"]
                message["content"] = "".join(texts)
        return body


class SendsEmptyImages(_SeesImages):
    """Declares vision and sends an image part without a url instead of refusing it."""

    fails_on = ("requests.content_parts", "content_parts and image")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return AcmePlugin.encode(self, request, stream=stream)


class NestsExtraBody(AcmePlugin):
    """Sends extra_body fields nested under one ``extra`` member instead of top-level."""

    fails_on = ("requests.extra_body", "extra_body")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(attrs.evolve(request, extra={}), stream=stream)
        if request.extra:
            body["extra"] = dict(request.extra)
        return body


class GuessesErrorsFromWords(AcmePlugin):
    """Reads a stream error event that mentions 'model' as a missing model (NotFoundError)."""

    fails_on = ("errors.stream_error_event", "stream_error_event")

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        if "model" in str(error):
            raise NotFoundError(str(error), provider=provider.name, model=error.model)
        raise error


class DropsStreamErrorStatus(AcmePlugin):
    """Keeps a stream error event's class and message but not the status it states."""

    fails_on = ("errors.stream_error_event", "stream_error_event")

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        raise type(error)(str(error), provider=provider.name, model=error.model)


class EmbedDropsExtraVectors(EmbedAcceptsMissingVectors):
    """Keeps the first vectors of an answer that has more than the inputs (no error)."""

    fails_on = ("embeddings.extra_vector", "extra_vector")

    def vectors(self, items: Any, provider: ProviderContext, request: Any) -> list[Any]:
        return super().vectors(items, provider, request)[: len(request.inputs)]


class DropsTopP(AcmePlugin):
    """Leaves top_p out of the body without a word (the caller's setting has no effect)."""

    fails_on = ("requests.parameter_bounds", "parameter_bounds")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        return super().encode(attrs.evolve(request, top_p=None), stream=stream)


class EmbedDropsDimensions(AcmePlugin):
    """Leaves dimensions out of an embeddings body (vectors of another size come back)."""

    fails_on = ("requests.embed_dimensions", "embed_dimensions")

    async def embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        return await super().embed(attrs.evolve(request, dimensions=None), provider)
