from __future__ import annotations

import asyncio
import io
import time
from decimal import Decimal

import pytest

from lmux_plug import ConfigurationError
from lmux_plug import Registry
from lmux_plug.batch import agenerate_batch
from lmux_plug.batch.limits import RateLimitedClient
from lmux_plug.batch.progress import Progress
from lmux_plug.batch.progress import format_duration
from lmux_plug.resilience import DEFAULT_OUTPUT_TOKENS
from lmux_plug.resilience import ManualClock
from lmux_plug.resilience import estimate_tokens
from lmux_plug.resilience.limiter import Limiter
from lmux_plug.resilience.limiter import per_minute_buckets


async def test_request_limit_paces_after_a_one_second_burst():
    clock = ManualClock()
    limiter = Limiter(per_minute_buckets("t", rpm=1200), clock=clock)  # 20/s, burst 20
    start = clock.monotonic()
    for _ in range(30):
        await limiter.release(await limiter.acquire())
    # 20 from the burst, 10 more at 20/s: 0.5 s of (virtual) waiting, no more.
    assert clock.monotonic() - start == pytest.approx(0.5, abs=0.06)


async def test_token_debt_delays_the_next_caller():
    clock = ManualClock()
    limiter = Limiter(per_minute_buckets("t", tpm=600), clock=clock)  # 10 tokens/s, 10 held
    permit = await limiter.acquire(10)
    permit.used_tokens = 15  # the call used more than estimated
    await limiter.release(permit)
    start = clock.monotonic()
    await limiter.release(await limiter.acquire(1))
    assert clock.monotonic() - start == pytest.approx(0.6, abs=0.01)


async def test_a_cancelled_call_gives_its_slot_back():
    clock = ManualClock()
    limiter = Limiter(per_minute_buckets("t", rpm=60), clock=clock)  # burst 1
    started = asyncio.Event()

    async def hang() -> None:
        async with limiter.slot():
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(hang())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not limiter.backend._windows["t:rpm"].inflight


def test_bad_limits():
    with pytest.raises(ConfigurationError):
        per_minute_buckets("t", rpm=0)
    with pytest.raises(ConfigurationError):
        RateLimitedClient(Registry(), tpm=-5)


def test_estimate_tokens():
    assert estimate_tokens("x" * 40, 0) == 11
    assert estimate_tokens("x" * 40) == 11 + DEFAULT_OUTPUT_TOKENS
    assert (
        estimate_tokens(
            [{"role": "user", "content": "x" * 40}, {"role": "system", "content": "y" * 4}], 5
        )
        == (40 + 4 + len("user") + len("system")) // 4 + 1 + 5  # roles cost tokens too
    )


async def test_rate_limited_client_wraps_a_registry():
    registry = Registry()
    client = RateLimitedClient(registry, rpm=600, tpm=10**6)
    start = time.monotonic()
    batch = await agenerate_batch("echo/echo-1", [f"p{i}" for i in range(15)], client=client)
    assert batch.error_count == 0
    assert time.monotonic() - start >= 0.4  # 10 burst, then 10/s
    result = await client.aembed("echo/echo-1", ["a", "b"])
    assert len(result.embeddings) == 2


def test_progress_plain_lines_when_not_a_tty():
    stream = io.StringIO()
    progress = Progress(4, stream=stream, tty=False, interval=0.0)
    progress.update(ok=True, tokens=10, cost=Decimal("0.5"))
    progress.update(ok=False)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("batch: 1/4")
    assert "errors 1" in lines[-1]
    assert "tokens 10" in lines[-1]
    assert "$0.5000" in lines[-1]
    assert "\r" not in stream.getvalue()


def test_progress_bar_on_a_tty():
    stream = io.StringIO()
    progress = Progress(2, stream=stream, tty=True)
    progress.update(ok=True)
    progress.update(ok=True)
    progress.close()
    text = stream.getvalue()
    assert "\r" in text
    assert "[########################] 2/2 100.0%" in text
    assert text.endswith("\n")


def test_progress_disabled_writes_nothing():
    stream = io.StringIO()
    progress = Progress(None, stream=stream, tty=False, interval=0.0, enabled=False)
    progress.update(ok=True)
    progress.close()
    assert stream.getvalue() == ""
    assert progress.line().startswith("1 ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "0:05"), (65, "1:05"), (3725, "1:02:05"), (float("inf"), "?"), (-1, "?")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
