"""A fast, fault-injecting OpenAI-format HTTP server for tests and benchmarks (127.0.0.1).

It is the project's one fake server (:class:`~lmux_plug.testing.wire_server.WireServer`,
with keep-alive) configured with a scenario that serves ``/v1/chat/completions`` (JSON and
SSE), ``/v1/embeddings`` and ``/v1/models``, rendered by the same
:class:`~lmux_plug.testing.wire_formats.OpenAIWire` the contract suite uses. Chat answers
echo the last user message (``echo: <text>``) unless the plan fixes the reply.

Faults, per server (:class:`FaultPlan`), for the next requests (:meth:`FakeOpenAIServer.inject`)
or per request (header ``x-fake-fault``):

* ``429`` (with ``retry-after`` / ``retry-after-ms`` / ``x-ratelimit-*`` headers),
  any other status code such as ``500``, ``503``, ``529`` with an OpenAI-style error body
* ``timeout`` (accept the request, never answer while the client waits), ``reset`` (an
  RST at once), ``truncate`` (stream half the chunks, then end without ``[DONE]``),
  ``malformed`` (invalid JSON with status 200), ``stream-error`` (an error object inside
  the stream)
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
import subprocess
import sys
import time
from collections import Counter
from collections import deque
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import attrs

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import ProviderSpec
from lmux_plug import Usage
from lmux_plug.testing.wire_formats import OpenAIWire
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

__all__ = [
    "FakeOpenAIServer",
    "FaultPlan",
    "Quota",
    "provider_spec",
    "serve_in_process",
    "stop_process",
]

_WIRE = OpenAIWire()


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
    """The :class:`WireServer` answering in OpenAI's format by ``plan``.

    ``url`` is ``http://127.0.0.1:<port>/v1`` once started; ``requests`` (the captured
    requests), ``stats`` and ``open_connections`` are the wire server's (``server``).
    """

    def __init__(self, plan: FaultPlan | None = None, *, port: int = 0) -> None:
        self.plan = plan or FaultPlan()
        self.server = WireServer(self._reply, keep_alive=True, port=port)
        self._random = random.Random(self.plan.seed)  # noqa: S311 - fault injection, not crypto
        self._injected: deque[str] = deque()

    @property
    def url(self) -> str:
        """Base URL of the OpenAI-format API."""
        return f"{self.server.origin()}/v1"

    @property
    def port(self) -> int:
        """The port it listens on (once started)."""
        return self.server.port

    @property
    def stats(self) -> Counter[str]:
        """``requests``, ``connections``, ``status_<code>``, ``fault_<name>`` counts."""
        return self.server.stats

    @property
    def requests(self) -> list[CapturedRequest]:
        """The requests received (while ``record_requests`` is on)."""
        return self.server.requests

    @property
    def open_connections(self) -> int:
        """Client connections open now."""
        return self.server.open_connections

    @property
    def record_requests(self) -> bool:
        """Whether ``requests`` keeps every request (off for long benchmarks)."""
        return self.server.record

    @record_requests.setter
    def record_requests(self, value: bool) -> None:
        self.server.record = value

    async def start(self) -> FakeOpenAIServer:
        """Listen on 127.0.0.1 in the running loop."""
        await self.server.astart()
        return self

    async def stop(self) -> None:
        """Stop listening and drop every connection (hung ones too)."""
        await self.server.astop()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[FakeOpenAIServer]:
        """Serve from a background thread's loop for the duration of the block."""
        with self.server:
            yield self

    # -- behaviour -------------------------------------------------------------------------

    def inject(self, *faults: str) -> None:
        """Give the next requests these faults, one each, in order (then the plan decides)."""
        self._injected.extend(faults)

    def choose_fault(self, headers: Mapping[str, str]) -> str | None:
        """The fault for this request: the header wins, then injected faults, then the dice."""
        if fault := headers.get("x-fake-fault"):
            return fault
        if self._injected:
            return self._injected.popleft()
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

    def _reply(self, request: CapturedRequest) -> Reply:
        """The scenario: the plan's checks and faults, then the endpoint's answer."""
        reply, success = self._answer(request)
        headers = {**reply.headers, "x-request-id": f"req_{self.stats['requests']}"}
        if success:
            headers.update(self._rate_headers())
        return attrs.evolve(reply, headers=headers, delay=self.plan.latency)

    def _answer(self, request: CapturedRequest) -> tuple[Reply, bool]:
        """The reply, and whether it is an answer (which carries the quota headers)."""
        plan = self.plan
        body = request.json()
        if request.body and not isinstance(body, dict):
            return _WIRE.error(400, "request body is not valid JSON"), False
        body = body or {}
        expected = f"Bearer {plan.require_key}"
        if plan.require_key and request.headers.get("authorization") != expected:
            return _WIRE.error(401, "Incorrect API key provided."), False
        if plan.quota is not None:
            # The loop's clock (``time.monotonic`` on a standard loop): a test running on a
            # virtual-time loop gets quota windows on the same clock as its router.
            wait = plan.quota.admit(asyncio.get_running_loop().time())
            if wait is not None:
                headers = self.retry_after_headers(wait)
                return _WIRE.error(429, "Rate limit reached for requests", headers), False
        fault = self.choose_fault(request.headers)
        if fault is not None:
            self.stats[f"fault_{fault}"] += 1
            if (reply := self._fault(fault)) is not None:
                return reply, False
        path, post = request.path, request.method == "POST"
        if path.startswith("/v1/chat/completions") and post:
            return self._chat(request, body, fault), True
        if path.startswith("/v1/embeddings") and post:
            return self._embeddings(request), True
        if path.startswith("/v1/models"):
            models = {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
            return Reply.with_json(models), False
        return _WIRE.error(404, f"unknown path {path}"), False

    def _rate_headers(self) -> dict[str, str]:
        quota = self.plan.quota
        if quota is None or not quota.send_headers:
            return {}
        return {
            "x-ratelimit-limit-requests": str(quota.limit),
            "x-ratelimit-remaining-requests": str(quota.remaining()),
            "x-ratelimit-reset-requests": f"{quota.window:g}s",
        }

    def _fault(self, fault: str) -> Reply | None:
        """The reply for ``fault``, or ``None`` for the faults applied while streaming."""
        if fault == "reset":
            return Reply(before="reset")
        if fault == "timeout":
            return Reply(before="hang")
        if fault == "malformed":
            return Reply.with_body(b'{"id": "chatcmpl-x", "choices": [')
        if fault.isdigit():
            status = int(fault)
            retry = self.plan.retry_after if status in (429, 503, 529) else None
            return _WIRE.error(status, f"injected {status}", self.retry_after_headers(retry))
        return None

    def _chat(self, request: CapturedRequest, body: Mapping[str, Any], fault: str | None) -> Reply:
        text = _reply_text(body, self.plan)
        prompt = sum(_tokens(json.dumps(m)) for m in body.get("messages") or [])
        usage = Usage(input_tokens=prompt, output_tokens=_tokens(text))
        if not body.get("stream"):
            return _WIRE.chat(request, text, usage)
        count = max(self.plan.stream_chunks, 1)
        size = max(1, math.ceil(len(text) / count))
        pieces = [text[i : i + size] for i in range(0, len(text), size)][:count]
        pieces += [""] * (count - len(pieces))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        rendering = _WIRE.stream(request, pieces, usage, include_usage=include_usage)
        frames = rendering.frames
        half = len(frames) // 2
        if fault == "truncate":  # the body ends properly, without [DONE]
            frames = frames[:half]
        elif fault == "stream-error":
            frames = (*frames[:half], _WIRE.stream_error("injected stream error"))
        else:
            return _WIRE.reply_stream(rendering)
        headers = {"content-type": rendering.content_type, "connection": "close"}
        return Reply(200, headers, frames, stream=True)

    def _embeddings(self, request: CapturedRequest) -> Reply:
        texts = _WIRE.embed_inputs(request)
        vectors = [(float(len(t)), float(i), 1.0) for i, t in enumerate(texts)]
        usage = Usage(input_tokens=sum(_tokens(t) for t in texts))
        return _WIRE.embed(request, vectors, usage)


def provider_spec(name: str = "fake") -> ProviderSpec:
    """An OpenAI-compatible provider for the fake server, served by the openai plugin.

    ``Registry(plugins=[lmux_plug_openai]).register("fake", provider_spec())``, then call
    ``fake/<any model>`` with ``base_url=server.url``. A key is optional (``api_key=...`` or
    ``LMUX_TEST_FAKE_KEY``): the server checks one only when its plan requires it.
    """
    return ProviderSpec(
        name=name,
        wire="openai",
        base_url="http://127.0.0.1:9/v1",  # discard port: every caller passes the server's URL
        auth=ApiKeyAuth(env=("LMUX_TEST_FAKE_KEY",), optional=True),
        capabilities=frozenset(
            {Capability.CHAT, Capability.STREAM, Capability.EMBED, Capability.JSON_SCHEMA}
        ),
    )


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


@contextlib.contextmanager
def serve_in_process(
    *,
    latency: float = 0.0,
    chunks: int = 8,
    reply: str | None = None,
    cwd: str | None = None,
) -> Iterator[str]:
    """Run the server in a Python process of its own; yield its base URL (``.../v1``).

    For benchmarks (the server does not share the measured client's GIL) and for tests of
    other processes. The process is terminated (then killed if need be) on exit. ``cwd``
    is its working directory (a source checkout makes ``lmux_plug`` importable).
    """
    command = [sys.executable, "-m", "lmux_plug.testing.fake_openai", "--port", "0"]
    command += ["--latency", str(latency), "--chunks", str(chunks)]
    if reply is not None:
        command += ["--reply", reply]
    # The command is this interpreter and this module, with numbers and the reply text.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd)  # noqa: S603
    try:
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE
        line = process.stdout.readline().strip()
        if not line.startswith("PORT "):
            msg = f"fake server did not start: {line!r}"
            raise RuntimeError(msg)
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


def stop_process(process: subprocess.Popen[Any], *, grace: float = 10.0) -> None:
    """Terminate ``process`` (SIGTERM), and kill it if it has not exited after ``grace`` s.

    For server processes started by tests and benchmarks: a server that hangs on shutdown
    must not outlive them.
    """
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


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
