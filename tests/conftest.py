"""Fixtures shared by the test directories: the openai plugin's registry, redis-server, TLS,
a gateway process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from lmux_plug import Registry
from lmux_plug.testing.fake_openai import provider_spec
from tests.helpers import python


@pytest.fixture
async def openai_registry() -> AsyncIterator[Registry]:
    """The real openai plugin, with ``fake/`` registered for the fake OpenAI server.

    Calls pass the server's URL (``base_url=server.url`` or a deployment's ``base_url``).
    """
    plugin = pytest.importorskip("lmux_plug_openai", reason="the openai plugin is not installed")
    async with Registry(plugins=[plugin]) as registry:
        registry.register("fake", provider_spec())
        yield registry


@pytest.fixture
def chat_style_turns() -> list[dict[str, Any]]:
    """Three turns written as plain Chat Completions dicts, for the converters' tests.

    A user turn with a text part and an image part (``https://x.test/a.png``, detail
    ``low``), an assistant turn that only calls ``look`` (id ``call_2``, arguments
    ``{"a": 1}``), and the tool's answer ``a cat``.
    """
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"a": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_2", "content": "a cat"},
    ]


class RedisProcess:
    """A redis-server on a free 127.0.0.1 port that a test can stop and start again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait (at most 10 s) until it accepts connections."""
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {self.port}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None


@contextlib.contextmanager
def _running_redis() -> Iterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("LMUX_REQUIRE_REDIS") == "1":
            pytest.fail("LMUX_REQUIRE_REDIS=1 but no redis-server binary on PATH")
        pytest.skip("redis-server is not installed (set LMUX_REQUIRE_REDIS=1 to make this fail)")
    redis = RedisProcess(binary)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def start_gateway() -> Callable[..., subprocess.Popen[str]]:
    """Start ``python -m lmux_plug.gateway.serve`` with a config file, output piped as text.

    ``start(config, env, port=0)``; the test stops the process (SIGTERM) and reads its output.
    """

    def start(config: Path, env: Mapping[str, str], port: int = 0) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "lmux_plug.gateway.serve", "--port", str(port)]
        command += ["--config", str(config), "--log-level", "warning"]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env)
        )

    return start


@pytest.fixture
def local_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for ``127.0.0.1`` signed by a fresh test CA, and the CA's PEM file.

    Clients trust the server once ``SSL_CERT_FILE`` names the PEM file; until then the
    system store does not know the CA.
    """
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return server_context, bundle


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A redis-server of this test's own (skipped when missing, unless required)."""
    with _running_redis() as redis:
        yield redis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a redis-server shared by the session (tests use their own key prefixes)."""
    with _running_redis() as redis:
        yield redis.url


class BatchCli:
    """The ``lmux-plug batch`` command in a subprocess, and its JSONL output."""

    @staticmethod
    def arguments(*args: str) -> list[str]:
        """The interpreter's arguments: ``-m lmux_plug batch ARGS --no-progress``."""
        return ["-m", "lmux_plug", "batch", *args, "--no-progress"]

    @staticmethod
    def command(*args: str) -> list[str]:
        """``python -m lmux_plug batch ARGS --no-progress``, for a process a test drives."""
        return [sys.executable, *BatchCli.arguments(*args)]

    @staticmethod
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the command to its end (at most 120 s), output captured as text."""
        return python(*BatchCli.arguments(*args), env=env, timeout=120)

    @staticmethod
    def over(
        folder: Path, lines: str, model: str, *options: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        """Run the batch on ``model`` over ``lines`` (written to ``folder/in.jsonl``).

        Returns the finished process and the output's path (``folder/out.jsonl``).
        """
        data = folder / "in.jsonl"
        data.write_text(lines)
        out = folder / "out.jsonl"
        return BatchCli.run(str(data), "-o", str(out), "-m", model, *options, env=env), out

    @staticmethod
    def records(path: Path) -> list[dict[str, object]]:
        """The JSON objects of a JSONL file, one a line."""
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def batch_cli() -> BatchCli:
    """``batch_cli.run(*args)`` and ``batch_cli.records(path)``."""
    return BatchCli()
