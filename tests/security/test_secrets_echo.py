"""A key echoed back by an upstream appears nowhere lmux-plug produces (issue 12.16).

The fake server (``WireServer``) on 127.0.0.1 plays each wire (OpenAI, Anthropic, Gemini, Ollama) and
echoes the key it was sent: in an error body and header, in a malformed 200, inside a
stream error event, in an embeddings body. The resulting exception must not carry the key
in ``str``, ``repr``, ``args``, its traceback, its pickle, its body or its headers; nor may
router attempt records, log records or batch output files.
"""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import lmux_plug
from lmux_plug import LmuxError
from lmux_plug import Registry
from lmux_plug._secrets import scrubbed_logger
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

KEY = "sk-live-SECRET-5f2a9c7e1b"
POOL_KEY = "pool-key-SECRET-77aa00ff"

MODELS = {
    "openai": "openai/gpt-4o",
    "anthropic": "anthropic/claude-sonnet-4-5",
    "gemini": "gemini/gemini-2.5-flash",
    "ollama": "ollama/llama3.2",
}


def _key_of(request: CapturedRequest) -> str:
    for name in ("x-api-key", "x-goog-api-key"):
        if name in request.headers:
            return request.headers[name]
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") or request.query.get("key", "")


def _stream_error(path: str, key: str) -> tuple[bytes, str]:
    """A stream whose first event is an error that quotes the key, in the wire's shape."""
    message = f"key {key} was revoked"
    if path.startswith("/v1/messages"):
        event = {"type": "error", "error": {"type": "api_error", "message": message}}
        return f"event: error\ndata: {json.dumps(event)}\n\n".encode(), "text/event-stream"
    if path.startswith("/api/"):
        return json.dumps({"error": message}).encode() + b"\n", "application/x-ndjson"
    if "models/" in path:
        event = {"error": {"code": 500, "message": message, "status": "INTERNAL"}}
        return f"data: {json.dumps(event)}\n\n".encode(), "text/event-stream"
    event = {"error": {"message": message, "type": "server_error"}}
    return f"data: {json.dumps(event)}\n\n".encode(), "text/event-stream"


def echoing_upstream(request: CapturedRequest) -> Reply:
    """Answers every wire's call paths with the key; the mode is a word in the request body."""
    raw, key = request.body, _key_of(request)
    if b"mode-error-body" in raw:
        body = {"error": {"message": f"Incorrect API key provided: {key}", "type": "x"}}
        return Reply.with_json(body, status=401, headers={"x-echo": key})
    if b"mode-server-error" in raw:
        return Reply.with_body(f"upstream crashed handling key={key}", "text/plain", status=500)
    if b"mode-malformed" in raw:
        return Reply.with_body(f"<html>proxy says {key}</html>", "text/plain")
    if b"mode-stream-error" in raw:
        data, content_type = _stream_error(request.path, key)
        return Reply.with_body(data, content_type)
    # Embeddings: a 200 whose vectors are the key (OpenAI and Gemini shapes).
    return Reply.with_json(
        {
            "object": "list",
            "data": [{"index": 0, "embedding": key}],
            "embeddings": [{"values": key}],
        }
    )


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Registry, WireServer]]:
    async with WireServer(echoing_upstream) as server:
        url = server.origin()
        async with Registry.from_entry_points() as registry:
            for prefix in ("anthropic", "gemini", "ollama"):
                registry.configure(prefix, base_url=url, api_key=KEY)
            registry.configure("openai", base_url=f"{url}/v1", api_key=KEY)
            yield registry, server


def assert_clean(exc: BaseException, *, quoted: bool = True) -> None:
    """No form of ``exc`` contains a secret; with ``quoted``, the echo reached it redacted."""
    shown = [
        str(exc),
        repr(exc),
        repr(exc.args),
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        str(pickle.loads(pickle.dumps(exc))),
        repr(vars(pickle.loads(pickle.dumps(exc)))),
        repr(vars(exc)),
    ]
    for text in shown:
        assert KEY not in text
        assert POOL_KEY not in text
    assert KEY.encode() not in pickle.dumps(exc)
    if quoted:
        assert "[redacted]" in " ".join(shown)


async def _fail(call: object) -> LmuxError:
    with pytest.raises(LmuxError) as caught:
        await call  # type: ignore[misc]
    return caught.value


