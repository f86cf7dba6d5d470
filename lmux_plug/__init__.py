"""lmux-plug: one API for every LLM provider, each provider a pluggy plugin.

>>> import lmux_plug
>>> lmux_plug.chat("echo/echo-1", "hello").content
'hello'

The module-level functions use :func:`default_registry`, built on first use from the
installed plugins (entry-point group ``lmux_plug``). Applications that want isolation build
their own :class:`Registry`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug._api_functions import acomplete
from lmux_plug._api_functions import acomplete_stream
from lmux_plug._api_functions import acreate_response
from lmux_plug._api_functions import acreate_response_stream
from lmux_plug._api_functions import atranscribe
from lmux_plug._api_functions import atranscribe_stream
from lmux_plug._api_functions import complete
from lmux_plug._api_functions import complete_stream
from lmux_plug._api_functions import create_response
from lmux_plug._api_functions import create_response_stream
from lmux_plug._api_functions import transcribe
from lmux_plug._api_functions import transcribe_stream
from lmux_plug._declarations import CHAT_CAPABILITIES
from lmux_plug._declarations import ApiKeyAuth
from lmux_plug._declarations import Capability
from lmux_plug._declarations import Credentials
from lmux_plug._declarations import ModelSpec
from lmux_plug._declarations import NoAuth
from lmux_plug._declarations import ProviderSpec
from lmux_plug._declarations import Secret
from lmux_plug._plugins import BrokenPlugin
from lmux_plug._plugins import LoadedPlugin
from lmux_plug._plugins import PluginLoadWarning
from lmux_plug._pricing import Cost
from lmux_plug._pricing import ModelPricing
from lmux_plug._pricing import PricingTier
from lmux_plug._pricing import calculate_cost
from lmux_plug._pricing import duration_cost
from lmux_plug._pricing import per_million_tokens
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import ContentFilterError
from lmux_plug.errors import ContextLengthExceededError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import PluginError
from lmux_plug.errors import ProviderError
from lmux_plug.errors import RateLimitError
from lmux_plug.errors import ResponseTooLargeError
from lmux_plug.errors import TimeoutError
from lmux_plug.errors import UnsupportedFeatureError
from lmux_plug.hookspecs import hookimpl
from lmux_plug.params import InvalidParameterError
from lmux_plug.registry import Registry

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lmux_plug._api_types import CompletionChunk
    from lmux_plug._api_types import CompletionRequest
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import FunctionCallDelta
    from lmux_plug._api_types import FunctionCallResult
    from lmux_plug._api_types import ResponseChunk
    from lmux_plug._api_types import ResponseRequest
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._api_types import ToolChoiceFunction
    from lmux_plug._api_types import TranscriptionChunk
    from lmux_plug._api_types import TranscriptionRequest
    from lmux_plug._api_types import TranscriptionResponse
    from lmux_plug._api_types import TranscriptionSegment
    from lmux_plug._context import ProviderContext
    from lmux_plug._param_dicts import ChatCallParams
    from lmux_plug._param_dicts import ChatParams
    from lmux_plug._param_dicts import EmbedCallParams
    from lmux_plug._param_dicts import EmbedParams
    from lmux_plug._types import AssistantMessage
    from lmux_plug._types import AudioContent
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatRequest
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import DeveloperMessage
    from lmux_plug._types import EmbeddingRequest
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug._types import FileContent
    from lmux_plug._types import FinishReason
    from lmux_plug._types import FunctionDefinition
    from lmux_plug._types import ImageContent
    from lmux_plug._types import JsonObjectResponseFormat
    from lmux_plug._types import JsonSchemaResponseFormat
    from lmux_plug._types import Message
    from lmux_plug._types import SystemMessage
    from lmux_plug._types import TextContent
    from lmux_plug._types import TextResponseFormat
    from lmux_plug._types import ThinkingBlock
    from lmux_plug._types import Tool
    from lmux_plug._types import ToolCall
    from lmux_plug._types import ToolCallDelta
    from lmux_plug._types import ToolChoice
    from lmux_plug._types import ToolMessage
    from lmux_plug._types import Usage
    from lmux_plug._types import UserMessage
    from lmux_plug.client import Client
    from lmux_plug.client import RoutingClient
    from lmux_plug.protocols import AsyncCloseable
    from lmux_plug.protocols import AuthProvider
    from lmux_plug.protocols import CompletionProvider
    from lmux_plug.protocols import EmbeddingProvider
    from lmux_plug.protocols import PricingProvider
    from lmux_plug.protocols import ResponsesProvider

# Loaded on first use, so ``import lmux_plug`` stays fast for callers that only chat: the
# call types (messages, requests, responses) are created when a call or a caller first
# needs them; plugin discovery only needs the declarations (lmux_plug._declarations). A
# name of ``__all__`` not bound here comes from the first of these modules whose own
# ``__all__`` lists it (the keyword dicts, the provider context, protocols and the client
# protocols first: they load nothing else).
_LAZY_MODULES = (
    "lmux_plug._param_dicts",
    "lmux_plug._context",
    "lmux_plug.protocols",
    "lmux_plug.client",
    "lmux_plug._types",
    "lmux_plug._api_types",
)

# Public submodules `import lmux_plug` loaded before the call path became lazy: code that
# reaches them as attributes (``lmux_plug.http.Transport``) without importing them still works.
_SUBMODULES = frozenset({"convert", "http", "resilience"})

__all__ = [
    "CHAT_CAPABILITIES",
    "ApiKeyAuth",
    "AssistantMessage",
    "AsyncCloseable",
    "AudioContent",
    "AuthProvider",
    "AuthenticationError",
    "BrokenPlugin",
    "Capability",
    "ChatCallParams",
    "ChatChunk",
    "ChatParams",
    "ChatRequest",
    "ChatResponse",
    "Client",
    "CompletionChunk",
    "CompletionProvider",
    "CompletionRequest",
    "CompletionResponse",
    "ConfigurationError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "Cost",
    "Credentials",
    "DeveloperMessage",
    "EmbedCallParams",
    "EmbedParams",
    "EmbeddingProvider",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "FileContent",
    "FinishReason",
    "FunctionCallDelta",
    "FunctionCallResult",
    "FunctionDefinition",
    "ImageContent",
    "InvalidParameterError",
    "InvalidRequestError",
    "JsonObjectResponseFormat",
    "JsonSchemaResponseFormat",
    "LmuxError",
    "LoadedPlugin",
    "Message",
    "ModelPricing",
    "ModelSpec",
    "NoAuth",
    "NotFoundError",
    "PluginError",
    "PluginLoadWarning",
    "PricingProvider",
    "PricingTier",
    "ProviderContext",
    "ProviderError",
    "ProviderSpec",
    "RateLimitError",
    "Registry",
    "ResponseChunk",
    "ResponseRequest",
    "ResponseResponse",
    "ResponseTooLargeError",
    "ResponsesProvider",
    "RoutingClient",
    "Secret",
    "SystemMessage",
    "TextContent",
    "TextResponseFormat",
    "ThinkingBlock",
    "TimeoutError",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolMessage",
    "TranscriptionChunk",
    "TranscriptionRequest",
    "TranscriptionResponse",
    "TranscriptionSegment",
    "UnsupportedFeatureError",
    "Usage",
    "UserMessage",
    "__version__",
    "achat",
    "achat_stream",
    "aclose",
    "acomplete",
    "acomplete_stream",
    "acreate_response",
    "acreate_response_stream",
    "aembed",
    "atranscribe",
    "atranscribe_stream",
    "calculate_cost",
    "chat",
    "chat_stream",
    "close",
    "complete",
    "complete_stream",
    "create_response",
    "create_response_stream",
    "default_registry",
    "duration_cost",
    "embed",
    "hookimpl",
    "per_million_tokens",
    "transcribe",
    "transcribe_stream",
]

_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry behind the module-level functions (discovered lazily)."""
    global _default  # noqa: PLW0603 - the one deliberate global, for the module-level API
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Registry.from_entry_points()
    return _default


