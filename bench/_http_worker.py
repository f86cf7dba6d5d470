"""One client measured against the local fake OpenAI server, in its own process.

Run by ``bench_http.py`` / ``bench_stream.py`` (never imported by them), so that each
client gets a fresh interpreter and event loop, and peers can live in another virtualenv.
Prints one JSON line: the measurement, or ``{"unavailable": reason}``.

Every answer is checked (the reply text, or every streamed delta joined) and counted as
an error if wrong; nothing is counted that did not arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

MODEL = "fake-model"
KEY = "sk-test"
PROMPT = "hi"
EXPECTED = f"echo: {PROMPT}"

Chat = Callable[[], Awaitable[str]]
Stream = Callable[[], AsyncIterator[str]]


# -- clients: each returns (chat, stream, close); chat() -> reply text, stream() -> deltas --------


def client_bare(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """A bare aiohttp loop: ``json.dumps`` the body, POST, read, ``json.loads``.

    The floor any client pays per call: a real client serialises each request and parses
    each answer, so the bare loop does too (and nothing else).
    """
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=256),
        skip_auto_headers=("User-Agent",),
    )
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    endpoint = f"{url}/chat/completions"
    payload = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    stream_body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    ).encode()

    async def chat() -> str:
        body = json.dumps(payload).encode()
        async with session.post(endpoint, data=body, headers=headers) as response:
            data = json.loads(await response.read())
        return data["choices"][0]["message"]["content"]

    async def stream() -> AsyncIterator[str]:
        # The ceiling: iterate SSE lines and decode each event's JSON, nothing more.
        async with session.post(endpoint, data=stream_body, headers=headers) as response:
            async for line in response.content:
                if line.startswith(b"data: ") and line != b"data: [DONE]\n":
                    event = json.loads(line[6:])
                    choices = event.get("choices")
                    if choices and (text := choices[0]["delta"].get("content")):
                        yield text

    return chat, stream, session.close


def client_bare_lines(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """Bare aiohttp line iteration without JSON decoding (streams only; a hard ceiling)."""
    chat, _, close = client_bare(url)
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, limit_per_host=256))
    endpoint = f"{url}/chat/completions"
    stream_body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    ).encode()
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}

    async def stream() -> AsyncIterator[str]:
        async with session.post(endpoint, data=stream_body, headers=headers) as response:
            async for line in response.content:
                if (
                    line.startswith(b"data: {")
                    and b'"content"' in line
                    # the role chunk first carries an empty content: not a content chunk
                    and b'"content":""' not in line
                    and b'"content": ""' not in line
                ):
                    yield ""  # counted, not decoded: the check is on the count

    async def close_all() -> None:
        await close()
        await session.close()

    return chat, stream, close_all


def client_transport(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """``lmux_plug.http.Transport`` + ``SSEDecoder`` directly (no registry, no codec)."""
    from lmux_plug._sse import SSEDecoder
    from lmux_plug.http import Transport

    transport = Transport()
    endpoint = f"{url}/chat/completions"
    headers = {"authorization": f"Bearer {KEY}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    stream_body = {**body, "stream": True}

    async def chat() -> str:
        response = await transport.request("POST", endpoint, headers=headers, json_body=body)
        return response.json()["choices"][0]["message"]["content"]

    async def stream() -> AsyncIterator[str]:
        response = await transport.stream("POST", endpoint, headers=headers, json_body=stream_body)
        decoder = SSEDecoder()
        try:
            async for data in response.iter_bytes():
                for event in decoder.feed(data):
                    if event.data == "[DONE]":
                        continue
                    choices = json.loads(event.data).get("choices")
                    if choices and (text := choices[0]["delta"].get("content")):
                        yield text
        finally:
            response.close()

    return chat, stream, transport.aclose


def client_registry(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """``lmux_plug.Registry`` with the openai plugin: the whole stack a user calls."""
    import lmux_plug_openai  # the plugin under test; ImportError = unavailable

    from lmux_plug import Registry

    registry = Registry(builtins=False)
    if "openai" not in {s.name for s in registry.providers()}:
        registry.add_plugin(lmux_plug_openai, name="openai")

    async def chat() -> str:
        response = await registry.achat(f"openai/{MODEL}", PROMPT, base_url=url, api_key=KEY)
        return response.content or ""

    async def stream() -> AsyncIterator[str]:
        async for chunk in registry.achat_stream(
            f"openai/{MODEL}", PROMPT, base_url=url, api_key=KEY
        ):
            if chunk.delta:
                yield chunk.delta

    return chat, stream, registry.aclose


def client_openai(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """The official SDK: ``AsyncOpenAI(base_url=...)``, retries off."""
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]

    async def chat() -> str:
        completion = await client.chat.completions.create(model=MODEL, messages=messages)
        return completion.choices[0].message.content or ""

    async def stream() -> AsyncIterator[str]:
        response = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        async for chunk in response:
            if chunk.choices and (text := chunk.choices[0].delta.content):
                yield text

    return chat, stream, client.close


def client_litellm(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """LiteLLM's ``acompletion`` with ``api_base`` (no retries, no callbacks)."""
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    messages = [{"role": "user", "content": PROMPT}]

    async def chat() -> str:
        response: Any = await litellm.acompletion(
            model=f"openai/{MODEL}", messages=messages, api_base=url, api_key=KEY, num_retries=0
        )
        return response.choices[0].message.content or ""

    async def stream() -> AsyncIterator[str]:
        response: Any = await litellm.acompletion(
            model=f"openai/{MODEL}",
            messages=messages,
            api_base=url,
            api_key=KEY,
            stream=True,
            num_retries=0,
        )
        async for chunk in response:
            if chunk.choices and (text := chunk.choices[0].delta.content):
                yield text

    async def close() -> None:
        return None

    return chat, stream, close


