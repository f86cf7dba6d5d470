"""lmux-plug provider plugin for OpenAI, Azure OpenAI and every OpenAI-compatible endpoint.

Installed, it is discovered through the ``lmux_plug`` entry point and serves the prefixes
``openai``, ``azure``, ``groq``, ``together``, ``deepseek``, ``mistral``, ``openrouter``,
``fireworks``, ``deepinfra``, ``perplexity``, ``cerebras``, ``xai``, ``vllm``, ``llamacpp``,
``lmstudio`` and ``ollama_openai`` - all declared as data in :mod:`._providers`. It also
serves any spec a user registers with ``wire="openai"``::

    registry.register("mygw", ProviderSpec(name="mygw", wire="openai",
        base_url="http://127.0.0.1:8000/v1", auth=ApiKeyAuth(env=("MYGW_KEY",))))

Importing this module is cheap: the codec and the HTTP client load on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug_openai._providers import PROVIDERS
from lmux_plug_openai._providers import WIRE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Awaitable
    from collections.abc import Sequence

    from lmux_plug import ChatChunk
    from lmux_plug import ChatRequest
    from lmux_plug import ChatResponse
    from lmux_plug import CompletionChunk
    from lmux_plug import CompletionRequest
    from lmux_plug import CompletionResponse
    from lmux_plug import EmbeddingRequest
    from lmux_plug import EmbeddingResponse
    from lmux_plug import ProviderContext
    from lmux_plug import ProviderSpec
    from lmux_plug import ResponseChunk
    from lmux_plug import ResponseRequest
    from lmux_plug import ResponseResponse
    from lmux_plug import TranscriptionChunk
    from lmux_plug import TranscriptionRequest
    from lmux_plug import TranscriptionResponse

__all__ = [
    "PROVIDERS",
    "WIRE",
    "lmux_plug_chat",
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
    "lmux_plug_embed",
    "lmux_plug_providers",
    "lmux_plug_stream",
    "lmux_plug_transcribe",
    "lmux_plug_transcribe_stream",
    "lmux_plug_wires",
]

# The codec loads on the first call, so plugin discovery stays cheap.
_load_codec = wire.lazy_codec("lmux_plug_openai._codec")


@hookimpl
def lmux_plug_providers() -> Sequence[ProviderSpec]:
    """Declare every provider of this plugin (all on the ``openai`` wire)."""
    return list(PROVIDERS)


@hookimpl
def lmux_plug_wires() -> Sequence[str]:
    """Serve every provider spec on the ``openai`` wire."""
    return [WIRE]


@hookimpl
def lmux_plug_chat(request: ChatRequest, provider: ProviderContext) -> Awaitable[ChatResponse]:
    """Chat Completions, not streamed."""
    return wire.send_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_stream(request: ChatRequest, provider: ProviderContext) -> AsyncIterator[ChatChunk]:
    """Chat Completions over SSE; usage rides on the terminal chunk."""
    return wire.stream_chat(_load_codec(), request, provider)


@hookimpl
def lmux_plug_embed(
    request: EmbeddingRequest, provider: ProviderContext
) -> Awaitable[EmbeddingResponse]:
    """Embeddings, one vector per input in input order."""
    return wire.send_embed(_load_codec(), request, provider)


# --------------------------------------------------------------------------- beyond chat
# The Responses API, legacy text completions and audio transcription. Each provider
# declares which of them it serves (capabilities ``responses``, ``completions``,
# ``transcription``); the registry refuses the others before any I/O.


@hookimpl
def lmux_plug_create_response(
    request: ResponseRequest, provider: ProviderContext
) -> Awaitable[ResponseResponse]:
    """The Responses API (``POST /responses``), not streamed."""
    from lmux_plug_openai import _apis_client  # noqa: PLC0415 - lazy: keeps discovery cheap

    return _apis_client.create_response(request, provider)


@hookimpl
def lmux_plug_create_response_stream(
    request: ResponseRequest, provider: ProviderContext
) -> AsyncIterator[ResponseChunk]:
    """The Responses API over SSE: one chunk per event, the last with the whole response."""
    from lmux_plug_openai import _apis_client  # noqa: PLC0415

    return _apis_client.create_response_stream(request, provider)


@hookimpl
def lmux_plug_complete(
    request: CompletionRequest, provider: ProviderContext
) -> Awaitable[CompletionResponse]:
    """Legacy text completions (``POST /completions``)."""
    from lmux_plug_openai import _apis_client  # noqa: PLC0415

    return _apis_client.complete(request, provider)


@hookimpl
def lmux_plug_complete_stream(
    request: CompletionRequest, provider: ProviderContext
) -> AsyncIterator[CompletionChunk]:
    """Legacy text completions over SSE."""
    from lmux_plug_openai import _apis_client  # noqa: PLC0415

    return _apis_client.complete_stream(request, provider)


@hookimpl
def lmux_plug_transcribe(
    request: TranscriptionRequest, provider: ProviderContext
) -> Awaitable[TranscriptionResponse]:
    """Audio transcription (multipart ``POST /audio/transcriptions``)."""
    from lmux_plug_openai import _apis_client  # noqa: PLC0415

    return _apis_client.transcribe(request, provider)


@hookimpl
def lmux_plug_transcribe_stream(
    request: TranscriptionRequest, provider: ProviderContext
) -> AsyncIterator[TranscriptionChunk]:
    """Streamed transcription (``stream=true``)."""
    from lmux_plug_openai import _apis_client  # noqa: PLC0415

    return _apis_client.transcribe_stream(request, provider)
