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
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from lmux_plug._http_errors import error_from_response
from lmux_plug.errors import LmuxError, ProviderError, TimeoutError

if TYPE_CHECKING:
    import asyncio
    import ssl

    import aiohttp

__all__ = ["HttpResponse", "StreamingResponse", "Timeout", "Transport"]


@attrs.frozen
class Timeout:
    """Timeouts in seconds: connecting, waiting between bytes, and the whole exchange."""

    connect: float | None = 10.0
    read: float | None = 300.0
    total: float | None = 600.0


@attrs.frozen
class HttpResponse:
    """A complete (non-streamed) response."""

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


@attrs.define
class StreamingResponse:
    """A response whose body is read incrementally with :meth:`iter_bytes`."""

    status: int
    headers: Mapping[str, str]
    _response: aiohttp.ClientResponse = attrs.field(alias="response", repr=False)
    _provider: str | None = attrs.field(alias="provider", default=None)
    _model: str | None = attrs.field(alias="model", default=None)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive; transport failures raise ``LmuxError``."""
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        import aiohttp  # noqa: PLC0415 - already imported by the transport

        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            raise _map_transport_error(exc, self._provider, self._model) from exc
        except asyncio.TimeoutError as exc:
            raise _timeout_error(self._provider, self._model) from exc

    def close(self) -> None:
        """Give the connection back: to the pool when the body was read, else drop it.

        Call it in a ``finally`` around the iteration; it is idempotent.
        """
        self._response.release()


def _ssl_context() -> ssl.SSLContext | bool:
    import ssl  # noqa: PLC0415 - lazy: only when the first connection is made

    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(var)
        if path and os.path.exists(path):  # noqa: PTH110 - pathlib is a start-up cost
            return ssl.create_default_context(cafile=path)
    return True


def _timeout_error(provider: str | None, model: str | None) -> TimeoutError:
    return TimeoutError("request timed out", provider=provider, model=model)


def _map_transport_error(exc: BaseException, provider: str | None, model: str | None) -> LmuxError:
    import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

    import aiohttp  # noqa: PLC0415

    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return _timeout_error(provider, model)
    if isinstance(exc, aiohttp.ClientPayloadError):
        msg = f"response body truncated or malformed: {exc}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        msg = f"cannot connect: {exc.os_error}"
    else:
        msg = f"connection failed: {type(exc).__name__}: {exc}"
    return ProviderError(msg, provider=provider, model=model)


class Transport:
    """Pooled HTTP client shared by all providers of a registry.

    ``limit_per_host`` bounds the connections kept per endpoint. A transport may be used
    from several event loops (the sync API runs on its own loop); each loop gets its own
    pools, which :meth:`aclose` releases.
    """

    def __init__(
        self,
        *,
        timeout: Timeout | None = None,
        limit_per_host: int = 256,
        trust_env: bool = True,
    ) -> None:
        self.timeout = timeout or Timeout()
        self.limit_per_host = limit_per_host
        self.trust_env = trust_env
        self._sessions: dict[tuple[int, str], aiohttp.ClientSession] = {}
        # The loop each pool belongs to (aiohttp deprecated ``ClientSession.loop``).
        self._session_loops: dict[tuple[int, str], asyncio.AbstractEventLoop] = {}
        self._client_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._ssl: ssl.SSLContext | bool | None = None
        self._proxies: dict[str, tuple[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"Transport(pools={len(self._sessions)}, limit_per_host={self.limit_per_host})"

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

    def _session(self, url: str) -> aiohttp.ClientSession:
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        key = (id(loop), f"{parts.scheme}://{parts.netloc}")
        session = self._sessions.get(key)
        if session is None or session.closed or self._session_loops.get(key) is not loop:
            import aiohttp  # noqa: PLC0415

            if self._ssl is None:
                self._ssl = _ssl_context()
            connector = aiohttp.TCPConnector(
                limit=0, limit_per_host=self.limit_per_host, ssl=self._ssl, ttl_dns_cache=300
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
        headers: Mapping[str, str] | None,
        json_body: Any,
        params: Mapping[str, str] | None,
        timeout: float | None,
    ) -> Any:
        """Start one request on the origin's pool: await it, or use it with ``async with``."""
        proxy, proxy_auth = self._proxy(url)
        return self._session(url).request(
            method,
            url,
            data=None if json_body is None else json.dumps(json_body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
            params=params,
            timeout=self._client_timeout(timeout),
            proxy=proxy,
            proxy_auth=proxy_auth,
        )

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
    ) -> HttpResponse:
        """Send one request and read the whole answer.

        Non-2xx answers raise the matching :class:`LmuxError`; so do transport failures.
        """
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        import aiohttp  # noqa: PLC0415

        try:
            async with self._send(
                method, url, headers=headers, json_body=json_body, params=params, timeout=timeout
            ) as response:
                body = await response.read()
                status = response.status
                response_headers = _lower(response.headers)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise _map_transport_error(exc, provider, model) from exc
        if status >= 400:
            raise error_from_response(
                status, response_headers, body, provider=provider, model=model, secrets=secrets
            )
        return HttpResponse(status, response_headers, body)

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
    ) -> StreamingResponse:
        """Send one request and return as soon as the headers arrived.

        The caller must exhaust :meth:`StreamingResponse.iter_bytes` or call
        :meth:`StreamingResponse.close` (in a ``finally``), or the connection is not released.
        """
        import asyncio  # noqa: PLC0415 - lazy: keeps `import lmux_plug` fast

        import aiohttp  # noqa: PLC0415

        try:
            response = await self._send(
                method, url, headers=headers, json_body=json_body, params=params, timeout=timeout
            )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise _map_transport_error(exc, provider, model) from exc
        response_headers = _lower(response.headers)
        if response.status >= 400:
            try:
                body = await response.read()
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                body = b""
            finally:
                response.release()
            raise error_from_response(
                response.status,
                response_headers,
                body,
                provider=provider,
                model=model,
                secrets=secrets,
            )
        return StreamingResponse(
            response.status, response_headers, response=response, provider=provider, model=model
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


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
