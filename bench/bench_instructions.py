"""Instructions per call of Registry.achat and Router.achat, counted by callgrind (load-independent).

    python bench/bench_instructions.py [--calls 1000] [--clients registry,router,mock]

Wall-clock ratios spread widely on a shared machine; instruction counts do not move with
the load. Each client runs in its own process under ``valgrind --tool=callgrind``, which
collects only while ``functools.reduce`` runs: the child does its 300 warm-up calls
first, then the measured calls inside one ``reduce``, so start-up, imports and warm-up
are not counted. A plain run of the child writes the bytecode caches beforehand.

``registry``, ``router`` and ``aiohttp`` (bench_http.py's bare loop: ``json.dumps``,
POST, read, ``json.loads``) call the local fake OpenAI server (its own process, not
counted) at 64 concurrent calls, the router over one deployment; ``mock`` is
``Registry.achat("mock/mock-model", "hi")`` sequentially. Counts ignore cache misses and
waiting, so they bound the client-CPU ratio, not the throughput ratio.

``stream``, ``stream-aiohttp`` and ``stream-lines`` are bench_stream.py's clients
(``Registry.achat_stream``, the bare aiohttp loop with ``json.loads``, the bare line loop
without it) on a server sending 200 content chunks per stream, 8 streams at a time, one
stream per 50 ``--calls``; their counts are per content chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common
import bench_stream

CLIENTS = ("registry", "router", "aiohttp", "mock", "stream", "stream-aiohttp", "stream-lines")
# Streams: bench_stream.py's clients (from _http_worker.py) on a server sending this many
# content chunks per stream, 8 streams at a time; counts are per content chunk.
STREAM_CLIENTS = {
    "stream": "lmux_plug Registry",
    "stream-aiohttp": "bare aiohttp",
    "stream-lines": "bare aiohttp lines",
}
STREAM_CHUNKS = bench_stream.CHUNKS
WARM_UP = 300
KEY = "sk-bench"


async def _gather(call, calls: int, concurrency: int) -> None:
    left = [calls]

    async def loop() -> None:
        while left[0] > 0:
            left[0] -= 1
            await call()

    await asyncio.gather(*(loop() for _ in range(concurrency)))


def child(client: str, url: str, calls: int) -> None:
    """Run ``calls`` calls of ``client``; only the ``reduce`` below is counted."""
    import lmux_plug_openai

    from lmux_plug.registry import Registry
    from lmux_plug.router import Deployment
    from lmux_plug.router import LogicalModel
    from lmux_plug.router import Router
    from lmux_plug.router import RouterConfig
    from lmux_plug.testing import MockProvider

    registry = Registry(builtins=False)
    registry.add_plugin(lmux_plug_openai, name="openai")
    deployment = Deployment("openai/fake-model", base_url=url, api_keys=(KEY,))
    router = Router(
        config=RouterConfig(models={"m": LogicalModel("m", [deployment])}), registry=registry
    )
    mocked = Registry(plugins=[MockProvider()])

    async def via_registry() -> None:
        answer = await registry.achat("openai/fake-model", "hi", base_url=url, api_key=KEY)
        assert answer.content == "echo: hi", answer.content

    async def via_router() -> None:
        answer = await router.achat("m", "hi")
        assert answer.content == "echo: hi", answer.content

    async def via_mock() -> None:
        await mocked.achat("mock/mock-model", "hi")

    session: Any = None
    payload = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}

    async def via_aiohttp() -> None:
        # bench_http.py's bare loop: json.dumps, POST, read, json.loads.
        body = json.dumps(payload).encode()
        async with session.post(f"{url}/chat/completions", data=body, headers=headers) as answer:
            data = json.loads(await answer.read())
        content = data["choices"][0]["message"]["content"]
        assert content == "echo: hi", content

    if client in STREAM_CLIENTS:
        _stream_child(client, url, calls)
        return
    call = {
        "registry": via_registry,
        "router": via_router,
        "aiohttp": via_aiohttp,
        "mock": via_mock,
    }[client]
    concurrency = 1 if client == "mock" else 64
    loop = asyncio.new_event_loop()
    if client == "aiohttp":
        import aiohttp

        async def open_session() -> Any:
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=256),
                skip_auto_headers=("User-Agent",),
            )

        session = loop.run_until_complete(open_session())
    loop.run_until_complete(_gather(call, WARM_UP, concurrency))
    functools.reduce(
        lambda _, __: loop.run_until_complete(_gather(call, calls, concurrency)), range(1), None
    )
    if session is not None:
        loop.run_until_complete(session.close())


def _stream_child(client: str, url: str, calls: int) -> None:
    """``calls`` streams of a bench_stream.py client, 8 at a time; only ``reduce`` counted."""
    import _http_worker

    loop = asyncio.new_event_loop()

    async def make() -> Any:
        return _http_worker.CLIENTS[STREAM_CLIENTS[client]](url)

    _, stream, close = loop.run_until_complete(make())
    chunks = [0]

    async def one() -> None:
        async for _ in stream():
            chunks[0] += 1

    loop.run_until_complete(_gather(one, 30, 8))
    chunks[0] = 0
    functools.reduce(lambda _, __: loop.run_until_complete(_gather(one, calls, 8)), range(1), None)
    expected = calls * STREAM_CHUNKS
    assert chunks[0] == expected, (chunks[0], expected)
    loop.run_until_complete(close())


def count(client: str, url: str, calls: int, keep: Path | None = None) -> int:
    """Instructions the child executes inside ``functools.reduce`` for ``calls`` calls.

    With ``keep``, callgrind's output is also copied to ``keep/callgrind.<client>.out``
    (for ``callgrind_annotate --inclusive=yes``).
    """
    command = [sys.executable, __file__, "--child", client, "--url", url, "--calls"]
    env = _common.worker_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([*command, "0"], env=env, check=True, timeout=600)  # bytecode caches
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=functools_reduce",
                f"--callgrind-out-file={out}",
                *command,
                str(calls),
            ],
            env=env,
            check=False,
            timeout=3600,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:  # say why (a failed answer's assertion, a timeout)
            msg = f"{client} under callgrind exited {run.returncode}: {run.stderr[-2000:]}"
            raise RuntimeError(msg)
        text = out.read_text()
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"callgrind.{client}.out").write_text(text)
        for line in text.splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    msg = f"no totals in the callgrind output for {client}"
    raise RuntimeError(msg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.calls)
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing to count")
        return
    clients = [c for c in args.clients.split(",") if c]
    per_call: dict[str, float] = {}
    with _common.fake_server() as url:
        for c in clients:
            if c not in STREAM_CLIENTS:
                per_call[c] = count(c, url, args.calls, args.keep) / args.calls
    streams = max(args.calls // 50, 1)  # 200 chunks each
    with _common.fake_server(chunks=STREAM_CHUNKS, reply=bench_stream.reply_text()) as url:
        for c in clients:
            if c in STREAM_CLIENTS:
                per_call[c] = count(c, url, streams, args.keep) / (streams * STREAM_CHUNKS)
    rows = [[c, f"{n / 1000:,.1f}k"] for c, n in per_call.items()]  # streams: per chunk
    print(_common.machine_note())
    print()
    print(
        _common.table(
            f"Instructions per call (callgrind, {args.calls} calls)",
            ["client", "instructions"],
            rows,
        )
    )
    if "registry" in per_call and "router" in per_call:
        ratio = per_call["registry"] / per_call["router"]
        print(f"\nregistry / router instructions per call: {ratio:.3f}")
    if "registry" in per_call and "aiohttp" in per_call:
        ratio = per_call["aiohttp"] / per_call["registry"]
        print(f"bare aiohttp / registry instructions per call: {ratio:.3f}")
    for bare in ("stream-lines", "stream-aiohttp"):
        if "stream" in per_call and bare in per_call:
            ratio = per_call[bare] / per_call["stream"]
            print(f"{bare} / registry stream instructions per chunk: {ratio:.3f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
