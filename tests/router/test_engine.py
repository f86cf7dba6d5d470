"""The resilience engine: Retry-After parsing, the pure decision, backoff, clock, test mode."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lmux_plug import Registry
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ContentFilterError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.errors import TimeoutError
from lmux_plug.errors import UnsupportedFeatureError
from lmux_plug.resilience import MAX_RETRY_AFTER
from lmux_plug.resilience import ManualClock
from lmux_plug.resilience import RetryPolicy
from lmux_plug.resilience import backoff
from lmux_plug.resilience import call_with_retries
from lmux_plug.resilience import decide
from lmux_plug.resilience import engine_test_mode
from lmux_plug.resilience import is_testing
from lmux_plug.resilience import parse_duration
from lmux_plug.resilience import retry_after_from
from lmux_plug.resilience import retry_wait
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.timeouts import call_at
from lmux_plug.resilience.timeouts import cancel
from lmux_plug.resilience.timeouts import within
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from tests.helpers import one_deployment

# -- Retry-After -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "Infinity"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after-ms": "inf", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "-10"}, None),
        ({"retry-after": "1e400"}, None),
        ({"retry-after": "999999999"}, MAX_RETRY_AFTER),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "30s"}, 30.0),
        ({}, None),
    ],
)
def test_retry_after_is_finite_and_clamped(headers, expected):
    assert retry_after_from(headers) == expected


def test_retry_after_http_date_and_reset_headers():
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 20, usegmt=True)
    assert retry_after_from({"retry-after": date}, now=now) == pytest.approx(20, abs=1)
    past = email.utils.formatdate(now - 20, usegmt=True)
    assert retry_after_from({"retry-after": past}, now=now) == 0.0
    exhausted = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m30s"}
    assert retry_after_from(exhausted) == 90.0
    google = {"error": {"details": [{"retryDelay": "12s"}]}}
    assert retry_after_from({}, google) == 12.0
    assert retry_after_from({}, {"error": {"details": [{"retryDelay": "infs"}]}}) is None


@pytest.mark.parametrize("text", ["inf", "nan", "-1", "1e999", "", "5x", "m"])
def test_parse_duration_refuses_non_finite_and_garbage(text):
    assert parse_duration(text) is None


def test_parse_duration_keeps_long_resets():
    assert parse_duration("2h0m5.5s") == 7205.5  # a daily quota: not clamped here


# -- backoff ---------------------------------------------------------------------------


def test_backoff_is_full_jitter_within_the_cap():
    rng = random.Random(3)
    values = [backoff(3, 0.1, 0.5, rng) for _ in range(500)]
    assert min(values) >= 0
    assert max(values) <= 0.5
    assert max(values) > 0.4  # the whole range is used
    assert len({round(v, 6) for v in values}) > 400  # jittered, not constant


def test_retry_wait_honours_a_clamped_retry_after():
    error = RateLimitError("slow down", retry_after=300.0)
    assert retry_wait(error, 0, base=0.1, cap=1, retry_after_cap=7) == 7
    bad = RateLimitError("slow down", retry_after=float("inf"))
    assert 0 <= retry_wait(bad, 0, base=0.1, cap=1, retry_after_cap=7) <= 0.1


# -- the pure decision -----------------------------------------------------------------

POLICY = RetryPolicy(retries=2, backoff_base=0.1, backoff_max=1.0, retry_after_cap=10.0)


@pytest.mark.parametrize(
    ("failure", "kwargs", "action"),
    [
        (ProviderError("500"), {"retry": 0}, "retry"),
        (ProviderError("500"), {"retry": 1}, "retry"),
        (ProviderError("500"), {"retry": 2}, "next"),
        (TimeoutError("slow"), {"retry": 0}, "retry"),
        (RateLimitError("429", retry_after=1.0), {"retry": 0}, "retry"),
        (InvalidRequestError("bad"), {"retry": 0}, "stop"),
        (NotFoundError("no model"), {"retry": 0}, "next"),
        (AuthenticationError("401"), {"retry": 0}, "next"),
        (AuthenticationError("401"), {"retry": 0, "other_keys": True}, "retry"),
        (ContextLengthExceededError("long"), {"retry": 0}, "stop"),
        (
            ContextLengthExceededError("long"),
            {"retry": 0, "context_fallbacks": ["big"]},
            "fallback",
        ),
        (ContentFilterError("filtered"), {"retry": 0}, "stop"),
        (ContentFilterError("f"), {"retry": 0, "content_filter_fallbacks": ["other"]}, "fallback"),
        (ProviderError("500"), {"retry": 0, "remaining": 0.0}, "next"),
        (UnsupportedFeatureError("no tools"), {"retry": 0}, "stop"),
    ],
)
def test_decide_table(failure, kwargs, action):
    decision = decide(failure, policy=POLICY, rng=random.Random(1), **kwargs)
    assert decision.action == action, decision
    assert decision.reason


def test_decide_delays():
    rng = random.Random(5)
    # With Retry-After the router cools the deployment down (admission waits), no sleep.
    assert decide(RateLimitError("x", retry_after=3.0), retry=0, policy=POLICY).delay == 0.0
    waiting = RetryPolicy(retries=2, retry_after_cap=10.0, wait_retry_after=True)
    assert decide(RateLimitError("x", retry_after=3.0), retry=0, policy=waiting).delay == 3.0
    assert decide(RateLimitError("x", retry_after=99.0), retry=0, policy=waiting).delay == 10.0
    nan = RateLimitError("x", retry_after=float("nan"))
    assert decide(nan, retry=0, policy=waiting, rng=rng).delay <= 0.05  # backoff instead
    backoff_delay = decide(ProviderError("x"), retry=1, policy=POLICY, rng=rng).delay
    assert 0 <= backoff_delay <= 0.2
    assert decide(
        ContextLengthExceededError("x"), retry=0, policy=POLICY, context_fallbacks=("a", "b")
    ).insert == ("a", "b")


def test_unsupported_falls_through_when_the_policy_says_so():
    policy = RetryPolicy(fall_through=(UnsupportedFeatureError,))
    assert decide(UnsupportedFeatureError("x"), retry=0, policy=policy).action == "next"


# -- clock and test mode -----------------------------------------------------------------


async def test_manual_clock_moves_only_when_told():
    clock = ManualClock(start=10.0)
    assert clock.monotonic() == 10.0
    await clock.sleep(2.5)
    clock.advance(1.0)
    assert clock.monotonic() == 13.5
    assert clock.slept == [2.5]
    await clock.sleep(1e-15)  # smaller than the float step at 13.5: still moves
    assert clock.monotonic() > 13.5


async def test_test_mode_makes_sleeps_instant_and_caps_attempts():
    calls: list[str] = []

    async def flaky(model: str) -> str:
        calls.append(model)
        raise ProviderError("down", retry_after=120.0)

    policy = RetryPolicy(retries=5, wait_retry_after=True, retry_after_cap=300.0)
    before = SYSTEM_CLOCK.monotonic()
    with engine_test_mode(attempts=2):
        assert is_testing()
        with pytest.raises(ProviderError):
            await call_with_retries(["a/x", "b/y"], flaky, policy=policy)
    assert not is_testing()
    assert calls == ["a/x", "a/x", "b/y", "b/y"]  # 2 attempts per model, not 6
    # The two 120 s waits happened on the virtual clock, not in real time.
    assert SYSTEM_CLOCK.monotonic() - before >= 240


async def test_call_with_retries_falls_through_and_logs(caplog):
    async def answer(model: str) -> str:
        if model == "a/x":
            raise NotFoundError("gone")
        return model

    caplog.set_level(logging.INFO, logger="lmux_plug.retry")
    result = await call_with_retries(["a/x", "b/y"], answer, policy=POLICY)
    assert result == ("b/y", "b/y")
    assert "falling back from a/x to b/y" in caplog.text


@contextlib.asynccontextmanager
async def _failing_router(
    registry: Registry, clock: ManualClock, **policy: Any
) -> AsyncIterator[tuple[FakeOpenAIServer, Router]]:
    """A router with ``policy`` on ``clock`` over one deployment ``d1`` that answers 500."""
    async with FakeOpenAIServer(FaultPlan(faults={"500": 1.0})) as server:
        config = one_deployment(server.url, "sk-test-1", name="d1", **policy)
        yield server, Router(config=config, registry=registry, clock=clock)


async def test_router_breaker_cooldown_on_an_injected_clock(openai_registry):
    """The breaker's 30 s cooldown passes on a manual clock: no wall-clock waiting."""
    clock = ManualClock()
    policy = {"retries": 0, "breaker_threshold": 2, "breaker_cooldown": 30.0}
    async with _failing_router(openai_registry, clock, **policy) as (server, router):
        for _ in range(2):
            with pytest.raises(ProviderError):
                await router.achat("m", "hi")
        assert await router.breaker_state("d1") == "open"
        assert await router.breaker.retry_in("d1") == pytest.approx(30.0)
        clock.advance(29.0)
        assert await router.breaker_state("d1") == "open"
        clock.advance(1.5)
        assert await router.breaker_state("d1") == "half-open"
        server.plan = FaultPlan()  # healthy again: the probe closes the breaker
        assert (await router.achat("m", "hi")).content == "echo: hi"
        assert await router.breaker_state("d1") == "closed"


