"""The gateway's ASGI app (Starlette): OpenAI's HTTP API in front of lmux-plug.

Routes: ``POST /v1/chat/completions`` (JSON, or SSE chunks ending in ``data: [DONE]``),
``POST /v1/embeddings``, ``POST /v1/responses``, ``POST /v1/completions`` and
``POST /v1/audio/transcriptions`` (those three in :mod:`lmux_plug.gateway.apis`),
``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /health``, ``GET /metrics`` (Prometheus
text). Calls go to a router when one is configured, else to a
registry. Clients authenticate with virtual keys (:mod:`lmux_plug.gateway.keys`); every
error is an OpenAI-format body (:mod:`lmux_plug.gateway.errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import TypedDict
from typing import TypeVar

import attrs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from lmux_plug._aclose import aclose_if_any
from lmux_plug._secrets import scrubbed_logger
from lmux_plug._types import ChatChunk
from lmux_plug._types import Message
from lmux_plug.convert import to_messages
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import LmuxError
from lmux_plug.gateway.accounts import Accounts
from lmux_plug.gateway.accounts import Ticket
from lmux_plug.gateway.apis import api_routes
from lmux_plug.gateway.budget import BudgetPolicy
from lmux_plug.gateway.budget import Pricer
from lmux_plug.gateway.budget import StreamTally
from lmux_plug.gateway.budget import check_output_limits
from lmux_plug.gateway.budget import input_bound
from lmux_plug.gateway.errors import GatewayError
from lmux_plug.gateway.errors import Scrubber
from lmux_plug.gateway.errors import as_dict
from lmux_plug.gateway.errors import error_json
from lmux_plug.gateway.errors import from_lmux
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.metrics import CONTENT_TYPE
from lmux_plug.gateway.metrics import Metrics
from lmux_plug.gateway.metrics import deployment_labels
from lmux_plug.gateway.metrics import render_router
from lmux_plug.gateway.streams import ChatScrub
from lmux_plug.gateway.streams import MeteredStream
from lmux_plug.gateway.validate import MAX_DEPTH
from lmux_plug.gateway.validate import check_chat
from lmux_plug.gateway.validate import check_depth
from lmux_plug.gateway.validate import check_embeddings
from lmux_plug.gateway.validate import check_model_id
from lmux_plug.openai._backend import Backend
from lmux_plug.openai._backend import is_empty
from lmux_plug.openai._wire import ChunkWriter
from lmux_plug.openai._wire import chat_params
from lmux_plug.openai._wire import completion_dict
from lmux_plug.openai._wire import embedding_dict
from lmux_plug.router.state import CounterBackend

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lmux_plug.client import Client
    from lmux_plug.client import RoutingClient

__all__ = ["METRICS_AUTH", "Gateway", "GatewayOptions", "create_app"]

log = scrubbed_logger("lmux_plug.gateway")

#: Who may read ``/metrics``: ``"key"`` any valid virtual key (when keys are configured),
#: ``"open"`` anyone.
METRICS_AUTH = frozenset({"key", "open"})

T = TypeVar("T")

_JSON = "application/json"
_MAX_RETRIES = 5
_INTERNAL = "internal error in the gateway"
# Bodies above this size are decoded on a worker thread, so one large post does not hold
# up every other client on the event loop.
_THREAD_DECODE_BYTES = 64 * 1024
_ZERO = Decimal(0)


# One encoder for every response: json.dumps with non-default arguments builds a new
# JSONEncoder per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(data: Any) -> bytes:
    return _encode(data).encode()


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON and cannot be sent on.
    msg = f"request body contains {name}, which is not valid JSON"
    raise _bad(msg, param="body", code="invalid_json")


def _decode(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, at most :data:`MAX_DEPTH` deep (400 otherwise)."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        msg = f"request body is nested deeper than {MAX_DEPTH} levels"
        raise _bad(msg, param="body", code="invalid_json") from None
    except (ValueError, UnicodeDecodeError):
        raise _bad("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object", code="invalid_json")
    check_depth(body)
    return body


async def _within(coroutine: Coroutine[Any, Any, bytes], seconds: float) -> bytes:
    # asyncio.timeout (3.11+) cancels in place; wait_for would start a task per request.
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(coroutine, seconds)
    async with timeout(seconds):
        return await coroutine


def _error_response(error: GatewayError) -> Response:
    return Response(
        error_json(error.message, type=error.type, code=error.code, param=error.param),
        status_code=error.status,
        media_type=_JSON,
        headers=error.headers,
    )


def _bad(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def _swap(result: tuple[Any, str]) -> tuple[str, Any]:
    """A backend's ``(answer, model used)`` as ``(model, answer)``."""
    return result[1], result[0]


