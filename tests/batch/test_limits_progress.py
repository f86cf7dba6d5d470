from __future__ import annotations

import io
import time
from decimal import Decimal

import pytest

from lmux_plug import ConfigurationError, Registry
from lmux_plug.batch import agenerate_batch
from lmux_plug.batch.limits import RateLimitedClient, TokenBucket, estimate_tokens
from lmux_plug.batch.progress import Progress, format_duration


async def test_token_bucket_paces_requests():
    bucket = TokenBucket(1200)  # 20 per second, burst 20
    start = time.monotonic()
    for _ in range(30):
        await bucket.acquire()
    elapsed = time.monotonic() - start
    # 20 from the burst, 10 more at 20/s: at least ~0.5 s.
    assert elapsed >= 0.45


async def test_token_bucket_debt_delays_next_caller():
    bucket = TokenBucket(600, burst=10)  # 10 per second
    await bucket.acquire(10)
    bucket.charge(5)  # the call used more than estimated
    start = time.monotonic()
    await bucket.acquire(1)
    assert time.monotonic() - start >= 0.5


def test_bad_limits():
    with pytest.raises(ConfigurationError):
        TokenBucket(0)


def test_estimate_tokens():
    assert estimate_tokens("x" * 40) == 10
    assert (
        estimate_tokens(
            [{"role": "user", "content": "x" * 40}, {"role": "system", "content": "y" * 4}]
        )
        == 11
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
