"""The core transport against real sockets: pooling, timeouts, proxies, error mapping."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmux_plug import AuthenticationError
from lmux_plug import ContextLengthExceededError
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import TimeoutError
from lmux_plug._http_errors import error_from_response
from lmux_plug._http_errors import parse_duration
from lmux_plug._http_errors import retry_after_from
from lmux_plug.http import Timeout
from lmux_plug.http import Transport
from lmux_plug.http import _ssl_context
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
EXPECTED = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    408: TimeoutError,
    409: InvalidRequestError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    500: ProviderError,
    502: ProviderError,
    503: ProviderError,
    504: ProviderError,
    529: ProviderError,
}
RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}


@pytest.fixture
async def server() -> Any:
    async with FakeOpenAIServer(FaultPlan(retry_after=2.0)) as fake:
        yield fake


@pytest.fixture
async def transport() -> Any:
    client = Transport(timeout=Timeout(connect=2, read=2, total=5))
    yield client
    await client.aclose()


async def test_status_codes_map_to_the_error_tree(
    server: FakeOpenAIServer, transport: Transport
) -> None:
    for status, cls in EXPECTED.items():
        with pytest.raises(cls) as info:
            await transport.request(
                "POST",
                server.url + "/chat/completions",
                json_body=CHAT,
                headers={"x-fake-fault": str(status)},
                provider="fake",
                model="m",
            )
        error = info.value
        assert (error.status_code, error.provider, error.model) == (status, "fake", "m")
        assert error.retryable is (status in RETRYABLE), status
        assert error.request_id is not None
        if status in (429, 503, 529):
            assert error.retry_after == pytest.approx(2.0)


async def test_retry_after_as_http_date_and_ms(transport: Transport) -> None:
    for form, expected in (("http-date", 30.0), ("ms", 1.5)):
        plan = FaultPlan(retry_after=expected, retry_after_form=form)
        async with FakeOpenAIServer(plan) as fake:
            with pytest.raises(RateLimitError) as info:
                await transport.request(
                    "POST",
                    fake.url + "/chat/completions",
                    json_body=CHAT,
                    headers={"x-fake-fault": "429"},
                )
        assert info.value.retry_after == pytest.approx(expected, abs=1.5)


async def test_connections_are_pooled_per_endpoint(
    server: FakeOpenAIServer, transport: Transport
) -> None:
    for _ in range(20):
        response = await transport.request("POST", server.url + "/chat/completions", json_body=CHAT)
        assert response.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert server.stats["connections"] == 1


async def test_timeout_reset_and_malformed_become_lmux_errors(server: FakeOpenAIServer) -> None:
    transport = Transport(timeout=Timeout(connect=1, read=0.3, total=1))
    try:
        for fault, cls in (("timeout", TimeoutError), ("reset", ProviderError)):
            with pytest.raises(cls):
                await transport.request(
                    "POST",
                    server.url + "/chat/completions",
                    json_body=CHAT,
                    headers={"x-fake-fault": fault},
                )
        response = await transport.request(
            "POST",
            server.url + "/chat/completions",
            json_body=CHAT,
            headers={"x-fake-fault": "malformed"},
        )
        with pytest.raises(ProviderError, match="malformed JSON"):
            response.json(provider="fake")
        with pytest.raises(builtins_timeout()):
            await transport.request(
                "POST",
                server.url + "/chat/completions",
                json_body=CHAT,
                headers={"x-fake-fault": "timeout"},
            )
    finally:
        await transport.aclose()


def builtins_timeout() -> type[BaseException]:
    import builtins

    return builtins.TimeoutError


async def test_connection_refused_is_a_provider_error(transport: Transport) -> None:
    with pytest.raises(ProviderError, match="cannot connect"):
        await transport.request("GET", "http://127.0.0.1:9/v1/models")


async def test_closing_a_stream_early_releases_the_connection(server: FakeOpenAIServer) -> None:
    # A body far larger than socket buffers, so the client cannot have read it all.
    server.plan.stream_chunks = 400
    server.plan.reply = "x" * 4_000_000
    transport = Transport()
    try:
        body = {**CHAT, "stream": True}
        response = await transport.stream("POST", server.url + "/chat/completions", json_body=body)
        async for _chunk in response.iter_bytes():
            break
        response.close()
        for _ in range(50):
            if server.open_connections == 0:
                break
            await asyncio.sleep(0.02)
        assert server.open_connections == 0  # the half-read connection was dropped, not pooled
        again = await transport.request("POST", server.url + "/chat/completions", json_body=CHAT)
        assert again.status == 200
    finally:
        await transport.aclose()


async def test_a_cancelled_request_releases_its_connection(server: FakeOpenAIServer) -> None:
    transport = Transport()
    try:
        task = asyncio.ensure_future(
            transport.request(
                "POST",
                server.url + "/chat/completions",
                json_body=CHAT,
                headers={"x-fake-fault": "timeout"},
            )
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if server.open_connections == 0:
                break
            await asyncio.sleep(0.02)
        assert server.open_connections == 0
    finally:
        await transport.aclose()


async def test_proxy_is_taken_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy on 127.0.0.1 named by HTTP_PROXY receives the absolute-URI request."""
    seen: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0].decode())
        body = b'{"proxied": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = Transport()
    try:
        response = await transport.request("GET", "http://api.example.invalid/v1/models")
        assert response.json() == {"proxied": True}
        assert seen == ["GET http://api.example.invalid/v1/models HTTP/1.1"]
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


def test_ca_bundle_is_taken_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import ssl

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    default = _ssl_context()  # the system store, verifying: both paths share it
    assert default.verify_mode == ssl.CERT_REQUIRED
    assert default.check_hostname
    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    context = _ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] > 0


# -- the mapping itself, over arbitrary input ------------------------------------------------


@given(st.integers(400, 599), st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_error_response_maps_to_a_typed_error(status: int, body: bytes) -> None:
    error = error_from_response(status, {}, body, provider="p")
    assert isinstance(error, LmuxError)
    assert error.status_code == status
    assert isinstance(error.retryable, bool)


def test_secrets_are_scrubbed_from_error_messages() -> None:
    body = b'{"error": {"message": "Incorrect API key provided: sk-abc123secret."}}'
    error = error_from_response(401, {}, body, provider="p", secrets=("sk-abc123secret",))
    assert "sk-abc123secret" not in str(error)
    assert "sk-abc123secret" not in (error.body or "")


def test_context_length_is_recognised() -> None:
    body = b'{"error": {"message": "This model\'s maximum context length is 8192 tokens", "code": "context_length_exceeded"}}'
    assert isinstance(error_from_response(400, {}, body, provider="p"), ContextLengthExceededError)


def test_retry_after_forms() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 20, usegmt=True)
    assert retry_after_from({"retry-after": "7"}) == 7
    assert retry_after_from({"Retry-After-Ms": "250"}) == 0.25
    assert retry_after_from({"retry-after": date}, now=now) == pytest.approx(20, abs=1)
    assert (
        retry_after_from(
            {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30s"}
        )
        == 90
    )
    google = {
        "error": {
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]
        }
    }
    assert retry_after_from({}, google) == 12
    assert retry_after_from({}) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1.5", 1.5),
        ("30s", 30),
        ("250ms", 0.25),
        ("1m30s", 90),
        ("2h0m5.5s", 7205.5),
        ("abc", None),
        ("", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