@pytest.mark.parametrize("wire", sorted(MODELS))
@pytest.mark.parametrize("mode", ["error-body", "server-error", "malformed"])
async def test_chat_errors_never_show_the_key(
    upstream: tuple[Registry, WireServer], wire: str, mode: str
) -> None:
    registry, server = upstream
    exc = await _fail(registry.achat(MODELS[wire], f"mode-{mode}", max_tokens=5))
    assert len(server.requests) == 1
    assert_clean(exc)


@pytest.mark.parametrize("wire", sorted(MODELS))
@pytest.mark.parametrize("mode", ["error-body", "stream-error"])
async def test_stream_errors_never_show_the_key(
    upstream: tuple[Registry, WireServer], wire: str, mode: str
) -> None:
    registry, server = upstream

    async def consume() -> None:
        async for _chunk in registry.achat_stream(MODELS[wire], f"mode-{mode}", max_tokens=5):
            pass

    exc = await _fail(consume())
    assert len(server.requests) == 1
    assert_clean(exc)


@pytest.mark.parametrize("model", ["openai/text-embedding-3-small", "gemini/text-embedding-004"])
async def test_an_embeddings_body_echoing_the_key_never_shows_it(
    upstream: tuple[Registry, WireServer], model: str
) -> None:
    registry, server = upstream
    exc = await _fail(registry.aembed(model, ["mode-embed-echo"]))
    assert len(server.requests) == 1
    assert_clean(exc, quoted=False)


async def test_router_attempts_never_show_pool_keys(
    upstream: tuple[Registry, WireServer],
) -> None:
    from lmux_plug.router import Deployment
    from lmux_plug.router import LogicalModel
    from lmux_plug.router import Router

    registry, _server = upstream
    base = registry._routes["openai"].base_url
    deployment = Deployment("openai/gpt-4o", base_url=base, api_keys=(POOL_KEY,))
    router = Router({"pool": LogicalModel("pool", [deployment])}, registry=registry)
    exc = await _fail(router.achat("pool", "mode-error-body", max_tokens=5))
    attempts = getattr(exc, "attempts", ())
    assert attempts, "the router records its attempts on the error"
    assert POOL_KEY not in repr(attempts)
    assert POOL_KEY not in str(exc)
    assert "[redacted]" in repr(attempts)


async def test_batch_output_files_never_show_the_key(
    upstream: tuple[Registry, WireServer], tmp_path: Path
) -> None:
    from lmux_plug.batch import agenerate_batch
    from lmux_plug.batch.jsonl import encode_record
    from lmux_plug.batch.jsonl import error_record

    registry, _ = upstream
    batch = await agenerate_batch(
        MODELS["openai"], ["mode-error-body", "mode-malformed"], client=registry, max_tokens=5
    )
    errors = [error for error in batch.errors if error is not None]
    assert len(errors) == 2
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(encode_record(i, error_record(e), {}) for i, e in enumerate(errors)))
    written = out.read_text()
    assert KEY not in written
    assert "[redacted]" in written


def test_log_records_are_scrubbed_in_every_attribute(caplog: pytest.LogCaptureFixture) -> None:
    lmux_plug.Secret(KEY)  # configured somewhere in the process
    logger = scrubbed_logger("lmux_plug.test_secrets")
    try:
        raise ValueError(f"foreign error quoting {KEY}")
    except ValueError:
        with caplog.at_level(logging.INFO, logger="lmux_plug.test_secrets"):
            logger.exception("upstream said %s", KEY, extra={"body": f"raw {KEY}"})
    (record,) = caplog.records
    everything = repr(vars(record)) + caplog.text + (record.exc_text or "")
    assert KEY not in everything
    assert "[redacted]" in record.getMessage()
    assert record.body == "raw [redacted]"  # type: ignore[attr-defined]
    assert record.exc_text
    assert "[redacted]" in record.exc_text


def test_core_loggers_carry_the_scrub_filter() -> None:
    import importlib

    from lmux_plug._secrets import ScrubFilter

    for module in ("lmux_plug.gateway.app", "lmux_plug.router.keys"):  # their loggers
        importlib.import_module(module)

    for name in ("lmux_plug", "lmux_plug.gateway", "lmux_plug.router"):
        assert any(isinstance(f, ScrubFilter) for f in logging.getLogger(name).filters), name
