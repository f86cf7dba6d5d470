"""The core HTTP transport every plugin shares.

:class:`Transport` has two paths behind one policy. Plain ``http``/``https`` requests that
need no proxy go through the lean HTTP/1.1 client (:mod:`lmux_plug._http1`: keep-alive
pools over asyncio protocols, framing by llhttp through ``httptools``); requests through a
proxy (``HTTPS_PROXY``/``NO_PROXY``), URLs with user info, and every request while aiohttp
is patched go through ``aiohttp.ClientSession``. Both share the TLS context (verified; a CA
bundle from ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``), the timeouts,
the redirect rules, the body limits (bounded decompression, :mod:`lmux_plug._http_body`)
and the checks of the caller's headers. Failures leave this module only as
:mod:`lmux_plug.errors` exceptions.

vcrpy, pytest-recording and aioresponses: they record, replay or mock what goes through
``aiohttp.ClientSession``, and they do it by replacing the class attribute
``ClientSession._request`` while a cassette or mock is active. :func:`_aiohttp_is_patched`
compares that attribute with aiohttp's own function (recognised once by its public
``__module__`` and ``__qualname__`` and by having no ``__wrapped__``, which
``functools.wraps`` leaves on a replacement; then by identity); while they differ, every
request takes the aiohttp path, so existing cassette setups keep working unchanged. Code
objects are never inspected. Tests of your own should rather pass a transport:
:class:`AsyncTransport` is what providers call, and :mod:`lmux_plug.transports` has a mock,
a recorder and a replayer.

aiohttp is imported on first use, so ``import lmux_plug`` stays fast.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from types import FunctionType
from types import ModuleType
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from typing import Protocol
from typing import TypedDict
from urllib.parse import urljoin
from urllib.parse import urlsplit

import attrs

from lmux_plug._http_body import DEFAULT_MAX_BYTES
from lmux_plug._http_errors import error_from_response
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import ResponseTooLargeError
from lmux_plug.errors import TimeoutError

if TYPE_CHECKING:
    import asyncio
    import ssl

    import aiohttp
    from typing_extensions import Unpack

    from lmux_plug._http1 import Exchange
    from lmux_plug._http1 import Http1Pool
    from lmux_plug._http1 import Target
    from lmux_plug._http_body import BodyDecoder

__all__ = [
    "CREDENTIAL_HEADERS",
    "AsyncTransport",
    "HttpResponse",
    "RequestOptions",
    "StreamingResponse",
    "Timeout",
    "Transport",
    "check_request_headers",
    "map_transport_error",
]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


@attrs.frozen
class Timeout:
    """Timeouts in seconds: connecting, waiting between bytes, and the whole exchange."""

    connect: float | None = 10.0
    read: float | None = 300.0
    total: float | None = 600.0


@attrs.frozen
class HttpResponse:
    """A complete (non-streamed) response.

    ``headers`` is always a plain ``dict`` with lower-case names (plugins rely on it), on
    both paths; so is :attr:`StreamingResponse.headers`.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self, *, provider: str | None = None, model: str | None = None) -> Any:
        """Decode the body as JSON; malformed JSON becomes :class:`ProviderError`."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            msg = f"malformed JSON in response: {self.body[:200]!r}"
            raise ProviderError(
                msg, provider=provider, model=model, status_code=self.status
            ) from exc


class _Body(Protocol):
    """What a streaming response reads from: an exchange on either path, or a test body."""

    async def readany(self) -> bytes: ...

    def release(self) -> None: ...


@attrs.define
class StreamingResponse:
    """A response whose body is read incrementally with :meth:`iter_bytes`."""

    status: int
    headers: Mapping[str, str]
    _body: _Body = attrs.field(alias="body", repr=False)
    _provider: str | None = attrs.field(alias="provider", default=None)
    _model: str | None = attrs.field(alias="model", default=None)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive; transport failures raise ``LmuxError``."""
        body = self._body
        try:
            while True:
                chunk = await body.readany()
                if not chunk:
                    return
                yield chunk
        except Exception as exc:
            if _is_transport_error(exc):
                raise _map_transport_error(exc, self._provider, self._model) from exc
            raise

    def close(self) -> None:
        """Give the connection back: to the pool when the body was read, else drop it.

        Call it in a ``finally`` around the iteration; it is idempotent.
        """
        self._body.release()