@attrs.frozen
class _ChatBody:
    """A decoded, checked chat request: the body, typed messages, a prompt-token bound."""

    body: dict[str, Any]
    messages: tuple[Message, ...]
    prompt_tokens: int


def _parse_chat(raw: bytes) -> _ChatBody:
    body = _decode(raw)
    check_chat(body)
    try:
        messages = to_messages(body["messages"])
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        msg = f"invalid messages: {exc}"
        raise _bad(msg, param="messages") from None
    prompt = input_bound(body["messages"], body.get("tools"), body.get("response_format"))
    return _ChatBody(body, messages, prompt)


def _tool_texts(chunk: ChatChunk) -> list[str | None]:
    texts: list[str | None] = []
    for delta in chunk.tool_call_deltas:
        texts += (delta.name, delta.arguments)
    return texts


class _LogScrubber(logging.Filter):
    """Removes every running gateway's secrets from its log records (and their tracebacks)."""

    def __init__(self) -> None:
        super().__init__()
        self.scrubbers: weakref.WeakSet[Scrubber] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and traceback text with secrets removed."""
        scrubbers = list(self.scrubbers)
        if not scrubbers:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        for scrub in scrubbers:
            message = scrub.remove(message)
            if record.exc_text:
                record.exc_text = scrub.remove(record.exc_text)
        record.msg, record.args = message, None
        return True


_LOG_FILTER = _LogScrubber()
log.addFilter(_LOG_FILTER)
# uvicorn logs an exception that escapes the app with its traceback: scrubbed the same way.
scrubbed_logger("uvicorn.error").addFilter(_LOG_FILTER)


class GatewayOptions(TypedDict, total=False):
    """The keyword options of :class:`Gateway`, which :func:`create_app` passes on.

    Their defaults and meaning are :class:`Gateway`'s (and :func:`create_app`'s docstring).
    """

    keys: KeyStore | None
    max_body_bytes: int
    body_timeout: float
    max_in_flight: int | None
    secrets: Iterable[str]
    state: Any
    policy: BudgetPolicy | None
    aliases: Mapping[str, str] | None
    metrics_auth: str


class Gateway:
    """State shared by the routes: backend, keys, accounts, metrics, scrubber."""

    def __init__(
        self,
        backend: Backend,
        *,
        keys: KeyStore | None = None,
        max_body_bytes: int = 1 << 20,
        body_timeout: float = 30.0,
        max_in_flight: int | None = None,
        secrets: Iterable[str] = (),
        state: Any = None,
        policy: BudgetPolicy | None = None,
        aliases: Mapping[str, str] | None = None,
        metrics_auth: str = "key",
    ) -> None:
        if metrics_auth not in METRICS_AUTH:
            msg = f"metrics_auth must be one of {sorted(METRICS_AUTH)}, got {metrics_auth!r}"
            raise ConfigurationError(msg)
        self.metrics_auth = metrics_auth
        self.backend = backend
        self.max_in_flight = max_in_flight
        self.keys = keys or KeyStore()
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.aliases = dict(aliases or {})
        for name, target in self.aliases.items():
            check_model_id(target, param=f"aliases.{name}")
        self.accounts = Accounts(state)
        self.pricer = Pricer(backend, policy or BudgetPolicy())
        self._known: tuple[object, frozenset[str]] = (object(), frozenset())
        self.metrics = Metrics(known_models=self.known_models, keys=[key.name for key in self.keys])
        self.scrub = Scrubber([*secrets, *_provider_secrets(backend)])
        _LOG_FILTER.scrubbers.add(self.scrub)
        # Settlements run as tasks of their own, so a cancelled request cannot stop them.
        self._settling: set[asyncio.Future[None]] = set()

    # -- names ---------------------------------------------------------------------------

    def known_models(self) -> frozenset[str]:
        """Model names with their own metrics label: declared, router models, aliases."""
        config = getattr(self.backend.router, "config", None)
        if self._known[0] is not config:  # rebuilt when the router reloads its config
            names = {name for name, _ in self.backend.models()}
            names.update(self.aliases)
            self._known = (config, frozenset(names))
        return self._known[1]

    def deployment_labels(self) -> dict[str, str]:
        """``/metrics`` labels of the configured router deployments (never a base URL)."""
        config = getattr(self.backend.router, "config", None)
        models = getattr(config, "models", None) or {}
        return deployment_labels(d for m in models.values() for d in m.deployments)

    # -- request plumbing ----------------------------------------------------------------

    def authenticate(self, request: Request) -> VirtualKey | None:
        """The caller's virtual key (``None`` when the gateway runs without keys)."""
        if not self.keys.enabled:
            return None
        return self.keys.authenticate(request.headers.get("authorization"))

    async def read_json(self, request: Request) -> dict[str, Any]:
        """The request body as a JSON object, bounded in size, depth and time."""
        return await self.read_body(request, _decode)

    async def read_body(self, request: Request, parse: Callable[[bytes], T]) -> T:
        """``parse(body)``, the body bounded in size and time.

        A large body is parsed on a worker thread: decoding and converting a megabyte of
        JSON takes tens of milliseconds that every other client would otherwise wait.
        """
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _bad("invalid Content-Length header")
            if int(declared) > self.max_body_bytes:
                raise self._too_large()
        try:
            raw = await _within(self._read(request), self.body_timeout)
        except asyncio.TimeoutError:
            msg = f"request body not received within {self.body_timeout:g} s"
            raise GatewayError(408, msg, code="body_timeout") from None
        if len(raw) > _THREAD_DECODE_BYTES:
            return await asyncio.get_running_loop().run_in_executor(None, parse, raw)
        return parse(raw)

    def _too_large(self) -> GatewayError:
        msg = f"request body is larger than {self.max_body_bytes} bytes"
        return GatewayError(413, msg, code="request_too_large")

    async def _read(self, request: Request) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > self.max_body_bytes:
                raise self._too_large()
            parts.append(part)
        return b"".join(parts)

    def model_of(self, body: Mapping[str, Any], key: VirtualKey | None = None) -> str:
        """The model to call (alias resolved, ``"gpt-4o"`` -> ``"openai/gpt-4o"``), checked.

        The name must be safe to put in a URL path, and allowed for ``key`` (under its
        alias or what the alias stands for).
        """
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise _bad("'model' is required and must be a non-empty string", param="model")
        return self._resolve(model, key, "model")

    def _resolve(self, model: str, key: VirtualKey | None, param: str) -> str:
        check_model_id(model, param)
        target = self.aliases.get(model)
        name = self.backend.model_name(target if target is not None else model)
        check_model_id(name, param)
        if key is not None:
            key.check_model(name, model)
        return name

    def routing(self, body: dict[str, Any], key: VirtualKey | None) -> dict[str, Any]:
        """``fallback_models`` / ``retries`` from the body (each fallback checked per key)."""
        options: dict[str, Any] = {}
        fallbacks = body.pop("fallback_models", None)
        retries = body.pop("retries", None)
        if fallbacks is not None:
            if not isinstance(fallbacks, list) or not all(isinstance(m, str) for m in fallbacks):
                raise _bad("fallback_models must be a list of model names", param="fallback_models")
            options["fallback_models"] = [
                self._resolve(name, key, "fallback_models") for name in fallbacks
            ]
        if retries is not None:
            if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
                raise _bad("retries must be a non-negative integer", param="retries")
            options["retries"] = min(retries, _MAX_RETRIES)
        return options

    def charge_of(self, model: str, usage: Any, cost: Any) -> Decimal | None:
        """What a finished call cost: the provider's price, else the default price."""
        total = getattr(cost, "total", None)
        if total is not None:
            return Decimal(total)
        if usage is None:
            return None
        return self.pricer.cost(model, usage)

    async def settle(self, ticket: Ticket, key: VirtualKey | None, charge: Any) -> None:
        """Settle ``ticket`` with ``charge`` and count it; survives the caller's cancellation.

        The settlement runs as its own task: when the request is cancelled (a client that
        disconnects), the shield lets the task finish the accounting anyway.
        """
        self.metrics.spend(key.name if key is not None else "anonymous", charge)
        if ticket.key is None:
            return
        task = asyncio.ensure_future(self.accounts.settle(ticket, charge))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        await asyncio.shield(task)

    async def admit(
        self,
        key: VirtualKey | None,
        names: list[str],
        input_tokens: int,
        output_tokens: int,
        audio_seconds: int = 0,
    ) -> Ticket:
        """Take the key's rpm slot and reserve the call's worst case (budgeted keys)."""
        if key is None or key.budget is None:
            return await self.accounts.admit(key, None)
        worst = self.pricer.worst_case(names, input_tokens, output_tokens, audio_seconds)
        return await self.accounts.admit(key, worst)

    async def settled(
        self,
        ticket: Ticket,
        key: VirtualKey | None,
        call: Awaitable[T],
        priced: Callable[[T], tuple[str, Any]],
    ) -> T:
        """Await ``call``, then settle ``ticket`` with what its answer cost.

        ``priced(result)`` gives the model that answered and the answer (with ``usage`` and
        ``cost``). A failed call is charged nothing; a cancelled one keeps its whole
        reservation (the provider may have done the work).
        """
        charge: Decimal | None = None
        try:
            result = await call
            model, answer = priced(result)
            usage = getattr(answer, "usage", None)
            charge = self.charge_of(model, usage, getattr(answer, "cost", None))
            if usage is not None:
                self.metrics.usage(model, usage.input_tokens, usage.output_tokens)
        except Exception:
            charge = _ZERO  # the provider refused or failed: nothing to pay
            raise
        finally:
            await self.settle(ticket, key, charge)
        return result

    def lmux_error(self, exc: LmuxError) -> GatewayError:
        """The client-facing error for a lmux-plug error (scrubbed)."""
        return from_lmux(exc, self.scrub)

    # -- routes --------------------------------------------------------------------------

    async def chat_completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        return await self._handle(request, "/v1/chat/completions", self._chat)

    async def embeddings(self, request: Request) -> Response:
        """``POST /v1/embeddings``."""
        return await self._handle(request, "/v1/embeddings", self._embed)

    async def models(self, request: Request) -> Response:
        """``GET /v1/models`` and ``GET /v1/models/{model}``."""
        return await self._handle(request, "/v1/models", self._models)

    async def health(self, request: Request) -> Response:  # noqa: ARG002 - route signature
        """``GET /health``: the process is up and serving."""
        return Response(b'{"status":"ok"}', media_type=_JSON)

    async def metrics_route(self, request: Request) -> Response:
        """``GET /metrics`` in Prometheus text format (plus the router's, if any).

        Needs a virtual key when keys are configured, unless ``metrics_auth="open"``.
        """
        try:
            if self.metrics_auth != "open":
                self.authenticate(request)
        except GatewayError as exc:
            return _error_response(exc)
        text = self.metrics.render()
        router = self.backend.router
        astats = getattr(router, "astats", None)
        if astats is not None:
            try:
                text += render_router(await astats(), self.deployment_labels())
            except LmuxError:
                log.warning("router stats unavailable", exc_info=True)
        return Response(self.scrub.remove(text), media_type=CONTENT_TYPE)

    async def stats_route(self, request: Request) -> Response:
        """``GET /stats``: router stats per deployment and key, as JSON (404 without a router).

        Needs a virtual key when keys are configured (it names internal deployments).
        """
        try:
            self.authenticate(request)
        except GatewayError as exc:
            return _error_response(exc)
        astats = getattr(self.backend.router, "astats", None)
        if astats is None:
            return _error_response(
                GatewayError(404, "no router is configured", type="not_found_error")
            )
        stats = await astats()
        deployments = stats.get("deployments")
        if isinstance(deployments, dict):
            # Ids are ``model@base_url``: the host stays, credentials in the URL do not.
            stats = {
                **stats,
                "deployments": {_no_credentials(d): v for d, v in deployments.items()},
            }
        return Response(
            self.scrub.remove(json.dumps(stats, default=str)).encode(), media_type=_JSON
        )

    def _shed_load(self) -> None:
        """Refuse a request beyond ``max_in_flight`` (503): shed load rather than queue."""
        if self.max_in_flight is not None and self.metrics.in_flight > self.max_in_flight:
            msg = f"the gateway is serving {self.max_in_flight} requests; retry shortly"
            raise GatewayError(
                503,
                msg,
                type="service_unavailable",
                code="overloaded",
                headers={"retry-after": "1"},
            )

    async def _handle(self, request: Request, route: str, work: Any) -> Response:
        started = time.perf_counter()
        metrics = self.metrics
        metrics.in_flight += 1
        status = 500
        streaming = False
        try:
            self._shed_load()
            response: Response = await work(request, started, route)
            status = response.status_code
            streaming = isinstance(response, StreamingResponse)
        except GatewayError as exc:
            status = exc.status
            return _error_response(exc)
        except LmuxError as exc:
            try:
                error = self.lmux_error(exc)
            except Exception:  # an error that cannot even be described: still JSON
                log.exception("cannot map an error while serving %s", route)
                error = GatewayError(502, "upstream error", type="upstream_error")
            status = error.status
            return _error_response(error)
        except Exception:
            # The traceback goes to the server log only; the client gets a generic body.
            log.exception("unexpected error serving %s", route)
            return _error_response(GatewayError(500, _INTERNAL, type="server_error"))
        else:
            return response
        finally:
            if not streaming:  # a stream accounts for itself when it ends
                metrics.in_flight -= 1
                metrics.observe(route, status, time.perf_counter() - started)

    async def _chat(self, request: Request, started: float, route: str) -> Response:
        key = self.authenticate(request)
        parsed = await self.read_body(request, _parse_chat)
        body, messages, input_tokens = parsed.body, parsed.messages, parsed.prompt_tokens
        model = self.model_of(body, key)
        options = self.routing(body, key)
        params = chat_params(body)
        if key is not None and key.budget is not None:
            if "max_tokens" not in params:
                # The reservation assumes this many output tokens: make it a hard limit.
                params["max_tokens"] = self.pricer.policy.budget_max_tokens
            check_output_limits(params.get("extra_body") or {}, ())
        ticket = await self.admit(
            key,
            [model, *options.get("fallback_models", ())],
            input_tokens,
            params.get("max_tokens") or 0,
        )
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(
                key=key,
                ticket=ticket,
                model=model,
                messages=messages,
                params=params,
                options=options,
                include_usage=include_usage,
                input_tokens=input_tokens,
                started=started,
                route=route,
            )
        response, used = await self.settled(
            ticket, key, self.backend.achat(model, messages, **params, **options), _swap
        )
        data = _dumps(completion_dict(response, model=used))
        return Response(self.scrub.remove_bytes(data), media_type=_JSON)

    async def _stream(
        self,
        *,
        key: VirtualKey | None,
        ticket: Ticket,
        model: str,
        messages: tuple[Message, ...],
        params: dict[str, Any],
        options: dict[str, Any],
        include_usage: bool,
        input_tokens: int,
        started: float,
        route: str,
    ) -> Response:
        # The first chunk is fetched before the response starts, so a failure up to there
        # still gets its proper status code instead of a 200 with an error event.
        try:
            primed = await self.backend.achat_stream(model, messages, **params, **options)
        except Exception:
            await self.settle(ticket, key, _ZERO)
            raise
        except BaseException:
            await self.settle(ticket, key, None)
            raise
        writer = ChunkWriter(primed.model, include_usage=include_usage)
        scrub = self.scrub.remove_bytes
        texts = ChatScrub(self.scrub.stream)
        status = 200
        tally = StreamTally()

        def event(chunk: ChatChunk) -> bytes | None:
            data = writer.feed(texts.chunk(chunk))
            return None if data is None else scrub(b"data: " + _dumps(data) + b"\n\n")

        async def events() -> AsyncIterator[bytes]:
            nonlocal status
            try:
                async for chunk in primed:
                    if is_empty(chunk):
                        continue
                    tally.add(chunk.delta, *_tool_texts(chunk))
                    data = event(chunk)
                    if data is not None:
                        yield data
                rest = texts.close()  # text held back in case it began a secret
                if rest is not None and (data := event(rest)) is not None:
                    yield data
                final = writer.finish()
                if final is not None:
                    yield b"data: " + _dumps(final) + b"\n\n"
                yield b"data: [DONE]\n\n"
            except LmuxError as exc:
                # Headers are gone: the error travels as an event, as OpenAI does.
                error = self.lmux_error(exc)
                status = error.status
                yield b"data: " + _dumps(as_dict(error)) + b"\n\n"
            except Exception:
                log.exception("unexpected error while streaming")
                status = 500
                error = GatewayError(500, _INTERNAL, type="server_error")
                yield b"data: " + _dumps(as_dict(error)) + b"\n\n"

        async def finish() -> None:
            # Runs once, however the stream ended (see MeteredStream), before any close.
            self.metrics.in_flight -= 1
            self.metrics.observe(route, status, time.perf_counter() - started)
            usage = writer.usage
            if usage is None:  # cut before the usage chunk: charge what was streamed
                usage = tally.usage(input_tokens)
            else:
                self.metrics.usage(primed.model, usage.input_tokens, usage.output_tokens)
            await self.settle(ticket, key, self.charge_of(primed.model, usage, writer.cost))

        return MeteredStream(events(), finish=finish, upstream=primed)

    async def _embed(self, request: Request, started: float, route: str) -> Response:  # noqa: ARG002
        key = self.authenticate(request)
        body = await self.read_json(request)
        model = self.model_of(body, key)
        check_embeddings(body)
        inputs = body["input"]
        encoding_format = body.get("encoding_format")
        dimensions = body.get("dimensions")
        options = self.routing(body, key)
        params: dict[str, Any] = {"dimensions": dimensions} if dimensions is not None else {}
        names = [model, *options.get("fallback_models", ())]
        ticket = await self.admit(key, names, input_bound(inputs), 0)
        response, used = await self.settled(
            ticket, key, self.backend.aembed(model, inputs, **params, **options), _swap
        )
        data = _dumps(embedding_dict(response, model=used, encoding_format=encoding_format))
        return Response(self.scrub.remove_bytes(data), media_type=_JSON)

    async def _models(self, request: Request, started: float, route: str) -> Response:  # noqa: ARG002
        key = self.authenticate(request)
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": owner}
            for name, owner in self.backend.models()
            if key is None or key.allows_model(name)
        ]
        models.extend(
            {"id": name, "object": "model", "created": 0, "owned_by": "lmux-plug"}
            for name in sorted(self.aliases)
            if key is None or key.allows_model(name) or key.allows_model(self.aliases[name])
        )
        wanted = request.path_params.get("model")
        if wanted is None:
            return Response(_dumps({"object": "list", "data": models}), media_type=_JSON)
        for model in models:
            if model["id"] == wanted:
                return Response(_dumps(model), media_type=_JSON)
        msg = f"model {wanted!r} does not exist"
        raise GatewayError(404, msg, type="not_found_error", code="model_not_found", param="model")


