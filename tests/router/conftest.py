from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lmux_plug.registry import Registry

HERE = Path(__file__).resolve().parent


@pytest.fixture
def registry(openai_registry: Registry) -> Registry:
    """The router tests' registry: the openai plugin, ``fake/`` for the fake server."""
    return openai_registry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free 127.0.0.1 port (skip if missing, unless required)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("LMUX_REQUIRE_REDIS") == "1":
            pytest.fail("LMUX_REQUIRE_REDIS=1 but no redis-server binary on PATH")
        pytest.skip("redis-server is not installed (set LMUX_REQUIRE_REDIS=1 to make this fail)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def redis_backend(redis_url: str) -> AsyncIterator[object]:
    from lmux_plug.router.state import RedisBackend

    backend = RedisBackend(redis_url, prefix=f"t{time.monotonic_ns()}")
    try:
        yield backend
    finally:
        await backend.flush()
        await backend.aclose()


async def settle() -> None:
    await asyncio.sleep(0)