async def test_router_backoff_sleeps_on_the_injected_clock(openai_registry):
    clock = ManualClock()
    policy = {"retries": 3, "backoff_base": 5.0, "backoff_max": 60.0, "breaker_threshold": 100}
    async with _failing_router(openai_registry, clock, **policy) as (server, router):
        with pytest.raises(ProviderError) as info:
            await router.achat("m", "hi")
        assert len(info.value.attempts) == 4
        assert len(clock.slept) == 3  # one backoff before each retry, on the manual clock
        assert all(0 <= s <= 60.0 for s in clock.slept)
        assert server.stats["requests"] == 4


# -- per-attempt timeouts ----------------------------------------------------------------


async def test_within_cuts_late_awaits_and_lets_the_rest_finish():
    async def one(i: int) -> str:
        try:
            await within(asyncio.sleep(0.15), 0.03 if i % 2 else 2.0)
        except TimeoutError as exc:
            assert exc.retryable
            assert "attempt timed out after 0.030s" in str(exc)
            return "cut"
        return "ok"

    outcomes = await asyncio.gather(*(one(i) for i in range(200)))
    assert outcomes.count("cut") == 100
    assert outcomes.count("ok") == 100


async def test_within_passes_an_outside_cancellation_through():
    task = asyncio.ensure_future(within(asyncio.sleep(5), 10.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await within(asyncio.sleep(0.01, result=7), 1.0) == 7
    # The cut comes on time even when a later timeout was registered first.
    slow = asyncio.ensure_future(within(asyncio.sleep(5), 3.0))
    with pytest.raises(TimeoutError, match=r"after 0\.050s"):
        await within(asyncio.sleep(5), 0.05)
    assert not slow.done()  # the 3 s cut, registered first, has not come yet
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_wheel_callbacks_run_once_due_and_not_after_cancel():
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    now = loop.time()
    late = call_at(loop, now + 5.0, ran.append, "late")  # an earlier slot comes after it
    soon = call_at(loop, now + 0.02, ran.append, "soon")
    dropped = call_at(loop, now + 0.02, ran.append, "dropped")
    cancel(dropped)
    assert call_at(loop, float("inf"), ran.append, "never") is None  # no deadline: no timer
    cancel(None)
    await asyncio.sleep(0.08)
    assert ran == ["soon"]  # due (up to one 10 ms slot late), the cancelled one not run
    assert soon is not None
    cancel(soon)  # after it ran: nothing to do
    cancel(late)
    await asyncio.sleep(0.02)
    assert ran == ["soon"]
