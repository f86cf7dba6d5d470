"""A fast, fault-injecting OpenAI-format HTTP server for tests and benchmarks (127.0.0.1).

It speaks enough HTTP/1.1 (keep-alive, ``Content-Length`` requests, chunked streaming
responses) to serve ``/v1/chat/completions`` (JSON and SSE), ``/v1/embeddings`` and
``/v1/models`` in OpenAI's wire format, on a raw asyncio protocol so that it is not the
bottleneck of a client benchmark.

Faults, per server (:class:`FaultPlan`) or per request (header ``x-fake-fault``):

* ``429`` (with ``retry-after`` / ``retry-after-ms`` / ``x-ratelimit-*`` headers),
  any other status code such as ``500``, ``503``, ``529`` with an OpenAI-style error body
* ``timeout`` (accept the request, never answer), ``reset`` (close the socket at once),
  ``truncate`` (stream half the chunks, then close without ``[DONE]``), ``malformed``
  (invalid JSON with status 200), ``stream-error`` (an error object inside the stream)
* quotas: ``rpm`` with a scalable window; requests over quota get 429 with the time to
  the window's end, like a real provider

Use it in-process (``async with FakeOpenAIServer() as server``), in a thread
(``with FakeOpenAIServer().run_in_thread() as server``) or as a process
(``python -m lmux_plug.testing.fake_openai --port 0``: prints ``PORT <n>``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import json
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

__all__ = ["FakeOpenAIServer", "FaultPlan", "Quota"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    529: "overloaded_error",
}


@attrs.define
class Quota:
    """At most ``limit`` requests per ``window`` seconds (``window=60`` is real rpm)."""

    limit: int
    window: float = 60.0
    send_headers: bool = True
    _stamps: deque[float] = attrs.field(factory=deque, init=False)

    def admit(self, now: float) -> float | None:
        """Record a request; return ``None`` if admitted, else seconds until capacity."""
        while self._stamps and now - self._stamps[0] >= self.window:
            self._stamps.popleft()
        if len(self._stamps) >= self.limit:
            return self.window - (now - self._stamps[0])
        self._stamps.append(now)
        return None

    def remaining(self) -> int:
        """Requests left in the current window."""
        return max(self.limit - len(self._stamps), 0)


@attrs.define
class FaultPlan:
    """Server-wide behaviour. ``faults`` maps a fault name to its probability."""

    latency: float = 0.0
    faults: Mapping[str, float] = attrs.field(factory=dict)
    retry_after: float | None = 1.0
    retry_after_form: str = "seconds"  # "seconds", "ms" or "http-date"
    quota: Quota | None = None
    stream_chunks: int = 8
    reply: str | None = None
    seed: int | None = None
    require_key: str | None = None


class FakeOpenAIServer:
    """The server. ``url`` is ``http://127.0.0.1:<port>/v1`` once started."""

    def __init__(self, plan: FaultPlan | None = None, *, port: int = 0) -> None:
        self.plan = plan or FaultPlan()
        self.port = port
        self.stats: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.record_requests = True
        self.open_connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._random = random.Random(self.plan.seed)  # noqa: S311 - fault injection, not crypto
        self._hung: set[asyncio.Transport] = set()

    @property
    def url(self) -> str:
        """Base URL of the OpenAI-format API."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAIServer:
        """Listen on 127.0.0.1."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), "127.0.0.1", self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every connection (hung ones too)."""
        for transport in list(self._hung):
            transport.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[FakeOpenAIServer]:
        """Serve from a background thread's loop for the duration of the block."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    # -- behaviour -------------------------------------------------------------------------

    def choose_fault(self, headers: Mapping[str, str]) -> str | None:
        """The fault for this request: the header wins, then the quota, then the dice."""
        if fault := headers.get("x-fake-fault"):
            return fault
        for name, probability in self.plan.faults.items():
            if self._random.random() < probability:
                return name
        return None

    def retry_after_headers(self, seconds: float | None) -> dict[str, str]:
        """``retry-after`` in the configured form, plus OpenAI's rate-limit headers."""
        headers: dict[str, str] = {}
        if seconds is None:
            return headers
        form = self.plan.retry_after_form
        if form == "ms":
            headers["retry-after-ms"] = str(int(seconds * 1000))
        elif form == "http-date":
            headers["retry-after"] = email.utils.formatdate(time.time() + seconds, usegmt=True)
        else:
            headers["retry-after"] = f"{seconds:g}"
        headers["x-ratelimit-remaining-requests"] = "0"
        headers["x-ratelimit-reset-requests"] = f"{seconds:.3f}s"
        return headers