_URL_USER = re.compile(r"(?<=://)[^/@?#\s]*@")
_URL_QUERY = re.compile(r"[?#].*$")


def _no_credentials(deployment_id: str) -> str:
    """A deployment id without the user info and query of its base URL (keys live there)."""
    if "://" not in deployment_id:
        return deployment_id
    return _URL_QUERY.sub("", _URL_USER.sub("", deployment_id))


def _router_state(router: Any) -> Any:
    """The router's state backend, if it can also keep the keys' counters."""
    backend = getattr(router, "backend", None)
    if backend is None or isinstance(backend, CounterBackend):
        return backend
    log.warning(
        "the router's state backend %s keeps no counters: keys' limits and budgets are "
        "kept in this process only",
        type(backend).__name__,
    )
    return None


def _provider_secrets(backend: Backend) -> list[str]:
    """Provider keys this process can send (configured, env, router pools), to scrub."""
    secrets: list[str] = []
    scrub = getattr(backend.registry, "secrets_to_scrub", None)
    if scrub is not None:
        secrets.extend(scrub())
    config = getattr(backend.router, "config", None)
    for model in getattr(config, "models", {}).values():
        for deployment in getattr(model, "deployments", ()):
            secrets.extend(key.reveal() for key in getattr(deployment, "api_keys", ()))
    return secrets


