"""The core HTTP transport every plugin shares (aiohttp, chosen by measurement).

One ``aiohttp.ClientSession`` per (event loop, origin) keeps a pool of keep-alive
connections per endpoint. Proxies (``HTTPS_PROXY``/``NO_PROXY``) and a CA bundle
(``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) come from the environment.
Transport failures leave this module only as :mod:`lmux_plug.errors` exceptions.

aiohttp is imported on first use, so ``import lmux_plug`` stays fast.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

import attrs

from lmux_plug._http_errors import error_from_response
from lmux_plug.errors import InvalidRequestError, LmuxError, ProviderError, TimeoutError

if TYPE_CHECKING:
    import asyncio
    import ssl

    import aiohttp

    from lmux_plug._http1 import Exchange, Http1Pool, Target

__all__ = ["HttpResponse", "StreamingResponse", "Timeout", "Transport"]

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
    """What a streaming response reads from: aiohttp's response or a lean exchange."""

    async def readany(self) -> bytes: ...

    def release(self) -> None: ...


class _AiohttpBody:
    """An ``aiohttp.ClientResponse`` seen as a :class:`_Body`."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def readany(self) -> bytes:
        return await self._response.content.readany()

    def release(self) -> None:
        self._response.release()


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


def _ssl_context() -> ssl.SSLContext | bool:
    import ssl  # noqa: PLC0415 - lazy: only when the first connection is made

    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(var)
        if path and os.path.exists(path):  # noqa: PTH110 - pathlib is a start-up cost
            return ssl.create_default_context(cafile=path)
    return True


def _timeout_error(provider: str | None, model: str | None) -> TimeoutError:
    return TimeoutError("request timed out", provider=provider, model=model)


def _is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the connection (to be mapped), not a bug."""
    import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

    import aiohttp  # noqa: PLC0415

    from lmux_plug._http1 import Http1Error  # noqa: PLC0415

    return isinstance(exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError, Http1Error))


def _map_transport_error(exc: BaseException, provider: str | None, model: str | None) -> LmuxError:
    import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

    import aiohttp  # noqa: PLC0415

    from lmux_plug import _http1  # noqa: PLC0415

    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError, _http1.ReadTimeoutError)):
        return _timeout_error(provider, model)
    if isinstance(exc, aiohttp.ClientPayloadError):
        msg = f"response body truncated or malformed: {exc}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        msg = f"cannot connect: {exc.os_error}"
    elif isinstance(exc, _http1.ConnectError):
        msg = f"cannot connect: {exc}"
    elif isinstance(exc, (_http1.ProtocolError, _http1.ConnectionClosedError)):
        msg = f"response truncated or malformed: {exc}"
    else:
        msg = f"connection failed: {type(exc).__name__}: {exc}"
    return ProviderError(msg, provider=provider, model=model)


def _aiohttp_is_patched() -> bool:
    """True when something (vcrpy, aioresponses, a test) replaced aiohttp's request method.

    Cassettes and aiohttp mocks only see traffic that goes through ``ClientSession``, so
    then every request takes the aiohttp path.
    """
    from aiohttp import client  # noqa: PLC0415

    code = getattr(client.ClientSession._request, "__code__", None)  # noqa: SLF001
    return code is None or code.co_filename != client.__file__


def _json_bytes(json_body: Any) -> bytes | None:
    return None if json_body is None else json.dumps(json_body).encode()


def _request_headers(headers: Mapping[str, str] | None, *, has_body: bool) -> dict[str, str]:
    """The caller's headers, plus ``content-type: application/json`` for a body without one."""
    merged = dict(headers) if headers else {}
    if has_body and not any(name.lower() == "content-type" for name in merged):
        merged["content-type"] = "application/json"
    return merged


