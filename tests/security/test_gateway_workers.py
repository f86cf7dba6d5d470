"""``lmux-plug serve --workers 2`` with a Redis state: one budget and one rpm limit per key.

Two real worker processes behind one port, a real ``redis-server``, a real upstream (the
fake OpenAI server) and the official SDK: limits and budgets hold across the workers
(issue 12, item 8), and ``/metrics`` sums the workers' counters.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator

import openai
import pytest

from lmux_plug.testing.fake_openai import serve_in_process

BUDGET_KEY = "vk-workers-budget-0001"
LIMITED_KEY = "vk-workers-limited-0002"
PROVIDER_KEY = "test-workers-provider-key-123456"
HI = [{"role": "user", "content": "hi"}]

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start on port {port}")
            time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=5)


@pytest.fixture
def upstream() -> Iterator[str]:
    # Answers after 0.3 s, so concurrent calls really overlap; 40 characters = 10 tokens.
    with serve_in_process(latency=0.3, reply="x" * 40) as url:
        yield url


@pytest.fixture
def workers(tmp_path, redis_process, upstream, start_gateway):
    config = tmp_path / "lmux.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [gateway]
            state = "{redis_process.url}"
            workers = 2
            # fake-model has no price: 1,250 USD per million output tokens, so a call
            # of 10 output tokens costs 0.0125 USD, a quarter of the 0.05 budget.
            unpriced_price = {{ input = "0", output = "1250" }}

            [gateway.providers.openai]
            api_key_env = "WORKERS_TEST_PROVIDER_KEY"
            base_url = "{upstream}"

            [[gateway.keys]]
            name = "budget"
            key_env = "WORKERS_TEST_BUDGET_KEY"
            budget_usd = "0.05"

            [[gateway.keys]]
            name = "limited"
            key_env = "WORKERS_TEST_LIMITED_KEY"
            rpm = 10
            """
        )
    )
    env = {
        **os.environ,
        "WORKERS_TEST_PROVIDER_KEY": PROVIDER_KEY,
        "WORKERS_TEST_BUDGET_KEY": BUDGET_KEY,
        "WORKERS_TEST_LIMITED_KEY": LIMITED_KEY,
        "LMUX_PLUG_DISABLE": "",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = _free_port()
    process = start_gateway(config, env, port)
    try:
        line = process.stdout.readline()
        assert "2 workers" in line, (line, process.stderr.read() if process.poll() else "")
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # both workers import and build their app
            try:
                with urllib.request.urlopen(root + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        time.sleep(1.0)  # the second worker too
        yield root
    finally:
        _stop(process)


async def _concurrent_budget_calls(url: str, count: int) -> list[str]:
    async def one() -> str:
        # A client per call: a connection per call, spread over both workers by the kernel.
        async with openai.AsyncOpenAI(base_url=url, api_key=BUDGET_KEY, max_retries=0) as client:
            try:
                await client.chat.completions.create(
                    model="openai/fake-model", messages=HI, max_tokens=10
                )
            except openai.RateLimitError as exc:
                return exc.body["code"]
        return "answered"

    return await asyncio.gather(*(one() for _ in range(count)))


def test_two_workers_share_budgets_limits_and_metrics(workers):
    url = workers + "/v1"
    outcomes = asyncio.run(_concurrent_budget_calls(url, 60))
    assert set(outcomes) <= {"answered", "budget_exceeded"}
    # One budget for both processes: four calls' worth, not four per worker.
    assert 1 <= outcomes.count("answered") <= 4, outcomes

    limited = []
    for _ in range(30):
        with openai.OpenAI(base_url=url, api_key=LIMITED_KEY, max_retries=0) as client:
            try:
                client.chat.completions.create(model="openai/fake-model", messages=HI)
                limited.append(200)
            except openai.RateLimitError:
                limited.append(429)
    # rpm = 10 across both workers (two separate limits would answer up to 20).
    assert limited.count(200) == 10, limited

    metrics = urllib.request.Request(
        workers + "/metrics", headers={"authorization": f"Bearer {LIMITED_KEY}"}
    )
    with urllib.request.urlopen(metrics, timeout=10) as response:
        text = response.read().decode()
    counted = sum(
        float(value)
        for value in re.findall(
            r'lmux_gateway_requests_total\{route="/v1/chat/completions",status="\d+"\} (\S+)',
            text,
        )
    )
    # Every worker's requests, summed by prometheus-client's multiprocess collector.
    assert counted == 90
    assert PROVIDER_KEY not in text