def _reply_text(body: Mapping[str, Any], plan: FaultPlan) -> str:
    if plan.reply is not None:
        return plan.reply
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return f"echo: {content}"
    return "echo"


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class _Connection(asyncio.Protocol):
    """One client connection: parse pipelined HTTP/1.1 requests, answer each in turn."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[tuple[str, str, dict[str, str], bytes] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.open_connections += 1
        self.server.stats["connections"] += 1
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.server.open_connections -= 1
        self.server.stats["disconnects"] += 1
        self.queue.put_nowait(None)
        if self.transport is not None:
            self.server._hung.discard(self.transport)  # noqa: SLF001

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            self.queue.put_nowait((method, path, headers, body))

    async def _serve(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None or self.transport is None or self.transport.is_closing():
                return
            try:
                await self._answer(*item)
            except (ConnectionError, RuntimeError):  # client went away mid-answer
                return

    def _write(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        assert self.transport is not None  # noqa: S101 - set in connection_made
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        all_headers = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "x-request-id": f"req_{self.server.stats['requests']}",
            **(headers or {}),
        }
        if close:
            all_headers["connection"] = "close"
        lines.extend(f"{k}: {v}" for k, v in all_headers.items())
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        if close:
            self.transport.close()

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        error_type = _ERROR_TYPES.get(status, "server_error")
        body = {
            "error": {"message": message, "type": error_type, "param": None, "code": error_type}
        }
        self._write(status, json.dumps(body).encode(), headers)

    async def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> None:
        server = self.server
        plan = server.plan
        server.stats["requests"] += 1
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            server.stats["status_400"] += 1
            self._error(400, "request body is not valid JSON")
            return
        if server.record_requests:
            server.requests.append(
                {"method": method, "path": path, "headers": headers, "body": body}
            )
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.require_key and headers.get("authorization") != f"Bearer {plan.require_key}":
            server.stats["status_401"] += 1
            self._error(401, "Incorrect API key provided.")
            return
        if plan.quota is not None:
            wait = plan.quota.admit(time.monotonic())
            if wait is not None:
                server.stats["status_429"] += 1
                self._error(
                    429, "Rate limit reached for requests", server.retry_after_headers(wait)
                )
                return
        fault = server.choose_fault(headers)
        if fault is not None and await self._fault(fault):
            return
        rate_headers = self._rate_headers()
        if path.startswith("/v1/chat/completions") and method == "POST":
            if body.get("stream"):
                await self._stream(
                    body, rate_headers, truncate=fault == "truncate", error=fault == "stream-error"
                )
            else:
                self._chat(body, rate_headers)
        elif path.startswith("/v1/embeddings") and method == "POST":
            self._embeddings(body, rate_headers)
        elif path.startswith("/v1/models"):
            self._write(
                200,
                json.dumps(
                    {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
                ).encode(),
            )
        else:
            server.stats["status_404"] += 1
            self._error(404, f"unknown path {path}")
            return
        server.stats["status_200"] += 1

    def _rate_headers(self) -> dict[str, str]:
        quota = self.server.plan.quota
        if quota is None or not quota.send_headers:
            return {}
        return {
            "x-ratelimit-limit-requests": str(quota.limit),
            "x-ratelimit-remaining-requests": str(quota.remaining()),
            "x-ratelimit-reset-requests": f"{quota.window:g}s",
        }

    async def _fault(self, fault: str) -> bool:
        """Apply ``fault``; return whether the request is fully handled."""
        server = self.server
        server.stats[f"fault_{fault}"] += 1
        assert self.transport is not None  # noqa: S101
        if fault == "reset":
            self.transport.abort()
            return True
        if fault == "timeout":
            server._hung.add(self.transport)  # noqa: SLF001
            await asyncio.sleep(3600)
            return True
        if fault == "malformed":
            self._write(200, b'{"id": "chatcmpl-x", "choices": [')
            return True
        if fault.isdigit():
            status = int(fault)
            headers = (
                server.retry_after_headers(server.plan.retry_after)
                if status in (429, 503, 529)
                else {}
            )
            server.stats[f"status_{status}"] += 1
            self._error(status, f"injected {status}", headers)
            return True
        return False  # stream faults are applied while streaming

    def _chat(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        text = _reply_text(body, self.server.plan)
        prompt = sum(_tokens(json.dumps(m)) for m in body.get("messages") or [])
        answer = {
            "id": f"chatcmpl-{self.server.stats['requests']}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": _tokens(text),
                "total_tokens": prompt + _tokens(text),
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
        self._write(200, json.dumps(answer).encode(), headers)

    async def _stream(
        self, body: Mapping[str, Any], headers: Mapping[str, str], *, truncate: bool, error: bool
    ) -> None:
        assert self.transport is not None  # noqa: S101
        plan = self.server.plan
        model = body.get("model", "fake-model")
        text = _reply_text(body, plan)
        count = max(plan.stream_chunks, 1)
        size = max(1, math.ceil(len(text) / count))
        pieces = [text[i : i + size] for i in range(0, len(text), size)][:count]
        pieces += [""] * (count - len(pieces))
        head = {
            "content-type": "text/event-stream",
            "transfer-encoding": "chunked",
            "x-request-id": f"req_{self.server.stats['requests']}",
            **headers,
        }
        self.transport.write(
            (
                "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
            ).encode()
        )
        base = {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
        }
        events = []
        for i, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece}
            if i == 0:
                delta["role"] = "assistant"
            events.append(
                {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage:
            prompt = sum(_tokens(json.dumps(m)) for m in body.get("messages") or [])
            events.append(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": _tokens(text),
                        "total_tokens": prompt + _tokens(text),
                    },
                }
            )
        cut = len(events) // 2 if truncate else None
        for i, event in enumerate(events):
            if cut is not None and i == cut:
                self.transport.write(b"0\r\n\r\n")  # end the HTTP body early: no [DONE]
                self.transport.close()
                return
            if error and i == len(events) // 2:
                failure = {
                    "error": {
                        "message": "injected stream error",
                        "type": "server_error",
                        "code": "server_error",
                    }
                }
                self._chunk(f"data: {json.dumps(failure)}\n\n".encode())
                self.transport.write(b"0\r\n\r\n")
                return
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
            if plan.latency and i % 16 == 15:
                await asyncio.sleep(0)
        self._chunk(b"data: [DONE]\n\n")
        self.transport.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        assert self.transport is not None  # noqa: S101
        self.transport.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _embeddings(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 1.0]}
            for i, t in enumerate(texts)
        ]
        tokens = sum(_tokens(str(t)) for t in texts)
        answer = {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._write(200, json.dumps(answer).encode(), headers)


async def _serve_forever(args: argparse.Namespace) -> None:
    plan = FaultPlan(latency=args.latency, stream_chunks=args.chunks, reply=args.reply)
    server = FakeOpenAIServer(plan, port=args.port)
    server.record_requests = False
    await server.start()
    print(f"PORT {server.port}", flush=True)  # noqa: T201 - the parent process reads it
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        import signal  # noqa: PLC0415

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m lmux_plug.testing.fake_openai``: serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--chunks", type=int, default=8, help="content chunks per stream")
    parser.add_argument("--reply", default=None, help="fixed reply text (default: echo)")
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    main()
