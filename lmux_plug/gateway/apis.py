"""Gateway routes of the Responses API, text completions and audio transcription.

``POST /v1/responses`` (JSON, or SSE with one ``event:`` + ``data:`` per Responses event),
``POST /v1/completions`` (JSON, or SSE chunks ending in ``data: [DONE]``) and
``POST /v1/audio/transcriptions`` (a ``multipart/form-data`` upload; JSON or plain text by
``response_format``; SSE with ``stream=true``). Virtual keys, model allow-lists, budgets,
metrics, load shedding and error bodies work as for chat: every route runs through
:meth:`Gateway._handle`. The bodies are built by :mod:`lmux_plug._api_wire`, the same code as
the drop-in client's answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from decimal import Decimal
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmux_plug._api_wire import ResponseEventWriter
from lmux_plug._api_wire import completion_chunk_dict
from lmux_plug._api_wire import completion_dict
from lmux_plug._api_wire import primed
from lmux_plug._api_wire import response_dict
from lmux_plug._api_wire import transcription_body
from lmux_plug._secrets import scrubbed_logger
from lmux_plug.errors import LmuxError
from lmux_plug.gateway.budget import AUDIO_TOKENS_PER_SECOND
from lmux_plug.gateway.budget import TRANSCRIPT_TOKENS_PER_SECOND
from lmux_plug.gateway.budget import StreamTally
from lmux_plug.gateway.budget import audio_seconds_bound
from lmux_plug.gateway.budget import check_output_limits
from lmux_plug.gateway.budget import input_bound
from lmux_plug.gateway.errors import GatewayError
from lmux_plug.gateway.errors import as_dict
from lmux_plug.gateway.streams import CompletionScrub
from lmux_plug.gateway.streams import MeteredStream
from lmux_plug.gateway.streams import ResponseScrub
from lmux_plug.gateway.streams import TranscriptScrub
from lmux_plug.params import split_api_params

if TYPE_CHECKING:
    from lmux_plug.gateway.accounts import Ticket
    from lmux_plug.gateway.app import Gateway
    from lmux_plug.gateway.keys import VirtualKey

__all__ = ["api_routes"]

log = scrubbed_logger("lmux_plug.gateway")

_JSON = "application/json"
#: Audio uploads may be far larger than JSON bodies (OpenAI accepts 25 MB).
MAX_AUDIO_BYTES = 25 * 1024 * 1024
_ROUTING_FIELDS = ("fallback_models", "retries")
#: Keywords of ``acreate_response`` / ``acomplete`` / ``atranscribe`` that only the gateway
#: may set: the upstream URL and key, its headers and time limit, and raw body fields that
#: are merged last (they could replace the model that was allowed and priced).
_CALL_CONTROL = frozenset(
    {"api_key", "base_url", "extra_headers", "timeout", "extra", "extra_body", "extra_query"}
)
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _keywords(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A body's fields as the library call's keywords.

    Fields the call does not take (a provider's own, which the SDK sends from
    ``extra_body``) go in ``extra_body``.
    """
    kind = (
        "responses"
        if "response" in method
        else "completions"
        if "complete" in method
        else "transcription"
    )
    keywords, rest = split_api_params(kind, params)
    if rest:
        keywords["extra_body"] = rest
    return keywords


class _Texts(Protocol):
    """Scrubs a stream's chunks across chunk boundaries (see :mod:`lmux_plug.gateway.streams`)."""

    def chunks(self, chunk: Any) -> list[Any]: ...

    def close(self) -> list[Any]: ...


class _Admitted(NamedTuple):
    """An admitted call: the caller's key, the model it may use, its ticket and input bound."""

    key: VirtualKey | None
    model: str
    ticket: Ticket
    input_tokens: int


def _texts_of(chunk: Any) -> tuple[str | None, ...]:
    """The texts a streamed piece carries: output, reasoning, a tool call's name and arguments."""
    tool = getattr(chunk, "tool_call_delta", None)
    reasoning = getattr(chunk, "reasoning_delta", None)
    if tool is None:
        return (chunk.delta, reasoning)
    return (chunk.delta, reasoning, tool.name, tool.arguments)


