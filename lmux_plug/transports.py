"""Transports for tests: a mock, a recorder and a replayer, passed as ``Registry(transport=...)``.

Every provider reaches HTTP only through ``provider.transport.request`` / ``.stream`` (the
:class:`lmux_plug.http.AsyncTransport` protocol), so a test swaps the network by passing
another transport, never by patching internals::

    from lmux_plug import Registry
    from lmux_plug.transports import MockResponse, MockTransport

    def handler(request):  # sync or async
        assert request.json()["model"] == "gpt-4o-mini"
        return MockResponse.json({"choices": [...]})

    registry = Registry.from_entry_points(transport=MockTransport(handler))

:class:`RecordingTransport` wraps a real transport and writes every exchange to a cassette
(JSON Lines; credentials and every secret the call declares are scrubbed before anything
is written); :class:`ReplayTransport` answers from such a cassette without a network.

All three apply the caller-header checks and the error mapping of the real transport, so a
test sees the same typed errors (a 429 answer is a :class:`~lmux_plug.errors.RateLimitError`,
a ``Host`` header an :class:`~lmux_plug.errors.InvalidRequestError`, ...).
"""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import attrs

from lmux_plug._secrets import StreamScrubber
from lmux_plug._secrets import known_secrets
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import LmuxError
from lmux_plug.http import CREDENTIAL_HEADERS
from lmux_plug.http import AsyncTransport
from lmux_plug.http import HttpResponse
from lmux_plug.http import RequestOptions
from lmux_plug.http import StreamingResponse
from lmux_plug.http import _request_body
from lmux_plug.http import _status_error
from lmux_plug.http import map_transport_error

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CassetteError",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "RecordingTransport",
    "ReplayTransport",
]

REDACTED = "REDACTED"
_SECRET_QUERY_NAMES = frozenset({"key", "api_key", "apikey", "access_token", "api-key"})
CASSETTE_VERSION = 1


class CassetteError(ConfigurationError):
    """A replay found no recorded answer for a request, or the cassette is unreadable."""


@attrs.frozen
class MockRequest:
    """The request a transport was asked to send, as a handler (or a cassette) sees it.

    ``url`` includes the ``params`` (encoded into its query); ``headers`` has lower-case
    names and includes what the transport adds (``content-type``, ``accept-encoding``).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    stream: bool = False

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for a request without a body)."""
        return None if self.body is None else json.loads(self.body)


@attrs.frozen
class MockResponse:
    """What a handler answers: status, headers, and the body (whole, or in stream chunks)."""

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    chunks: Sequence[bytes] | None = None

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        """A JSON answer."""
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status, merged, json.dumps(data).encode())

    @classmethod
    def sse(cls, events: Iterable[Any], status: int = 200, *, done: bool = True) -> MockResponse:
        """A server-sent-events answer: one ``data:`` event (and one chunk) per item."""
        chunks = [
            b"data: "
            + (event.encode() if isinstance(event, str) else json.dumps(event).encode())
            + b"\n\n"
            for event in events
        ]
        if done:
            chunks.append(b"data: [DONE]\n\n")
        return cls(status, {"content-type": "text/event-stream"}, b"".join(chunks), chunks)


Handler = Callable[[MockRequest], "MockResponse | Awaitable[MockResponse]"]


