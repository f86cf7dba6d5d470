"""Helpers shared by the test modules (fixtures live in ``conftest.py``).

Import them as ``from tests.helpers import ...``; the name keeps pytest from collecting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from lmux_plug import ChatChunk
from lmux_plug import FinishReason
from lmux_plug import ProviderError
from lmux_plug import Registry
from lmux_plug import Usage
from lmux_plug import wire
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import RouterConfig
from lmux_plug.testing.wire_server import Scenario
from lmux_plug.testing.wire_server import WireServer

#: A user turn as a plain Chat Completions dict.
HI = [{"role": "user", "content": "hi"}]


def chat_chunk_event(
    delta: Mapping[str, object],
    finish: str | None = None,
    *,
    model: str = "gpt-4o",
    created: int = 0,
    **extra: object,
) -> dict[str, object]:
    """One Chat Completions stream event (``chat.completion.chunk``) as the wire sends it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
        **extra,
    }


#: An OpenAI-style function tool, ``get_weather(city)``.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def python(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` (``-c CODE``, ``-m MODULE ...``), output as text.

    The exit status is the caller's to assert (``check=True`` raises on a failure instead);
    ``timeout`` bounds a hang.
    """
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=check,
    )


async def slow_words(
    model: str, *, words: int = 200, interval: float = 0.02
) -> AsyncIterator[ChatChunk]:
    """A slow upstream stream: ``"word "`` every ``interval`` s, the usage only at the end.

    For tests that cut a stream midway: 200 words last 4 s, far longer than the cut.
    """
    for _ in range(words):
        await asyncio.sleep(interval)
        yield ChatChunk(delta="word ", model=model)
    yield ChatChunk(
        finish_reason=FinishReason.STOP,
        usage=Usage(input_tokens=1, output_tokens=words),
        model=model,
    )


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request off a raw test server's ``reader``, or ``None`` at its end.

    Returns the request line, the headers as sent (names not folded) and the body
    (``Content-Length`` framing only: enough for what the clients under test send).
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip()] = value.strip()
    length = next((int(v) for k, v in headers.items() if k.lower() == "content-length"), 0)
    return request_line, headers, await reader.readexactly(length)


class TextLines:
    """The stream decoder of the tests' toy NDJSON wires (made as a codec's decoder class).

    Lines ``{"text": ...}`` are deltas; ``{"done": true}`` ends the stream (a stream that
    closes before it is cut short); an ``{"error": ...}`` line raises the mapped error.
    """

    def __init__(self, *, model: str, provider: str) -> None:
        self.model, self.provider = model, provider
        self.lines = wire.NDJSONDecoder()
        self.done = False

    def _chunks(self, lines: list[str]) -> list[ChatChunk]:
        chunks = []
        for line in lines:
            what = f"{self.provider} line"
            event = wire.stream_event(line, what=what, provider=self.provider, model=self.model)
            if "error" in event:
                raise wire.error_from_response(
                    500, {}, line, provider=self.provider, model=self.model
                )
            if event.get("done"):
                self.done = True
                chunks.append(ChatChunk(finish_reason=FinishReason.STOP, usage=Usage(1, 2)))
            else:
                chunks.append(ChatChunk(delta=str(event["text"])))
        return chunks

    def feed(self, data: bytes) -> list[ChatChunk]:
        """The chunks of the complete lines so far."""
        return self._chunks(self.lines.feed(data))

    def close(self) -> list[ChatChunk]:
        """The chunks of the last line; a stream that never said ``done`` is cut short."""
        chunks = self._chunks(self.lines.flush())
        if not self.done:
            msg = f"{self.provider} stream truncated"
            raise ProviderError(msg, provider=self.provider, model=self.model)
        return chunks


@contextlib.asynccontextmanager
async def served_registry(
    scenario: Scenario,
    plugins: Callable[[str], list[object]],
    provider: str,
    *,
    api_key: str,
    builtins: bool = True,
) -> AsyncIterator[tuple[Registry, WireServer]]:
    """A :class:`WireServer` playing ``scenario`` and a registry over it, closed after use.

    ``plugins(origin)`` makes the registry's plugins for the server's origin; ``provider``
    is configured with ``api_key``.
    """
    async with (
        WireServer(scenario) as server,
        Registry(plugins(server.origin()), builtins=builtins) as registry,
    ):
        registry.configure(provider, api_key=api_key)
        yield registry, server


def one_deployment(
    url: str,
    key: str,
    *,
    name: str | None = None,
    limits: Limits | None = None,
    **router: Any,
) -> RouterConfig:
    """The router configuration the router tests start from: logical model ``m`` alone.

    ``m`` is served by one deployment of ``openai/fake-model`` at ``url`` (a fake server)
    with the one API key ``key``, ``name`` and ``limits``; ``router`` holds the policy under
    test (retries, breaker, backoff).
    """
    deployment = Deployment(
        "openai/fake-model",
        base_url=url,
        name=name,
        api_keys=(key,),
        limits=Limits() if limits is None else limits,
    )
    return RouterConfig(models={"m": LogicalModel("m", [deployment])}, **router)


def fuzz_scalars(*, json_safe: bool) -> st.SearchStrategy[Any]:
    """The scalars the fuzz tests build their junk from.

    None, booleans, integers far past 64 bits, floats and short texts; with ``json_safe``
    (what a JSON body can carry) the floats are finite, otherwise NaN, the infinities and
    a few bytes come too (what a Python caller can pass).
    """
    common = (st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70))
    if json_safe:
        return st.one_of(
            *common, st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
        )
    return st.one_of(
        *common,
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
        st.binary(max_size=4),
    )
