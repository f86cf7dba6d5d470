"""Client-side request and token limits for batch runs (``--rpm`` / ``--tpm``).

A small token bucket, kept apart from the engine so the router's limiter can replace it:
:class:`RateLimitedClient` wraps any client with ``achat`` / ``aembed`` and waits for
capacity before each call. Token limits charge an estimate (prompt characters / 4) before
the call and settle the difference with the reported usage after it, so the long-run rate
follows real usage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lmux_plug.errors import ConfigurationError

if TYPE_CHECKING:
    from lmux_plug._types import ChatResponse, EmbeddingResponse

__all__ = ["RateLimitedClient", "TokenBucket", "estimate_tokens"]


class TokenBucket:
    """``per_minute`` units per minute; bursts up to one second's worth (at least 1)."""

    def __init__(self, per_minute: float, *, burst: float | None = None) -> None:
        if per_minute <= 0:
            msg = f"a rate limit must be positive, got {per_minute}"
            raise ConfigurationError(msg)
        self.rate = per_minute / 60.0
        self.capacity = burst if burst is not None else max(self.rate, 1.0)
        self.tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` units are available and take them (first come, first served)."""
        need = min(amount, self.capacity)  # a request larger than the bucket still passes
        async with self._lock:
            self._refill()
            while self.tokens < need:
                await asyncio.sleep((need - self.tokens) / self.rate)
                self._refill()
            self.tokens -= amount

    def charge(self, amount: float) -> None:
        """Take (or give back, if negative) units after the fact; may go below zero."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens - amount)


def estimate_tokens(messages: Any) -> int:
    """Estimate a prompt's tokens: characters / 4 over every text in ``messages``."""
    if isinstance(messages, str):
        return max(1, len(messages) // 4)
    total = 0
    for message in messages:
        content = (
            message.get("content")
            if isinstance(message, Mapping)
            else getattr(message, "content", None)
        )
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, (list, tuple)):
            total += sum(len(str(getattr(p, "text", p))) for p in content)
    return max(1, total // 4)


class RateLimitedClient:
    """``client`` with ``rpm`` requests and ``tpm`` tokens per minute at most."""

    def __init__(self, client: Any, *, rpm: float | None = None, tpm: float | None = None) -> None:
        self.client = client
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None

    async def achat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """Wait for capacity, then chat."""
        if self.requests is not None:
            await self.requests.acquire()
        estimate = 0
        if self.tokens is not None:
            estimate = estimate_tokens(messages)
            await self.tokens.acquire(estimate)
        response: ChatResponse = await self.client.achat(model, messages, **params)
        if self.tokens is not None:
            self.tokens.charge(response.usage.total_tokens - estimate)
        return response

    async def aembed(self, model: str, inputs: Any, **params: Any) -> EmbeddingResponse:
        """Wait for capacity, then embed."""
        if self.requests is not None:
            await self.requests.acquire()
        estimate = 0
        if self.tokens is not None:
            estimate = estimate_tokens(
                inputs if isinstance(inputs, str) else [{"content": t} for t in inputs]
            )
            await self.tokens.acquire(estimate)
        response: EmbeddingResponse = await self.client.aembed(model, inputs, **params)
        if self.tokens is not None:
            self.tokens.charge(response.usage.total_tokens - estimate)
        return response
