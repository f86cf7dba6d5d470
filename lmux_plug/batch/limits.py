"""Client-side request and token limits for batch runs (``--rpm`` / ``--tpm``).

:class:`RateLimitedClient` wraps any :class:`~lmux_plug.client.Client` and waits for
capacity before each call, through the resilience engine's
:class:`~lmux_plug.resilience.limiter.Limiter`: the same buckets and state backend as the
router (pass a shared backend, e.g. a :class:`~lmux_plug.router.state.RedisBackend`, to
split one quota between processes or hosts). Token limits charge an estimate (prompt
characters / 4 plus ``max_tokens``) before the call and settle the difference with the
reported usage after it, so the long-run rate follows real usage. A cancelled or failed
call gives its slot back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from lmux_plug.resilience.limiter import Limiter
from lmux_plug.resilience.limiter import per_minute_buckets
from lmux_plug.resilience.tokens import estimate_tokens

if TYPE_CHECKING:
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug.client import Client
    from lmux_plug.resilience.clock import Clock
    from lmux_plug.router.state import StateBackend

__all__ = ["RateLimitedClient", "estimate_tokens"]

T = TypeVar("T")


class RateLimitedClient:
    """``client`` with ``rpm`` requests and ``tpm`` tokens per minute at most.

    ``backend`` holds the buckets (default: in this process); ``name`` keys them in it
    (processes sharing a backend and a name share the quota); ``clock`` is the engine's.
    """

    def __init__(
        self,
        client: Client,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        backend: StateBackend | None = None,
        name: str = "batch",
        clock: Clock | None = None,
        minute: float = 60.0,
    ) -> None:
        self.client = client
        self.limiter = Limiter(
            per_minute_buckets(name, rpm=rpm, tpm=tpm, minute=minute),
            backend=backend,
            clock=clock,
            name=name,
        )

    def __repr__(self) -> str:
        return f"RateLimitedClient({self.client!r}, {self.limiter!r})"

    async def achat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """Wait for capacity, then chat."""
        estimate = (
            estimate_tokens(messages, params.get("max_tokens")) if self.limiter.counts_tokens else 0
        )
        async with self.limiter.slot(estimate) as permit:
            response: ChatResponse = await self.client.achat(model, messages, **params)
            permit.used_tokens = response.usage.total_tokens
        return response

    async def achat_stream(
        self, model: str, messages: Any, **params: Any
    ) -> AsyncIterator[ChatChunk]:
        """Wait for capacity, then stream (the slot is held until the stream ends)."""
        estimate = (
            estimate_tokens(messages, params.get("max_tokens")) if self.limiter.counts_tokens else 0
        )
        async with self.limiter.slot(estimate) as permit:
            async for chunk in self.client.achat_stream(model, messages, **params):
                if chunk.usage is not None:
                    permit.used_tokens = chunk.usage.total_tokens
                yield chunk

    async def aembed(
        self, model: str, inputs: str | Sequence[str], **params: Any
    ) -> EmbeddingResponse:
        """Wait for capacity, then embed."""
        estimate = estimate_tokens(inputs, 0) if self.limiter.counts_tokens else 0
        async with self.limiter.slot(estimate) as permit:
            response: EmbeddingResponse = await self.client.aembed(model, inputs, **params)
            permit.used_tokens = response.usage.total_tokens
        return response

    def chat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """Sync :meth:`achat`."""
        return self.run_sync(lambda: self.achat(model, messages, **params))

    def chat_stream(self, model: str, messages: Any, **params: Any) -> Iterator[ChatChunk]:
        """Sync :meth:`achat_stream` (collected on the client's loop, then yielded)."""

        async def collect() -> list[ChatChunk]:
            return [chunk async for chunk in self.achat_stream(model, messages, **params)]

        return iter(self.run_sync(collect))

    def embed(self, model: str, inputs: str | Sequence[str], **params: Any) -> EmbeddingResponse:
        """Sync :meth:`aembed`."""
        return self.run_sync(lambda: self.aembed(model, inputs, **params))

    def run_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the wrapped client's managed loops."""
        return self.client.run_sync(make)
