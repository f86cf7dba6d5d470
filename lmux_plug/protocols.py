"""Runtime-checkable protocols with lmux's names, for code written against lmux.

A :class:`~lmux_plug.Registry` satisfies :class:`CompletionProvider`,
:class:`EmbeddingProvider`, :class:`ResponsesProvider` and :class:`AsyncCloseable`;
:class:`~lmux_plug.testing.MockProvider` satisfies all six. An object written as an lmux
provider (implementing some of them) can be registered with ``Registry.register(prefix,
obj)``: it is wrapped as a plugin and served like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

if TYPE_CHECKING:
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._pricing import ModelPricing
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingResponse

__all__ = [
    "AsyncCloseable",
    "AuthProvider",
    "CompletionProvider",
    "EmbeddingProvider",
    "PricingProvider",
    "ResponsesProvider",
]

_AuthT_co = TypeVar("_AuthT_co", covariant=True)


@runtime_checkable
class AuthProvider(Protocol[_AuthT_co]):
    """Provides credentials, sync and async."""

    def get_credentials(self) -> _AuthT_co:
        """The credentials for the next call."""
        ...

    async def aget_credentials(self) -> Any:
        """The credentials for the next call, fetched without blocking the loop."""
        ...


@runtime_checkable
class CompletionProvider(Protocol):
    """Chat completions, sync and async, whole or streamed."""

    def chat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """Answer a chat."""
        ...

    async def achat(self, model: str, messages: Any, **params: Any) -> ChatResponse:
        """Answer a chat without blocking the loop."""
        ...

    def chat_stream(self, model: str, messages: Any, **params: Any) -> Iterator[ChatChunk]:
        """Stream a chat answer."""
        ...

    def achat_stream(self, model: str, messages: Any, **params: Any) -> AsyncIterator[ChatChunk]:
        """Stream a chat answer asynchronously."""
        ...


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Embeddings, sync and async."""

    def embed(self, model: str, input: str | Sequence[str], **params: Any) -> EmbeddingResponse:  # noqa: A002 - lmux's name
        """Embed one text or several."""
        ...

    async def aembed(
        self,
        model: str,
        input: str | Sequence[str],  # noqa: A002
        **params: Any,
    ) -> EmbeddingResponse:
        """Embed without blocking the loop."""
        ...


@runtime_checkable
class ResponsesProvider(Protocol):
    """The Responses API, sync and async."""

    def create_response(self, model: str, input: Any, **params: Any) -> ResponseResponse:  # noqa: A002
        """Create a response."""
        ...

    async def acreate_response(self, model: str, input: Any, **params: Any) -> ResponseResponse:  # noqa: A002
        """Create a response without blocking the loop."""
        ...


@runtime_checkable
class PricingProvider(Protocol):
    """Accepts prices for models at run time."""

    def register_pricing(self, model: str, pricing: ModelPricing) -> None:
        """Price ``model`` with ``pricing`` from now on."""
        ...


@runtime_checkable
class AsyncCloseable(Protocol):
    """Releases its resources when awaited."""

    async def aclose(self) -> None:
        """Release connections and other resources."""
        ...