def _last_usage(answers: list[Any]) -> Callable[[], tuple[Any, Any]]:
    """``usage_of`` for :meth:`_ApiRoutes._sse`: the usage and cost of the last answer seen."""

    def usage() -> tuple[Any, Any]:
        return (answers[-1].usage, answers[-1].cost) if answers else (None, None)

    return usage


def _dumps(data: Any) -> bytes:
    return _encode(data).encode()


def _bad(message: str, *, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def _target(gateway: Gateway, method: str) -> Any:
    backend = gateway.backend
    found = getattr(backend.target, method, None)
    return found if found is not None else getattr(backend.registry, method)


def _choices(body: dict[str, Any]) -> int:
    """How many answers a text completion writes (``n``, ``best_of``): each up to the limit."""
    most = 1
    for name in ("n", "best_of"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 128:
            raise _bad(f"'{name}' must be an integer from 1 to 128", param=name)
        most = max(most, value)
    return most


def _subject(body: dict[str, Any], name: str, expected: str) -> Any:
    """Pop the call's required ``name`` field: a non-empty string or list."""
    value = body.pop(name, None)
    if not isinstance(value, (str, list)) or not value:
        raise _bad(f"'{name}' must be a non-empty {expected}", param=name)
    return value


def _stream_flag(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # form fields
        return value.lower() == "true"
    raise _bad("'stream' must be a boolean", param="stream")


class _ApiRoutes:
    """The three routes, bound to one :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    # -- plumbing ------------------------------------------------------------------------

    async def _admitted(
        self, request: Request, body: dict[str, Any], max_field: str | None, audio: bytes = b""
    ) -> _Admitted:
        """The key, the model and the call's ticket (rpm slot, budget reservation).

        ``audio``: an upload to transcribe, reserved as the most audio its size can hold.
        ``model`` leaves ``body``: the call names the model it was admitted for.
        """
        gateway = self.gateway
        key = gateway.authenticate(request)
        for name in _CALL_CONTROL.intersection(body):
            # The body's fields become keywords of the library call: these would choose
            # where the gateway's keys go, its headers, or override the checked model.
            msg = f"'{name}' cannot be set through the gateway"
            raise _bad(msg, param=name)
        model = gateway.model_of(body, key)
        for name in _ROUTING_FIELDS:
            body.pop(name, None)  # retries/fallbacks are the chat route's; not forwarded
        output = 0
        budgeted = key is not None and key.budget is not None
        if max_field is not None:
            limit = body.get(max_field)
            if budgeted and limit is None:
                # The reservation assumes this many output tokens: make it a hard limit.
                limit = body[max_field] = gateway.pricer.policy.budget_max_tokens
            if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
                output = limit * _choices(body)
            elif limit is not None:
                raise _bad(f"'{max_field}' must be a positive integer", param=max_field)
        if budgeted:
            check_output_limits(body, (max_field or "",))
        seconds = audio_seconds_bound(len(audio)) if audio else 0
        input_tokens = input_bound(body) + seconds * AUDIO_TOKENS_PER_SECOND
        ticket = await gateway.admit(
            key, [model], input_tokens, output + seconds * TRANSCRIPT_TOKENS_PER_SECOND, seconds
        )
        body.pop("model", None)
        return _Admitted(key, model, ticket, input_tokens)

    async def _answer(self, call: _Admitted, method: str, first: Any, params: Any) -> Any:
        """The answer of the library's ``method`` (not streamed), its ticket settled."""
        model = call.model
        answer = _target(self.gateway, method)(model, first, **_keywords(method, params))
        return await self.gateway.settled(call.ticket, call.key, answer, lambda a: (model, a))

    async def _started(self, call: _Admitted, method: str, first: Any, params: Any) -> Any:
        """The primed stream of ``method``; if it fails to start, the call is charged nothing."""
        stream = _target(self.gateway, method)(call.model, first, **_keywords(method, params))
        try:
            return await primed(stream)
        except Exception:
            await self.gateway.settle(call.ticket, call.key, Decimal(0))
            raise
        except BaseException:
            await self.gateway.settle(call.ticket, call.key, None)
            raise

    def _sse(
        self,
        call: _Admitted,
        chunks: AsyncIterator[Any],
        render: Callable[[Any], bytes],
        *,
        started: float,
        route: str,
        usage_of: Callable[[], tuple[Any, Any]],
        texts: _Texts,
        done: bytes = b"",
    ) -> MeteredStream:
        gateway = self.gateway
        key, model, ticket, input_tokens = call
        scrub = gateway.scrub.remove_bytes
        status = 200
        tally = StreamTally()

        async def events() -> AsyncIterator[bytes]:
            nonlocal status
            try:
                async for chunk in chunks:
                    tally.add(*_texts_of(chunk))
                    for piece in texts.chunks(chunk):
                        yield scrub(render(piece))
                for piece in texts.close():  # text held back in case it began a secret
                    yield scrub(render(piece))
                if done:
                    yield done
            except LmuxError as exc:
                error = gateway.lmux_error(exc)
                status = error.status
                yield b"event: error\ndata: " + _dumps(as_dict(error)) + b"\n\n"
            except Exception:
                log.exception("unexpected error while streaming %s", route)
                status = 500
                error = GatewayError(500, "internal error in the gateway", type="server_error")
                yield b"event: error\ndata: " + _dumps(as_dict(error)) + b"\n\n"

        async def finish() -> None:
            # Runs once however the stream ended, before anything is closed (MeteredStream).
            gateway.metrics.in_flight -= 1
            gateway.metrics.observe(route, status, time.perf_counter() - started)
            usage, cost = usage_of()
            if usage is None:  # cut before its usage arrived: charge what was streamed
                usage = tally.usage(input_tokens)
            else:
                gateway.metrics.usage(model, usage.input_tokens, usage.output_tokens)
            await gateway.settle(ticket, key, gateway.charge_of(model, usage, cost))

        return MeteredStream(events(), finish=finish, upstream=chunks)

    def _json(self, data: Any) -> Response:
        """A JSON answer, scrubbed of every secret the gateway knows."""
        return Response(self.gateway.scrub.remove_bytes(_dumps(data)), media_type=_JSON)

    # -- /v1/responses -------------------------------------------------------------------

    async def responses(self, request: Request) -> Response:
        """``POST /v1/responses``."""
        return await self.gateway._handle(request, "/v1/responses", self._responses)  # noqa: SLF001 - same package

    async def _responses(self, request: Request, started: float, route: str) -> Response:
        body = await self.gateway.read_json(request)
        call = await self._admitted(request, body, "max_output_tokens")
        value = _subject(body, "input", "string or list of items")
        stream = _stream_flag(body.pop("stream", None))
        model = call.model
        if not stream:
            answer = await self._answer(call, "acreate_response", value, body)
            return self._json(response_dict(answer, model=model))
        chunks = await self._started(call, "acreate_response_stream", value, body)
        writer = ResponseEventWriter(model)

        def render(chunk: Any) -> bytes:
            event = writer.feed(chunk)
            return f"event: {event['type']}\ndata: ".encode() + _dumps(event) + b"\n\n"

        def usage() -> tuple[Any, Any]:
            final = writer.response
            return (final.usage, final.cost) if final is not None else (None, None)

        texts = ResponseScrub(self.gateway.scrub.stream)
        return self._sse(
            call, chunks, render, started=started, route=route, usage_of=usage, texts=texts
        )

    # -- /v1/completions -----------------------------------------------------------------

    async def completions(self, request: Request) -> Response:
        """``POST /v1/completions``."""
        return await self.gateway._handle(request, "/v1/completions", self._completions)  # noqa: SLF001

    async def _completions(self, request: Request, started: float, route: str) -> Response:
        body = await self.gateway.read_json(request)
        call = await self._admitted(request, body, "max_tokens")
        prompt = _subject(body, "prompt", "string or list of strings")
        stream = _stream_flag(body.pop("stream", None))
        body.pop("stream_options", None)  # usage always rides on the terminal chunk
        model = call.model
        if not stream:
            answer = await self._answer(call, "acomplete", prompt, body)
            return self._json(completion_dict(answer, model=model))
        chunks = await self._started(call, "acomplete_stream", prompt, body)
        seen: list[Any] = []
        chunk_id = f"cmpl-{int(started * 1e6):x}"

        def render(chunk: Any) -> bytes:
            if chunk.usage is not None:
                seen.append(chunk)
            return (
                b"data: "
                + _dumps(completion_chunk_dict(chunk, model=model, chunk_id=chunk_id))
                + b"\n\n"
            )

        texts = CompletionScrub(self.gateway.scrub.stream)
        return self._sse(
            call,
            chunks,
            render,
            started=started,
            route=route,
            usage_of=_last_usage(seen),
            texts=texts,
            done=b"data: [DONE]\n\n",
        )

    # -- /v1/audio/transcriptions --------------------------------------------------------

    async def transcriptions(self, request: Request) -> Response:
        """``POST /v1/audio/transcriptions`` (multipart upload)."""
        return await self.gateway._handle(  # noqa: SLF001
            request, "/v1/audio/transcriptions", self._transcriptions
        )

    async def _read_form(self, request: Request) -> tuple[dict[str, Any], bytes, str]:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise _bad("send the audio as multipart/form-data")
        limit = max(self.gateway.max_body_bytes, MAX_AUDIO_BYTES)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise GatewayError(
                413, f"upload is larger than {limit} bytes", code="request_too_large"
            )
        parts: list[bytes] = []

        async def collect() -> None:
            size = 0
            async for part in request.stream():
                size += len(part)
                if size > limit:
                    msg = f"upload is larger than {limit} bytes"
                    raise GatewayError(413, msg, code="request_too_large")
                parts.append(part)

        try:
            await asyncio.wait_for(collect(), self.gateway.body_timeout)
        except asyncio.TimeoutError:
            msg = f"request body not received within {self.gateway.body_timeout:g} s"
            raise GatewayError(408, msg, code="body_timeout") from None
        # The standard library's MIME parser reads the multipart body (RFC 7578 is MIME).
        message = BytesParser(_class=EmailMessage, policy=HTTP).parsebytes(
            b"content-type: " + content_type.encode("latin-1") + b"\r\n\r\n" + b"".join(parts)
        )
        if not message.is_multipart():
            raise _bad("malformed multipart/form-data body")
        fields: dict[str, Any] = {}
        audio: bytes | None = None
        filename = "audio.wav"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if name == "file":
                audio = data
                filename = part.get_filename() or filename
            elif name.endswith("[]"):
                fields.setdefault(name[:-2], []).append(data.decode())
            else:
                fields[name] = data.decode()
        if audio is None:
            raise _bad("the upload has no 'file' part", param="file")
        return fields, audio, filename

    async def _transcriptions(self, request: Request, started: float, route: str) -> Response:
        fields, audio, filename = await self._read_form(request)
        call = await self._admitted(request, fields, None, audio)
        stream = _stream_flag(fields.pop("stream", None))
        response_format = fields.get("response_format")
        if "temperature" in fields:
            try:
                fields["temperature"] = float(fields["temperature"])
            except ValueError:
                raise _bad("temperature must be a number", param="temperature") from None
        fields["filename"] = filename
        if not stream:
            answer = await self._answer(call, "atranscribe", audio, fields)
            body, media_type = transcription_body(answer, response_format)
            data = body.encode() if isinstance(body, str) else _dumps(body)
            return Response(self.gateway.scrub.remove_bytes(data), media_type=media_type)
        chunks = await self._started(call, "atranscribe_stream", audio, fields)
        final: list[Any] = []

        def render(chunk: Any) -> bytes:
            event: dict[str, Any] = {"type": chunk.type}
            if chunk.type == "transcript.text.delta":
                event["delta"] = chunk.delta
            if chunk.response is not None:
                final.append(chunk.response)
                body, _ = transcription_body(chunk.response, "json")
                if isinstance(body, dict):
                    event.update(body)
            return b"data: " + _dumps(event) + b"\n\n"

        texts = TranscriptScrub(self.gateway.scrub.stream)
        usage = _last_usage(final)
        return self._sse(
            call, chunks, render, started=started, route=route, usage_of=usage, texts=texts
        )


def api_routes(gateway: Gateway) -> list[Route]:
    """The routes of this module, with and without the ``/v1`` prefix (as the app's)."""
    routes = _ApiRoutes(gateway)
    return [
        Route(f"{prefix}/{path}", handler, methods=["POST"])
        for prefix in ("/v1", "")
        for path, handler in (
            ("responses", routes.responses),
            ("completions", routes.completions),
            ("audio/transcriptions", routes.transcriptions),
        )
    ]