class _ChunksBody:
    """A finished answer's chunks, read like a live stream."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = list(chunks)

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def release(self) -> None:
        self._chunks.clear()


def _full_url(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query))


class _AnsweringTransport:
    """Shared by the test transports: header checks, error mapping, streaming of chunks."""

    async def _answer(self, request: MockRequest, secrets: tuple[str, ...]) -> MockResponse:
        raise NotImplementedError

    def _build(
        self, method: str, url: str, options: RequestOptions, *, stream: bool
    ) -> MockRequest:
        body, headers = _request_body(options)
        lowered = {name.lower(): value for name, value in headers.items()}
        return MockRequest(method, _full_url(url, options.get("params")), lowered, body, stream)

    async def _exchange(
        self, request: MockRequest, options: RequestOptions
    ) -> tuple[int, dict[str, str], list[bytes]]:
        """The answer's status, lower-cased headers and body chunks; an error status raises."""
        secrets = options.get("secrets", ())
        try:
            answer = await self._answer(request, secrets)
        except LmuxError:
            raise
        except Exception as exc:
            mapped = map_transport_error(exc, options.get("provider"), options.get("model"))
            if mapped is None:
                raise
            raise mapped from exc
        chunks = list(answer.chunks) if answer.chunks is not None else [answer.body]
        answer_headers = {k.lower(): v for k, v in answer.headers.items()}
        if answer.status >= 400:
            raise _status_error(answer.status, answer_headers, b"".join(chunks), options)
        return answer.status, answer_headers, chunks

    async def request(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> HttpResponse:
        """Answer like :meth:`lmux_plug.http.Transport.request` (``timeout`` is not used)."""
        request = self._build(method, url, options, stream=False)
        status, answer_headers, chunks = await self._exchange(request, options)
        return HttpResponse(status, answer_headers, b"".join(chunks))

    async def stream(
        self, method: str, url: str, **options: Unpack[RequestOptions]
    ) -> StreamingResponse:
        """Answer like :meth:`lmux_plug.http.Transport.stream` (the chunks as recorded)."""
        request = self._build(method, url, options, stream=True)
        status, answer_headers, chunks = await self._exchange(request, options)
        body = _ChunksBody([chunk for chunk in chunks if chunk])
        return StreamingResponse(
            status,
            answer_headers,
            body=body,
            provider=options.get("provider"),
            model=options.get("model"),
        )

    async def aclose(self) -> None:
        """Nothing to release."""


class MockTransport(_AnsweringTransport):
    """Answers every request with ``handler(request)`` (a function, sync or async).

    The handler gets a :class:`MockRequest` and returns a :class:`MockResponse`; raising an
    ``OSError`` (e.g. ``ConnectionResetError``) or ``TimeoutError`` simulates a network
    failure and reaches the caller mapped, as from the real transport. ``requests`` lists
    every request received, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[MockRequest] = []

    def __repr__(self) -> str:
        return f"MockTransport(handler={getattr(self.handler, '__name__', self.handler)!r})"

    async def _answer(self, request: MockRequest, secrets: tuple[str, ...]) -> MockResponse:  # noqa: ARG002
        self.requests.append(request)
        answer: object = self.handler(request)  # checked: handlers are user code
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, MockResponse):
            msg = f"a MockTransport handler must return a MockResponse, not {type(answer).__name__}"
            raise TypeError(msg)
        return answer


# -- cassettes ----------------------------------------------------------------------------------


def _scrub_text(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _scrub_url(url: str, secrets: Sequence[str]) -> str:
    parts = urlsplit(url)
    if parts.query:
        query = [
            (name, REDACTED if name.lower() in _SECRET_QUERY_NAMES else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query))
    if parts.username is not None or parts.password is not None:
        parts = parts._replace(netloc=parts.hostname or "")
    return _scrub_text(urlunsplit(parts), secrets)


def _scrub_chunks(chunks: Sequence[bytes], secrets: Sequence[str]) -> list[bytes]:
    """``chunks`` scrubbed as one body: a secret split over two chunks is caught too.

    The bytes are handled as Latin-1 text (one character per byte) so any split, even one
    inside a UTF-8 character, scrubs the same; a chunk may give its last bytes to the next.
    """
    as_text = [s.encode("utf-8", "surrogatepass").decode("latin-1") for s in secrets if s]
    scrubber = StreamScrubber(as_text, replacement=REDACTED)
    out = [scrubber.feed(chunk.decode("latin-1")).encode("latin-1") for chunk in chunks]
    rest = scrubber.flush().encode("latin-1")
    if rest:
        out[-1] += rest
    return out


def _encode_bytes(data: bytes, secrets: Sequence[str]) -> dict[str, str]:
    try:
        return {"text": _scrub_text(data.decode("utf-8"), secrets)}
    except UnicodeDecodeError:
        for secret in secrets:
            if secret:
                data = data.replace(secret.encode(), REDACTED.encode())
        return {"base64": base64.b64encode(data).decode("ascii")}


def _decode_bytes(value: Mapping[str, str]) -> bytes:
    if "base64" in value:
        return base64.b64decode(value["base64"])
    return value["text"].encode("utf-8")


def _request_key(method: str, url: str, body: bytes | None) -> tuple[str, str, Any]:
    """What a replayed request is matched on: method, path and JSON body (not host or query)."""
    path = urlsplit(url).path
    decoded: Any = None
    if body:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = body.decode("utf-8", "replace")
    return method.upper(), path, json.dumps(decoded, sort_keys=True)


class RecordingTransport(_AnsweringTransport):
    """Sends through ``inner`` (a real transport) and appends every exchange to ``path``.

    Before anything is written, credential headers (:data:`lmux_plug.http.CREDENTIAL_HEADERS`
    and ``credential_headers``) are replaced by ``REDACTED``, and so is every occurrence of
    the ``secrets`` given here or passed with the call (the provider's keys) and of every
    secret the process remembers, in URLs, headers and bodies; key-like query parameters
    are redacted too. Streamed answers are recorded chunk by chunk, so a replay splits them
    the same way (a secret split over two chunks is redacted whole).
    """

    def __init__(
        self,
        inner: AsyncTransport,
        path: str | Path,
        *,
        secrets: Sequence[str] = (),
        credential_headers: Sequence[str] = (),
    ) -> None:
        self.inner = inner
        self.path = Path(path)
        self.secrets = tuple(s for s in secrets if s)
        self.credential_headers = CREDENTIAL_HEADERS | {h.lower() for h in credential_headers}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            header = {"lmux_plug_cassette": CASSETTE_VERSION}
            self.path.write_text(json.dumps(header) + "\n", encoding="utf-8")

    def __repr__(self) -> str:
        return f"RecordingTransport(inner={self.inner!r}, path={str(self.path)!r})"

    async def _answer(self, request: MockRequest, secrets: tuple[str, ...]) -> MockResponse:
        # The body goes on as the bytes it is (JSON or a multipart upload), with its type.
        headers = {k: v for k, v in request.headers.items() if k != "accept-encoding"}
        sent: RequestOptions = {"headers": headers, "content": request.body, "secrets": secrets}
        try:
            if request.stream:
                streamed = await self.inner.stream(request.method, request.url, **sent)
                try:
                    chunks = [chunk async for chunk in streamed.iter_bytes()]
                finally:
                    streamed.close()
                answer = MockResponse(
                    streamed.status, dict(streamed.headers), b"".join(chunks), chunks
                )
            else:
                response = await self.inner.request(request.method, request.url, **sent)
                answer = MockResponse(response.status, dict(response.headers), response.body)
        except LmuxError as exc:
            status = exc.status_code
            if status is None:
                raise  # a network failure: nothing to record
            # The answer was an HTTP error: record it (its body as the error kept it).
            answer = MockResponse(status, dict(exc.headers), (exc.body or "").encode())
            self._write(request, answer, secrets)
            raise
        self._write(request, answer, secrets)
        return answer

    def _write(self, request: MockRequest, answer: MockResponse, secrets: tuple[str, ...]) -> None:
        # The call's secrets, this recorder's, and every secret the process knows: an
        # upstream may echo another provider's key too.
        hidden = (*self.secrets, *(s for s in secrets if s), *known_secrets())

        def headers_of(headers: Mapping[str, str]) -> dict[str, str]:
            return {
                name: REDACTED
                if name.lower() in self.credential_headers
                else _scrub_text(value, hidden)
                for name, value in headers.items()
            }

        entry = {
            "request": {
                "method": request.method,
                "url": _scrub_url(request.url, hidden),
                "headers": headers_of(request.headers),
                "body": None if request.body is None else _encode_bytes(request.body, hidden),
                "stream": request.stream,
            },
            "response": {
                "status": answer.status,
                "headers": headers_of(answer.headers),
                "chunks": [
                    _encode_bytes(chunk, hidden)
                    for chunk in _scrub_chunks(
                        answer.chunks if answer.chunks is not None else [answer.body], hidden
                    )
                ],
            },
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


class ReplayTransport(_AnsweringTransport):
    """Answers from a cassette written by :class:`RecordingTransport`, with no network.

    A request is matched on method, URL path and JSON body (host, query and headers are
    not compared: a cassette replays against any base URL and without the real key). Equal
    requests get their recorded answers in recording order; one more than was recorded,
    or one never recorded, raises :class:`CassetteError` naming it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._answers: dict[tuple[str, str, Any], list[MockResponse]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            msg = f"cannot read cassette {self.path}: {exc}"
            raise CassetteError(msg) from exc
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if "lmux_plug_cassette" in entry:
                    continue
                recorded = entry["request"]
                body = None if recorded["body"] is None else _decode_bytes(recorded["body"])
                key = _request_key(recorded["method"], recorded["url"], body)
                answer = entry["response"]
                chunks = [_decode_bytes(chunk) for chunk in answer["chunks"]]
                response = MockResponse(
                    int(answer["status"]), dict(answer["headers"]), b"".join(chunks), chunks
                )
            except (ValueError, KeyError, TypeError) as exc:
                msg = f"{self.path}:{number}: not a cassette entry ({exc})"
                raise CassetteError(msg) from exc
            self._answers.setdefault(key, []).append(response)

    def __repr__(self) -> str:
        return f"ReplayTransport(path={str(self.path)!r})"

    async def _answer(self, request: MockRequest, secrets: tuple[str, ...]) -> MockResponse:  # noqa: ARG002
        key = _request_key(request.method, request.url, request.body)
        queue = self._answers.get(key)
        if not queue:
            msg = (
                f"no recorded answer in {self.path} for {request.method} "
                f"{urlsplit(request.url).path} with this body (re-record the cassette)"
            )
            raise CassetteError(msg)
        return queue.pop(0)

    def remaining(self) -> int:
        """How many recorded answers were not used (0 when the test replayed everything)."""
        return sum(len(queue) for queue in self._answers.values())