def _ssl_context() -> ssl.SSLContext:
    """The one TLS setting of both paths: verified, with a CA bundle from the environment."""
    import ssl  # noqa: PLC0415 - lazy: only when the first connection is made

    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(var)
        if path and os.path.exists(path):  # noqa: PTH110 - pathlib is a start-up cost
            return ssl.create_default_context(cafile=path)
    return ssl.create_default_context()


def _timeout_error(provider: str | None, model: str | None) -> TimeoutError:
    return TimeoutError("request timed out", provider=provider, model=model)


def _is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the connection (to be mapped), not a bug."""
    import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

    import aiohttp  # noqa: PLC0415

    from lmux_plug._http1 import Http1Error  # noqa: PLC0415
    from lmux_plug._http_body import BodyError  # noqa: PLC0415

    return isinstance(
        exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError, Http1Error, BodyError)
    )


def _map_transport_error(exc: BaseException, provider: str | None, model: str | None) -> LmuxError:
    import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

    import aiohttp  # noqa: PLC0415

    from lmux_plug import _http1  # noqa: PLC0415
    from lmux_plug import _http_body  # noqa: PLC0415

    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError, _http1.ReadTimeoutError)):
        return _timeout_error(provider, model)
    if isinstance(exc, _http_body.BodyTooLargeError):
        return ResponseTooLargeError(str(exc), provider=provider, model=model)
    if isinstance(exc, aiohttp.ClientPayloadError):
        msg = f"response body truncated or malformed: {exc}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        msg = f"cannot connect: {exc.os_error}"
    elif isinstance(exc, _http1.ConnectError):
        msg = f"cannot connect: {exc}"
    elif isinstance(exc, (_http1.ProtocolError, _http1.ConnectionClosedError)):
        msg = f"response truncated or malformed: {exc}"
    elif isinstance(exc, _http_body.BodyDecodeError):
        msg = f"response body malformed: {exc}"
    else:
        msg = f"connection failed: {type(exc).__name__}: {exc}"
    return ProviderError(msg, provider=provider, model=model)


# aiohttp's own ``ClientSession._request``, remembered the first time it is seen unpatched.
_AIOHTTP_REQUEST: list[object] = []
_AIOHTTP_CLIENT: list[type] = []  # aiohttp.ClientSession, once imported


def _is_aiohttp_own_request(function: object) -> bool:
    # vcrpy's replacement copies the name and module with functools.wraps, which also sets
    # ``__wrapped__``: aiohttp's own function has none.
    return (
        isinstance(function, FunctionType)
        and function.__module__ == "aiohttp.client"
        and function.__qualname__ == "ClientSession._request"
        and not hasattr(function, "__wrapped__")
    )


def _aiohttp_is_patched() -> bool:
    """True while something (vcrpy, pytest-recording, aioresponses) replaced aiohttp's request.

    Cassette libraries only see traffic that goes through ``aiohttp.ClientSession``: vcrpy
    (and pytest-recording, which drives vcrpy) and aioresponses swap the class attribute
    ``ClientSession._request`` for their own function while a cassette or mock is active.
    The check compares that attribute with aiohttp's own function object (identified once
    by its public ``__module__`` and ``__qualname__`` and the absence of the ``__wrapped__``
    that ``functools.wraps`` leaves on a replacement, then by identity), so it needs no
    knowledge of any patcher's internals; while it differs, every request takes the
    aiohttp path and is recorded or replayed. Tests of our own should rather pass a
    transport (:class:`lmux_plug.transports.MockTransport`, replay and record transports).
    """
    if not _AIOHTTP_CLIENT:
        from aiohttp import client  # noqa: PLC0415

        _AIOHTTP_CLIENT.append(client.ClientSession)
    current = _AIOHTTP_CLIENT[0].__dict__.get("_request")
    if _AIOHTTP_REQUEST:
        return current is not _AIOHTTP_REQUEST[0]
    if _is_aiohttp_own_request(current):
        _AIOHTTP_REQUEST.append(current)
        return False
    return True


class _Lean(NamedTuple):
    """What the lean path imports with its first request, kept for the ones after it.

    ``import lmux_plug.http`` needs neither asyncio nor httptools. An import statement on
    every request costs more than reading a global: with the module loaded, the import
    system still asks whether it is initialising.
    """

    get_running_loop: Callable[[], asyncio.AbstractEventLoop]
    http1: ModuleType


_LEAN: list[_Lean] = []


def _lean() -> _Lean:
    if not _LEAN:
        import asyncio  # noqa: PLC0415

        from lmux_plug import _http1  # noqa: PLC0415

        _LEAN.append(_Lean(asyncio.get_running_loop, _http1))
    return _LEAN[0]


_TRANSPORT_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# Headers that carry credentials in the auth schemes providers use; never sent to another
# origin on a redirect (nor is any header whose value holds one of the call's secrets).
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie"}
)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _header_name(name: object) -> str:
    """``name`` lower-cased once it is known valid; raises :class:`InvalidRequestError`."""
    lowered = _NAMES_CHECKED.get(name) if isinstance(name, str) else None
    if lowered is not None:
        return lowered
    if not isinstance(name, str) or not name or not _TOKEN.issuperset(name):
        msg = f"invalid header name {name!r}"
        raise InvalidRequestError(msg)
    lowered = name.lower()
    if lowered in _TRANSPORT_HEADERS:
        msg = f"header {name!r} is set by the transport and cannot be given by the caller"
        raise InvalidRequestError(msg)
    if len(_NAMES_CHECKED) > 1024:  # names are few; values are never kept
        _NAMES_CHECKED.clear()
    _NAMES_CHECKED[name] = lowered
    return lowered


_NAMES_CHECKED: dict[str, str] = {}


def _json_bytes(json_body: Any) -> bytes | None:
    if json_body is None:
        return None
    try:
        # allow_nan=False: NaN and the infinities are no JSON (RFC 8259, section 6). Sent as
        # the bare words json writes for them, every API refuses the body after the round
        # trip; refused here, the caller learns which value it was before any I/O.
        return json.dumps(json_body, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        msg = f"the request body cannot be sent as JSON: {exc}"
        raise InvalidRequestError(msg) from exc


def check_request_headers(headers: Mapping[str, str] | None, *, has_body: bool) -> dict[str, str]:
    """The caller's headers checked, plus ``content-type`` (for a body) and ``accept-encoding``.

    Framing headers (``host``, ``content-length``, ``transfer-encoding``, ``connection``)
    belong to the transport, and a name given twice in two spellings would go out twice:
    both are refused with :class:`InvalidRequestError` before any I/O.
    """
    merged: dict[str, str] = {}
    seen: set[str] = set()
    if headers:
        for name, given in headers.items():
            lowered = _header_name(name)
            value: object = given  # callers' code is not always type-checked
            if not isinstance(value, str):
                msg = f"header {name!r} must be a str, not {type(value).__name__}"
                raise InvalidRequestError(msg)
            if "\r" in value or "\n" in value or "\x00" in value:
                msg = f"header {name!r}: header names and values must not contain CR or LF (or NUL)"
                raise InvalidRequestError(msg)
            if lowered in seen:
                msg = f"header {lowered!r} given more than once (names are case-insensitive)"
                raise InvalidRequestError(msg)
            seen.add(lowered)
            merged[name] = value
    if has_body and "content-type" not in seen:
        merged["content-type"] = "application/json"
    if "accept-encoding" not in seen:
        # Only what BodyDecoder inflates (with a bound); the same on both paths.
        merged["accept-encoding"] = "gzip, deflate"
    return merged


def _without_credentials(
    headers: dict[str, str], secrets: tuple[str, ...], extra: frozenset[str]
) -> dict[str, str]:
    """``headers`` minus every credential: known auth headers, configured ones, secret values."""
    kept = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in CREDENTIAL_HEADERS or lowered in extra:
            continue
        if any(secret and secret in value for secret in secrets):
            continue
        kept[name] = value
    return kept


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return (scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80))


class _Exchange(Protocol):
    """One response on either path: head known, body read incrementally, then released."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> dict[str, str]: ...

    async def readany(self) -> bytes: ...

    async def read(self) -> bytes: ...

    def release(self) -> None: ...