def chat(
    model: str,
    messages: Iterable[Message | Mapping[str, Any]] | str,
    **params: Unpack[ChatCallParams],
) -> ChatResponse:
    """Sync chat through the default registry (see :meth:`Registry.achat`)."""
    return default_registry().chat(model, messages, **params)


async def achat(
    model: str,
    messages: Iterable[Message | Mapping[str, Any]] | str,
    **params: Unpack[ChatCallParams],
) -> ChatResponse:
    """Async chat through the default registry."""
    return await default_registry().achat(model, messages, **params)


def chat_stream(
    model: str,
    messages: Iterable[Message | Mapping[str, Any]] | str,
    **params: Unpack[ChatCallParams],
) -> Iterator[ChatChunk]:
    """Sync streaming chat through the default registry."""
    return default_registry().chat_stream(model, messages, **params)


def achat_stream(
    model: str,
    messages: Iterable[Message | Mapping[str, Any]] | str,
    **params: Unpack[ChatCallParams],
) -> AsyncIterator[ChatChunk]:
    """Async streaming chat through the default registry."""
    return default_registry().achat_stream(model, messages, **params)


def embed(
    model: str, inputs: str | Sequence[str], **params: Unpack[EmbedCallParams]
) -> EmbeddingResponse:
    """Sync embeddings through the default registry."""
    return default_registry().embed(model, inputs, **params)


async def aembed(
    model: str, inputs: str | Sequence[str], **params: Unpack[EmbedCallParams]
) -> EmbeddingResponse:
    """Async embeddings through the default registry."""
    return await default_registry().aembed(model, inputs, **params)


def close() -> None:
    """Release the default registry's connections."""
    if _default is not None:
        _default.close()


async def aclose() -> None:
    """Release the default registry's connections opened on the running loop."""
    if _default is not None:
        await _default.aclose()


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib  # noqa: PLC0415

        for module_name in _LAZY_MODULES:
            module = importlib.import_module(module_name)
            if name in module.__all__:
                value = getattr(module, name)
                globals()[name] = value
                return value
    if name in _SUBMODULES:
        import importlib  # noqa: PLC0415

        return importlib.import_module(f"{__name__}.{name}")  # also binds it here
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError  # noqa: PLC0415
        from importlib.metadata import version  # noqa: PLC0415

        try:
            return version("lmux-plug")
        except PackageNotFoundError:  # running from a source tree without install
            return "0.0.0"
    msg = f"module 'lmux_plug' has no attribute {name!r}"
    raise AttributeError(msg)