def client_lmux(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """lmux + lmux-openai (Python 3.13+): ``Registry.achat`` with an ``OpenAIProvider``."""
    import lmux
    from lmux_openai import OpenAIProvider

    os.environ["OPENAI_API_KEY"] = KEY  # lmux-openai's env auth provider reads it
    provider = OpenAIProvider(base_url=url, max_retries=0)
    registry = lmux.Registry()
    registry.register("openai", provider)
    messages = [lmux.UserMessage(content=PROMPT)]

    async def chat() -> str:
        response = await registry.achat(f"openai/{MODEL}", messages)
        return response.content or ""

    async def stream() -> AsyncIterator[str]:
        async for chunk in registry.achat_stream(f"openai/{MODEL}", messages):
            if chunk.delta:
                yield chunk.delta

    return chat, stream, registry.aclose


def client_infermesh(url: str) -> tuple[Chat, Stream, Callable[[], Awaitable[None]]]:
    """infermesh ``LMClient.agenerate`` (single endpoint, retries off; built on LiteLLM)."""
    from infermesh import LMClient

    client = LMClient(model=f"openai/{MODEL}", api_base=url, api_key=KEY, max_retries=0)

    async def chat() -> str:
        result = await client.agenerate(PROMPT)
        return result.output_text or ""

    async def stream() -> AsyncIterator[str]:
        msg = "infermesh has no streaming API"
        raise NotImplementedError(msg)
        yield ""  # pragma: no cover

    async def close() -> None:
        client.close()

    return chat, stream, close


CLIENTS = {
    "bare aiohttp": client_bare,
    "bare aiohttp lines": client_bare_lines,
    "lmux_plug Transport": client_transport,
    "lmux_plug Registry": client_registry,
    "openai SDK": client_openai,
    "litellm": client_litellm,
    "lmux": client_lmux,
    "infermesh": client_infermesh,
}


# -- modes ----------------------------------------------------------------------------------


async def concurrent(chat: Chat, concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` workers call ``chat`` back to back until the deadline."""
    done = errors = 0
    first_error = ""

    async def worker(deadline: float) -> None:
        nonlocal done, errors, first_error
        while time.perf_counter() < deadline:
            try:
                ok = await chat() == EXPECTED
            except Exception as exc:  # a failing client is reported, not hidden
                ok, first_error = False, first_error or f"{type(exc).__name__}: {exc}"[:300]
            if ok:
                done += 1
            else:
                errors += 1

    # Warm up: open the pool's connections and fill caches before the clock starts.
    await asyncio.gather(*(worker(time.perf_counter() + 0.3) for _ in range(concurrency)))
    done = errors = 0
    start = time.perf_counter()
    await asyncio.gather(*(worker(start + seconds) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"rps": done / elapsed, "done": done, "errors": errors, "first_error": first_error}


async def sequential(chat: Chat, calls: int, seconds: float) -> dict[str, Any]:
    """One call at a time; median latency of at most ``calls`` calls within ``seconds``."""
    for _ in range(20):
        await chat()
    latencies = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while len(latencies) < calls and time.perf_counter() < deadline:
        start = time.perf_counter()
        text = await chat()
        latencies.append(time.perf_counter() - start)
        errors += text != EXPECTED
    return {"latency": statistics.median(latencies), "done": len(latencies), "errors": errors}


async def streams(
    stream: Stream, count: int, concurrency: int, expected: str, expected_chunks: int
) -> dict[str, Any]:
    """``count`` streams, ``concurrency`` at a time; chunks counted and text checked.

    A client that does not decode (the bare line loop) yields empty strings: then the
    number of content chunks is checked instead of the text.
    """
    chunks = errors = 0
    first_error = ""

    async def one() -> None:
        nonlocal chunks, errors, first_error
        try:
            pieces = [piece async for piece in stream()]
        except Exception as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
            return
        if pieces and not any(pieces):
            if expected_chunks and len(pieces) != expected_chunks:
                errors += 1
                first_error = first_error or f"{len(pieces)} chunks, expected {expected_chunks}"
                return
        elif expected and "".join(pieces) != expected:
            errors += 1
            first_error = first_error or f"wrong text: {''.join(pieces)[:80]!r}"
            return
        chunks += len(pieces)

    queue = list(range(count))

    async def worker() -> None:
        while queue:
            queue.pop()
            await one()

    for _ in range(3):  # warm-up
        await one()
    chunks = errors = 0
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {
        "chunks_per_s": chunks / elapsed,
        "chunks": chunks,
        "errors": errors,
        "first_error": first_error,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        chat, stream, close = CLIENTS[args.client](args.url)
    except ImportError as exc:
        return {"unavailable": f"not installed ({exc.name or exc})"}
    try:
        if args.mode == "concurrent":
            return await concurrent(chat, args.concurrency, args.seconds)
        if args.mode == "sequential":
            return await sequential(chat, args.calls, args.seconds)
        if args.mode == "both":  # one process start for both measurements
            result = await concurrent(chat, args.concurrency, args.seconds)
            seq = await sequential(chat, args.calls, max(args.seconds, 1.0))
            result.update(latency=seq["latency"], seq_done=seq["done"])
            result["errors"] += seq["errors"]
            return result
        return await streams(
            stream, args.calls, args.concurrency, args.expected, args.expected_chunks
        )
    except NotImplementedError as exc:
        return {"unavailable": str(exc)}
    finally:
        await close()


def version_of(client: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    dist = {
        "openai SDK": "openai",
        "litellm": "litellm",
        "lmux": "lmux",
        "infermesh": "infermesh",
        "lmux_plug Registry": "lmux-plug",
        "lmux_plug Transport": "lmux-plug",
    }.get(client, "aiohttp")
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=list(CLIENTS), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument(
        "--mode", choices=["concurrent", "sequential", "both", "stream"], required=True
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--expected", default="")
    parser.add_argument("--expected-chunks", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from the internet
    result = asyncio.run(run(args))
    if "unavailable" not in result:
        result["version"] = version_of(args.client)
    print(json.dumps(result), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