def map_transport_error(
    exc: BaseException, provider: str | None = None, model: str | None = None
) -> LmuxError | None:
    """The :class:`LmuxError` for a network failure (``OSError``, timeouts, framing), else None.

    For transports other than :class:`Transport` (the test transports use it), so that a
    simulated failure reaches the caller exactly as a real one would.
    """
    if not _is_transport_error(exc):
        return None
    return _map_transport_error(exc, provider, model)


class RequestOptions(TypedDict, total=False):
    """The keywords of :meth:`AsyncTransport.request` and :meth:`AsyncTransport.stream`.

    All optional. ``headers`` are the caller's (checked by :func:`check_request_headers`);
    the body is ``content`` (raw bytes, e.g. a multipart upload; pass its ``content-type``
    in ``headers``) or else ``json_body`` encoded as JSON; ``params`` go into the query of
    the first request; ``timeout`` bounds the whole exchange in seconds; ``provider`` and
    ``model`` are named on the errors; ``secrets`` are values never sent to another origin
    on a redirect and scrubbed from error bodies.
    """

    headers: Mapping[str, str] | None
    json_body: Any
    params: Mapping[str, str] | None
    timeout: float | None
    provider: str | None
    model: str | None
    secrets: tuple[str, ...]
    content: bytes | None


