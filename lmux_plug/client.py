"""The :class:`Client` protocol: what the batch engine, the drop-in client and the gateway call.

:class:`~lmux_plug.Registry` (one call to one provider) and
:class:`~lmux_plug.router.Router` (logical models, retries, fallbacks, limits) both
implement it, so anything that takes a ``Client`` works with either, typed, without probing
signatures. :class:`RoutingClient` adds the per-call resilience options a router takes
(``fallback_models``, ``retries``, ``deadline``, ``attempt_timeout``). New endpoints
(responses, completions, transcription) join the protocol as they are added to both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug.convert import MessagesLike
    from lmux_plug.params import ChatCallParams
    from lmux_plug.params import ChatParams
    from lmux_plug.params import EmbedCallParams
    from lmux_plug.params import EmbedParams
    from lmux_plug.router.plan import RoutedChatParams
    from lmux_plug.router.plan import RoutedEmbedParams
    from lmux_plug.router.plan import RoutedStreamParams

__all__ = ["Client", "RoutingClient"]

T = TypeVar("T")


@runtime_checkable
class Client(Protocol):
    """Chat, stream and embed by ``"provider/model"`` (or a router's logical name)."""

    async def achat(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatParams]
    ) -> ChatResponse:
        """One chat call; ``params`` as for :meth:`lmux_plug.Registry.achat`."""
        ...

    def achat_stream(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatParams]
    ) -> AsyncIterator[ChatChunk]:
        """A streamed chat call (errors before the first chunk raise when iterated)."""
        ...

    async def aembed(
        self, model: str, inputs: str | Sequence[str], **params: Unpack[EmbedParams]
    ) -> EmbeddingResponse:
        """Embed one text or a list of texts."""
        ...

    def chat(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> ChatResponse:
        """Sync :meth:`achat`."""
        ...

    def chat_stream(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> Iterator[ChatChunk]:
        """Sync :meth:`achat_stream`."""
        ...

    def embed(
        self, model: str, inputs: str | Sequence[str], **params: Unpack[EmbedCallParams]
    ) -> EmbeddingResponse:
        """Sync :meth:`aembed`."""
        ...

    def run_sync(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` (a coroutine factory) on the client's managed event loops."""
        ...


@runtime_checkable
class RoutingClient(Client, Protocol):
    """A :class:`Client` that owns retries and fallbacks (a router): per-call options.

    The routing options are those of :mod:`lmux_plug.router.plan` (``fallback_models``,
    ``retries``, ``deadline``, ``attempt_timeout`` ...), given with the call's parameters.
    """

    async def achat(
        self, model: str, messages: MessagesLike, **params: Unpack[RoutedChatParams]
    ) -> ChatResponse:
        """One chat call, with the router's retries and fallbacks."""
        ...

    def achat_stream(
        self, model: str, messages: MessagesLike, **params: Unpack[RoutedStreamParams]
    ) -> AsyncIterator[ChatChunk]:
        """A streamed chat call; retries and fallbacks happen before the first chunk."""
        ...

    async def aembed(
        self, model: str, inputs: str | Sequence[str], **params: Unpack[RoutedEmbedParams]
    ) -> EmbeddingResponse:
        """Embeddings with the router's retries and fallbacks."""
        ...