async def _http_error(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = "unknown path" if exc.status_code == 404 else str(exc.detail)
    return _error_response(GatewayError(exc.status_code, message, type=kind, headers=exc.headers))


async def _server_error(request: Request, exc: Exception) -> Response:  # noqa: ARG001
    return _error_response(GatewayError(500, _INTERNAL, type="server_error"))


class _App(Starlette):
    """Starlette with a direct path for the model-call routes.

    ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` (and their ``/v1``-less
    twins) go straight to their handler, skipping Starlette's error and exception
    middleware and the route table: the handlers already turn every exception into an
    OpenAI-format response, so those layers only cost time on the hot path. Anything else
    (other paths and methods, a ``root_path``, middleware added later) takes the full stack.
    """

    fast_routes: dict[str, Any]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and not self.user_middleware
        ):
            handler = self.fast_routes.get(scope["path"])
            if handler is not None:
                scope["app"] = self
                response: Response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    *,
    registry: Client | None = None,
    router: RoutingClient | None = None,
    default_provider: str = "openai",
    **options: Unpack[GatewayOptions],
) -> Starlette:
    """The gateway app over ``router`` (preferred) or ``registry``.

    ``keys`` holds the virtual keys; without any, the gateway is open (serve it on
    loopback only). ``secrets`` are extra strings never to echo to a client (provider
    keys given in config). ``max_in_flight`` caps concurrent model calls (more get 503
    with ``retry-after``). ``state`` is the backend keeping keys' limits and budgets (the
    router's, e.g. a :class:`~lmux_plug.router.state.RedisBackend` shared by processes;
    default: the router's backend, else in memory). ``policy`` prices budgeted calls
    (:class:`~lmux_plug.gateway.budget.BudgetPolicy`); ``aliases`` map names to models.
    ``metrics_auth``: ``"key"`` (default) makes ``/metrics`` need a virtual key when keys are
    configured, as ``/stats`` does; ``"open"`` serves it to anyone (a private network's
    scraper).
    ``app.state.gateway`` is the :class:`Gateway`; the other options are its own
    (:class:`GatewayOptions`, defaults in :class:`Gateway`).
    """
    if registry is None and router is None:
        from lmux_plug.registry import Registry  # noqa: PLC0415

        registry = Registry.from_entry_points()
    backend = Backend(router=router, registry=registry, default_provider=default_provider)
    if options.get("state") is None:
        options["state"] = _router_state(router)
    gateway = Gateway(backend, **options)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        # Pools opened on the server's loop are closed on it.
        with contextlib.suppress(Exception):
            await aclose_if_any(backend.target)

    routes = [
        Route("/health", gateway.health, methods=["GET"]),
        Route("/metrics", gateway.metrics_route, methods=["GET"]),
        Route("/stats", gateway.stats_route, methods=["GET"]),
    ]
    # Clients configured with a base URL without /v1 reach the same endpoints.
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/chat/completions", gateway.chat_completions, methods=["POST"]),
            Route(f"{prefix}/embeddings", gateway.embeddings, methods=["POST"]),
            Route(f"{prefix}/models", gateway.models, methods=["GET"]),
            Route(f"{prefix}/models/{{model:path}}", gateway.models, methods=["GET"]),
        ]
    routes += api_routes(gateway)  # /v1/responses, /v1/completions, /v1/audio/transcriptions
    app = _App(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.fast_routes = {
        f"{prefix}/{name}": handler
        for prefix in ("/v1", "")
        for name, handler in (
            ("chat/completions", gateway.chat_completions),
            ("embeddings", gateway.embeddings),
        )
    }
    app.state.gateway = gateway
    return app