def _request_body(options: RequestOptions) -> tuple[bytes | None, dict[str, str]]:
    """The bytes to send for ``options`` and the checked headers that go with them.

    What every transport does first, real or test, so that both refuse the same headers and
    add the same ``content-type`` and ``accept-encoding``.
    """
    content = options.get("content")
    body = content if content is not None else _json_bytes(options.get("json_body"))
    return body, check_request_headers(options.get("headers"), has_body=body is not None)


class AsyncTransport(Protocol):
    """What providers call: :class:`Transport`, or a test one from :mod:`lmux_plug.transports`.

    ``request`` reads the whole answer; ``stream`` returns once the head arrived. Non-2xx
    answers and network failures raise :class:`~lmux_plug.errors.LmuxError` subclasses.
    The keywords are those of :class:`RequestOptions`.
    """

    async def request(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> HttpResponse:
        """Send one request and read the whole answer."""
        ...

    async def stream(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> StreamingResponse:
        """Send one request; return once the head arrived (read with ``iter_bytes``)."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


class _AiohttpExchange:
    """An ``aiohttp.ClientResponse`` read through the same :class:`BodyDecoder` as the lean path.

    aiohttp's own decompression is off (``auto_decompress=False``): it inflates without a
    bound, so a small gzip bomb would fill memory before any limit could be checked.
    """

    __slots__ = ("_decoder", "_done", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, decoder: BodyDecoder) -> None:
        from lmux_plug._http1 import ProtocolError  # noqa: PLC0415
        from lmux_plug._http1 import is_token  # noqa: PLC0415

        # ``raw_headers`` is None on responses that vcrpy 8 (Python 3.10) replays from a
        # cassette: those were never parsed from the wire, so there is nothing to check.
        for name, _ in response.raw_headers or ():
            if not is_token(name):
                # aiohttp's C parser (lenient llhttp) takes "content-length : 5" as a header
                # named "content-length "; its Python parser and the lean path refuse it.
                msg = f"malformed HTTP response: invalid header name {name[:40]!r}"
                raise ProtocolError(msg)
        self._response = response
        self._decoder = decoder
        self._done = False
        self.status = response.status
        self.headers = _lower(response.headers)

    async def readany(self) -> bytes:
        out: list[bytes] = []
        while not out and not self._done:
            raw = await self._response.content.readany()
            if raw:
                self._decoder.decode(raw, out)
            else:
                self._done = True
                self._decoder.finish(out)
        return out[0] if len(out) == 1 else b"".join(out)

    async def read(self) -> bytes:
        pieces = []
        while chunk := await self.readany():
            pieces.append(chunk)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def release(self) -> None:
        # aiohttp closes (does not pool) a connection whose body was not read to the end.
        self._response.release()


class Transport:
    """Pooled HTTP client shared by all providers of a registry.

    ``limit_per_host`` bounds the connections in use per endpoint. A transport may be used
    from several event loops (the sync API runs on its own loop); each loop gets its own
    pools, which :meth:`aclose` releases.

    Plain ``http``/``https`` requests that need no proxy go through the core's lean
    HTTP/1.1 client (:mod:`lmux_plug._http1`: llhttp framing through ``httptools``, a third
    of aiohttp's CPU per call); proxied requests, URLs with user info, and all requests
    while aiohttp is patched (vcrpy cassettes, pytest-recording, aioresponses) go through
    ``aiohttp.ClientSession``. ``fast_path=False`` sends everything through aiohttp.

    Both paths share one policy: the same TLS context (verified; a CA bundle from
    ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``), the same timeouts, the
    same redirect rules (see :meth:`_exchange`), the same body limits (``max_response_bytes``
    as received, ``max_decompressed_bytes`` once inflated; ``None`` disables one; exceeding
    one raises :class:`~lmux_plug.errors.ResponseTooLargeError`), and the same checks of
    the caller's headers. ``credential_headers`` names further headers (besides
    :data:`CREDENTIAL_HEADERS` and any header carrying one of the call's ``secrets``) that
    must never follow a redirect to another origin.
    """

    def __init__(
        self,
        *,
        timeout: Timeout | None = None,
        limit_per_host: int = 256,
        trust_env: bool = True,
        fast_path: bool = True,
        max_response_bytes: int | None = DEFAULT_MAX_BYTES,
        max_decompressed_bytes: int | None = DEFAULT_MAX_BYTES,
        credential_headers: tuple[str, ...] = (),
    ) -> None:
        for name, limit in (
            ("max_response_bytes", max_response_bytes),
            ("max_decompressed_bytes", max_decompressed_bytes),
        ):
            if limit is not None and (type(limit) is not int or limit <= 0):
                msg = f"{name} must be a positive int or None, not {limit!r}"
                raise ConfigurationError(msg)
        self.timeout = timeout or Timeout()
        self.limit_per_host = limit_per_host
        self.trust_env = trust_env
        self.fast_path = fast_path
        self.max_response_bytes = max_response_bytes
        self.max_decompressed_bytes = max_decompressed_bytes
        self.credential_headers = frozenset(h.lower() for h in credential_headers)
        self._sessions: dict[tuple[int, str], aiohttp.ClientSession] = {}
        # The loop each pool belongs to (aiohttp deprecated ``ClientSession.loop``).
        self._session_loops: dict[tuple[int, str], asyncio.AbstractEventLoop] = {}
        self._client_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._ssl: ssl.SSLContext | None = None
        self._proxies: dict[str, tuple[Any, Any]] = {}
        self._pools: dict[int, tuple[asyncio.AbstractEventLoop, Http1Pool]] = {}
        # Per URL: its parsed target, or None when the URL must go through aiohttp.
        self._targets: dict[str, Target | None] = {}

    def __repr__(self) -> str:
        pools = len(self._sessions) + len(self._pools)
        return f"Transport(pools={pools}, limit_per_host={self.limit_per_host})"

    # -- aiohttp ------------------------------------------------------------------------

    def _client_timeout(self, total: float | None) -> aiohttp.ClientTimeout:
        cached = self._client_timeouts.get(total)
        if cached is None:
            import aiohttp  # noqa: PLC0415

            cached = aiohttp.ClientTimeout(
                total=total if total is not None else self.timeout.total,
                sock_connect=self.timeout.connect,
                sock_read=self.timeout.read,
            )
            self._client_timeouts[total] = cached
        return cached

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = _ssl_context()
        return self._ssl

    def _session(self, url: str) -> aiohttp.ClientSession:
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        key = (id(loop), f"{parts.scheme}://{parts.netloc}")
        session = self._sessions.get(key)
        if session is None or session.closed or self._session_loops.get(key) is not loop:
            import aiohttp  # noqa: PLC0415

            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self.limit_per_host,
                ssl=self._ssl_context(),
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # Proxies from the environment are looked up once per origin (_proxy);
                # aiohttp's trust_env would do it, and a netrc read, in a worker thread on
                # every request, which doubled a loopback call's latency (bench/bench_http.py).
                trust_env=False,
                timeout=self._client_timeout(None),
                # Bodies are inflated by BodyDecoder, with a bound (aiohttp's has none).
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
            self._sessions[key] = session
            self._session_loops[key] = loop
        return session

    def _proxy(self, url: str) -> tuple[Any, Any]:
        """``(proxy, proxy_auth)`` for ``url`` from ``HTTP(S)_PROXY``/``NO_PROXY``, per origin."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        found = self._proxies.get(origin)
        if found is None:
            found = (None, None)
            if self.trust_env:
                from aiohttp.helpers import get_env_proxy_for_url  # noqa: PLC0415
                from yarl import URL  # noqa: PLC0415

                try:
                    found = get_env_proxy_for_url(URL(origin))
                except LookupError:  # no proxy configured, or NO_PROXY matches
                    found = (None, None)
            self._proxies[origin] = found
        return found

    def _decoder(self, headers: Mapping[str, str]) -> BodyDecoder:
        """The body decoder for a response with ``headers``; refuses a declared oversize."""
        from lmux_plug._http_body import BodyDecoder  # noqa: PLC0415
        from lmux_plug._http_body import BodyTooLargeError  # noqa: PLC0415

        declared = headers.get("content-length", "")
        limit = self.max_response_bytes
        if limit is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLargeError("response body", limit)
        return BodyDecoder(
            headers.get("content-encoding", ""),
            max_bytes=limit,
            max_decoded=self.max_decompressed_bytes,
        )

    async def _aiohttp_send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        timeout: float | None,
    ) -> _AiohttpExchange:
        proxy, proxy_auth = self._proxy(url)
        response = await self._session(url).request(
            method,
            _as_sent(url),
            data=body,
            headers=headers,
            params=params,
            timeout=self._client_timeout(timeout),
            proxy=proxy,
            proxy_auth=proxy_auth,
            allow_redirects=False,  # redirects follow the one policy in _exchange
        )
        try:
            return _AiohttpExchange(response, self._decoder(_lower(response.headers)))
        except BaseException as exc:
            response.close()
            from lmux_plug._http1 import ProtocolError  # noqa: PLC0415

            if isinstance(exc, ProtocolError):
                # aiohttp may already have pooled the connection (a short body is read
                # with the head); a connection that spoke malformed framing is never
                # reused, so the origin's whole pool goes.
                await self._discard_session(url)
            raise

    async def _discard_session(self, url: str) -> None:
        import asyncio  # noqa: PLC0415

        parts = urlsplit(url)
        key = (id(asyncio.get_running_loop()), f"{parts.scheme}://{parts.netloc}")
        session = self._sessions.pop(key, None)
        self._session_loops.pop(key, None)
        if session is not None:
            await session.close()

    # -- the lean path ------------------------------------------------------------------

    def _lean_target(self, url: str, params: Mapping[str, str] | None) -> Target | None:
        """The parsed target when ``url`` may take the lean path, else None."""
        if not self.fast_path or _aiohttp_is_patched():
            return None
        try:
            target = self._targets[url]
        except KeyError:
            from lmux_plug._http1 import Target  # noqa: PLC0415

            target = None
            if self._proxy(url) == (None, None):
                try:
                    target = Target(url)
                except ValueError:
                    target = None  # not http(s), or user info: aiohttp's to handle
            if len(self._targets) > 1024:
                self._targets.clear()
            self._targets[url] = target
        if target is not None and params:
            target = target.with_query(params)
        return target

    def _lean_pool(self) -> Http1Pool:
        lean = _LEAN[0] if _LEAN else _lean()
        loop = lean.get_running_loop()
        entry = self._pools.get(id(loop))
        if entry is None or entry[0] is not loop:
            http1 = lean.http1
            pool = http1.Http1Pool(loop, self._ssl_context, limit_per_host=self.limit_per_host)
            entry = self._pools[id(loop)] = (loop, pool)
        return entry[1]

    async def _lean_send(
        self,
        method: str,
        target: Target,
        headers: dict[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> Exchange:
        http1 = (_LEAN[0] if _LEAN else _lean()).http1
        try:
            data = http1.encode_request(method, target, headers, body)
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None
        limits = self.timeout
        return await self._lean_pool().send(
            method,
            target,
            data,
            connect=limits.connect,
            read=limits.read,
            total=timeout if timeout is not None else limits.total,
            max_bytes=self.max_response_bytes,
            max_decoded=self.max_decompressed_bytes,
        )

    # -- one exchange, either path, one redirect policy -----------------------------------

    def _check_user_info(self, url: str, headers: Mapping[str, str]) -> None:
        if (
            "@" in url
            and urlsplit(url).username is not None
            and any(name.lower() == "authorization" for name in headers)
        ):
            # aiohttp would raise a bare ValueError: two credentials for one request.
            msg = "the URL carries user info (basic auth) and an authorization header"
            raise InvalidRequestError(msg)

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        options: RequestOptions,
    ) -> _Exchange:
        """Send, following redirects under one policy for both paths.

        307/308 are followed with method and body; 301-303 only for GET/HEAD (they would
        turn a POST into a GET, so for other methods they raise :class:`ProviderError`
        naming the new address). A redirect to another origin drops every credential
        (:data:`CREDENTIAL_HEADERS`, ``credential_headers``, any header holding one of
        ``secrets``); one from https to http is refused. ``params`` go with the first
        request only: the ``location`` is the whole new address.
        """
        params = options.get("params")
        timeout = options.get("timeout")
        for _ in range(_MAX_REDIRECTS + 1):
            target = self._lean_target(url, params)
            exchange: _Exchange
            if target is not None:
                exchange = await self._lean_send(method, target, headers, body, timeout)
            else:
                self._check_user_info(url, headers)
                exchange = await self._aiohttp_send(
                    method, url, headers=headers, body=body, params=params, timeout=timeout
                )
            location = exchange.headers.get("location") if exchange.status in _REDIRECTS else None
            if not location:
                return exchange
            try:
                await exchange.read()  # bounded; reading it keeps the connection reusable
            finally:
                exchange.release()
            new_url = urljoin(url, location)
            old, new = _origin(url), _origin(new_url)
            refusal = None
            if new[0] not in ("http", "https") or not new[1]:
                refusal = "to a URL that is not http(s)"
            elif old[0] == "https" and new[0] == "http":
                refusal = "from https to plain http"
            elif exchange.status not in (307, 308) and method not in ("GET", "HEAD"):
                refusal = f"which would turn the {method} into a GET"
            if refusal is not None:
                msg = (
                    f"the endpoint answered {exchange.status} redirecting to {new_url} "
                    f"({refusal}); point base_url at the final address"
                )
                raise ProviderError(
                    msg,
                    provider=options.get("provider"),
                    model=options.get("model"),
                    status_code=exchange.status,
                )
            if new != old:
                headers = _without_credentials(
                    headers, options.get("secrets", ()), self.credential_headers
                )
            # The Location is the whole new address, as with aiohttp and requests: the
            # query params went into the first URL only (and never to another origin).
            params = None
            url = new_url
        msg = f"more than {_MAX_REDIRECTS} redirects, last to {url}"
        raise ProviderError(msg, provider=options.get("provider"), model=options.get("model"))

    # -- requests -----------------------------------------------------------------------

    async def _send(
        self, method: str, url: str, options: RequestOptions, *, whole: bool
    ) -> tuple[_Exchange, bytes]:
        """One exchange, redirects followed, and with ``whole`` its body read and released.

        The part :meth:`request` and :meth:`stream` share: the body and the checked headers,
        and a network failure (sending, or reading the whole body) mapped to an
        :class:`LmuxError`.
        """
        body, headers = _request_body(options)
        data = b""
        try:
            exchange = await self._exchange(method, url, headers, body, options)
            if whole:
                try:
                    data = await exchange.read()
                finally:
                    exchange.release()
        except LmuxError:
            raise
        except Exception as exc:
            if _is_transport_error(exc):
                raise _map_transport_error(
                    exc, options.get("provider"), options.get("model")
                ) from exc
            raise
        return exchange, data

    async def request(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> HttpResponse:
        """Send one request and read the whole answer (keywords: :class:`RequestOptions`).

        Non-2xx answers raise the matching :class:`LmuxError`; so do transport failures.
        """
        exchange, data = await self._send(method, url, options, whole=True)
        if exchange.status >= 400:
            raise _status_error(exchange.status, exchange.headers, data, options)
        return HttpResponse(exchange.status, exchange.headers, data)

    async def stream(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> StreamingResponse:
        """Send one request and return as soon as the headers arrived.

        The caller must exhaust :meth:`StreamingResponse.iter_bytes` or call
        :meth:`StreamingResponse.close` (in a ``finally``), or the connection is not released.
        """
        exchange, _ = await self._send(method, url, options, whole=False)
        streaming = StreamingResponse(
            exchange.status,
            exchange.headers,
            body=exchange,
            provider=options.get("provider"),
            model=options.get("model"),
        )
        if exchange.status >= 400:
            try:
                data = b"".join([chunk async for chunk in streaming.iter_bytes()])
            except LmuxError:
                data = b""
            finally:
                streaming.close()
            raise _status_error(exchange.status, exchange.headers, data, options)
        return streaming

    async def aclose(self) -> None:
        """Close every pool that belongs to the running loop (and forget closed loops')."""
        import asyncio  # noqa: PLC0415

        try:
            loop_id = id(asyncio.get_running_loop())
        except RuntimeError:  # pragma: no cover - defensive, aclose is always awaited
            loop_id = None
        for key, session in list(self._sessions.items()):
            owner = self._session_loops.get(key)
            if key[0] == loop_id:
                await session.close()
                del self._sessions[key]
                self._session_loops.pop(key, None)
            elif owner is None or owner.is_closed():
                del self._sessions[key]
                self._session_loops.pop(key, None)
        for pool_loop_id, (owner, pool) in list(self._pools.items()):
            if pool_loop_id == loop_id:
                pool.close()
                del self._pools[pool_loop_id]
            elif owner.is_closed():  # its sockets went with the loop; closing needs the loop
                del self._pools[pool_loop_id]


_URL_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _as_sent(url: str) -> Any:
    """``url`` for aiohttp, so that an already percent-encoded URL goes out byte for byte.

    yarl would otherwise normalise it (``%3A`` becomes ``:``), which breaks request
    signatures computed over the URL as given (AWS SigV4 signs ``/model/x%3A0/...``).
    URLs with characters that still need quoting are left to yarl.
    """
    if _URL_CHARS.issuperset(url) and not _PERCENT_ESCAPE.search(url):
        from yarl import URL  # noqa: PLC0415 - aiohttp's own dependency, loaded with it

        return URL(url, encoded=True)
    return url


def _status_error(
    status: int, headers: Mapping[str, str], data: bytes, options: RequestOptions
) -> LmuxError:
    """The error for a non-2xx answer, its body scrubbed of the call's secrets."""
    return error_from_response(
        status,
        headers,
        data,
        provider=options.get("provider"),
        model=options.get("model"),
        secrets=options.get("secrets", ()),
    )


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