class Transport:
    """Pooled HTTP client shared by all providers of a registry.

    ``limit_per_host`` bounds the connections in use per endpoint. A transport may be used
    from several event loops (the sync API runs on its own loop); each loop gets its own
    pools, which :meth:`aclose` releases.

    Plain ``http``/``https`` requests that need no proxy go through the core's lean
    HTTP/1.1 client (:mod:`lmux_plug._http1`, a third of aiohttp's CPU per call); proxied
    requests, and all requests while aiohttp is patched (vcrpy cassettes, aioresponses),
    go through ``aiohttp.ClientSession``. ``fast_path=False`` sends everything through
    aiohttp.
    """

    def __init__(
        self,
        *,
        timeout: Timeout | None = None,
        limit_per_host: int = 256,
        trust_env: bool = True,
        fast_path: bool = True,
    ) -> None:
        self.timeout = timeout or Timeout()
        self.limit_per_host = limit_per_host
        self.trust_env = trust_env
        self.fast_path = fast_path
        self._sessions: dict[tuple[int, str], aiohttp.ClientSession] = {}
        # The loop each pool belongs to (aiohttp deprecated ``ClientSession.loop``).
        self._session_loops: dict[tuple[int, str], asyncio.AbstractEventLoop] = {}
        self._client_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._ssl: ssl.SSLContext | bool | None = None
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

    def _ssl_setting(self) -> ssl.SSLContext | bool:
        if self._ssl is None:
            self._ssl = _ssl_context()
        return self._ssl

    def _ssl_for_lean(self) -> ssl.SSLContext:
        setting = self._ssl_setting()
        if setting is True:
            import ssl  # noqa: PLC0415

            setting = self._ssl = ssl.create_default_context()
        assert not isinstance(setting, bool)  # noqa: S101 - _ssl_context never returns False
        return setting

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
                ssl=self._ssl_setting(),
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # Proxies from the environment are looked up once per origin (_proxy);
                # aiohttp's trust_env would do it, and a netrc read, in a worker thread on
                # every request, which doubled a loopback call's latency (bench/bench_http.py).
                trust_env=False,
                timeout=self._client_timeout(None),
                auto_decompress=True,
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

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        timeout: float | None,
    ) -> Any:
        """Start one request on aiohttp's pool: await it, or use it with ``async with``."""
        proxy, proxy_auth = self._proxy(url)
        return self._session(url).request(
            method,
            _as_sent(url),
            data=body,
            headers=headers,
            params=params,
            timeout=self._client_timeout(timeout),
            proxy=proxy,
            proxy_auth=proxy_auth,
        )

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
                    target = None  # not http(s): aiohttp reports it
            if len(self._targets) > 1024:
                self._targets.clear()
            self._targets[url] = target
        if target is not None and params:
            target = target.with_query(params)
        return target

    def _lean_pool(self) -> Http1Pool:
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        entry = self._pools.get(id(loop))
        if entry is None or entry[0] is not loop:
            from lmux_plug._http1 import Http1Pool  # noqa: PLC0415

            entry = (loop, Http1Pool(loop, self._ssl_for_lean, limit_per_host=self.limit_per_host))
            self._pools[id(loop)] = entry
        return entry[1]

    async def _lean_exchange(
        self,
        method: str,
        url: str,
        target: Target,
        *,
        headers: dict[str, str],
        body: bytes | None,
        timeout: float | None,
        provider: str | None,
        model: str | None,
    ) -> Exchange:
        """Send on the lean path; follow same-origin 307/308 redirects (method and body kept).

        Other redirects raise :class:`ProviderError` naming the new address: 301-303 would
        turn a POST into a GET, and a redirect to another origin would carry the API key
        to a host it was not meant for.
        """
        for _ in range(_MAX_REDIRECTS + 1):
            exchange = await self._lean_send(method, target, headers, body, timeout)
            if exchange.status not in _REDIRECTS:
                return exchange
            try:
                await exchange.read()  # small; reading it keeps the connection reusable
            finally:
                exchange.release()
            location = exchange.headers.get("location", "")
            new_url = urljoin(url, location)
            new_target = self._lean_target(new_url, None) if location else None
            if (
                exchange.status not in (307, 308)
                or new_target is None
                or new_target.origin != target.origin
            ):
                msg = (
                    f"the endpoint answered {exchange.status} redirecting to {new_url or '?'}; "
                    "point base_url at the final address"
                )
                raise ProviderError(
                    msg, provider=provider, model=model, status_code=exchange.status
                )
            url, target = new_url, new_target
        msg = f"more than {_MAX_REDIRECTS} redirects, last to {url}"
        raise ProviderError(msg, provider=provider, model=model)

    async def _lean_send(
        self,
        method: str,
        target: Target,
        headers: dict[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> Exchange:
        from lmux_plug._http1 import encode_request  # noqa: PLC0415

        try:
            data = encode_request(method, target, headers, body)
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
        )

    # -- requests -----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        secrets: tuple[str, ...] = (),
        content: bytes | None = None,
    ) -> HttpResponse:
        """Send one request and read the whole answer.

        Non-2xx answers raise the matching :class:`LmuxError`; so do transport failures.
        ``content`` sends raw bytes (a multipart upload) instead of ``json_body``; pass its
        ``content-type`` in ``headers``.
        """
        body = content if content is not None else _json_bytes(json_body)
        merged = _request_headers(headers, has_body=body is not None)
        target = self._lean_target(url, params)
        try:
            if target is not None:
                exchange = await self._lean_exchange(
                    method,
                    url,
                    target,
                    headers=merged,
                    body=body,
                    timeout=timeout,
                    provider=provider,
                    model=model,
                )
                try:
                    data = await exchange.read()
                finally:
                    exchange.release()
                status = exchange.status
                response_headers = exchange.headers
            else:
                async with self._send(
                    method, url, headers=merged, body=body, params=params, timeout=timeout
                ) as response:
                    data = await response.read()
                    status = response.status
                    response_headers = _lower(response.headers)
        except LmuxError:
            raise
        except Exception as exc:
            if _is_transport_error(exc):
                raise _map_transport_error(exc, provider, model) from exc
            raise
        if status >= 400:
            raise error_from_response(
                status, response_headers, data, provider=provider, model=model, secrets=secrets
            )
        return HttpResponse(status, response_headers, data)

    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        secrets: tuple[str, ...] = (),
        content: bytes | None = None,
    ) -> StreamingResponse:
        """Send one request and return as soon as the headers arrived.

        The caller must exhaust :meth:`StreamingResponse.iter_bytes` or call
        :meth:`StreamingResponse.close` (in a ``finally``), or the connection is not released.
        """
        body = content if content is not None else _json_bytes(json_body)
        merged = _request_headers(headers, has_body=body is not None)
        target = self._lean_target(url, params)
        stream_body: _Body
        try:
            if target is not None:
                exchange = await self._lean_exchange(
                    method,
                    url,
                    target,
                    headers=merged,
                    body=body,
                    timeout=timeout,
                    provider=provider,
                    model=model,
                )
                status, response_headers, stream_body = (
                    exchange.status,
                    exchange.headers,
                    exchange,
                )
            else:
                response = await self._send(
                    method, url, headers=merged, body=body, params=params, timeout=timeout
                )
                status, response_headers, stream_body = (
                    response.status,
                    _lower(response.headers),
                    _AiohttpBody(response),
                )
        except LmuxError:
            raise
        except Exception as exc:
            if _is_transport_error(exc):
                raise _map_transport_error(exc, provider, model) from exc
            raise
        if status >= 400:
            streaming = StreamingResponse(
                status, response_headers, body=stream_body, provider=provider, model=model
            )
            try:
                data = b"".join([chunk async for chunk in streaming.iter_bytes()])
            except LmuxError:
                data = b""
            finally:
                streaming.close()
            raise error_from_response(
                status, response_headers, data, provider=provider, model=model, secrets=secrets
            )
        return StreamingResponse(
            status, response_headers, body=stream_body, provider=provider, model=model
        )

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


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
