"""Module-level ``lmux_plug.<name>`` functions of the Responses, completion and transcription APIs.

Each calls the method of the same name on :func:`lmux_plug.default_registry`, like
``lmux_plug.chat`` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from lmux_plug._api_types import CompletionChunk
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import ResponseChunk
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._api_types import TranscriptionChunk
    from lmux_plug._api_types import TranscriptionResponse
    from lmux_plug.registry import Registry

__all__ = [
    "acomplete",
    "acomplete_stream",
    "acreate_response",
    "acreate_response_stream",
    "atranscribe",
    "atranscribe_stream",
    "complete",
    "complete_stream",
    "create_response",
    "create_response_stream",
    "transcribe",
    "transcribe_stream",
]


def _registry() -> Registry:
    from lmux_plug import default_registry  # noqa: PLC0415 - the package imports this module

    return default_registry()


def create_response(
    model: str,
    input: str | Iterable[Any],  # noqa: A002 - the Responses API's own name
    **params: Any,
) -> ResponseResponse:
    """Sync Responses-API call through the default registry (see ``Registry.acreate_response``)."""
    return _registry().create_response(model, input, **params)


async def acreate_response(
    model: str,
    input: str | Iterable[Any],  # noqa: A002
    **params: Any,
) -> ResponseResponse:
    """Async Responses-API call through the default registry."""
    return await _registry().acreate_response(model, input, **params)


def create_response_stream(
    model: str,
    input: str | Iterable[Any],  # noqa: A002
    **params: Any,
) -> Iterator[ResponseChunk]:
    """Sync streamed Responses-API call through the default registry."""
    return _registry().create_response_stream(model, input, **params)


def acreate_response_stream(
    model: str,
    input: str | Iterable[Any],  # noqa: A002
    **params: Any,
) -> AsyncIterator[ResponseChunk]:
    """Async streamed Responses-API call through the default registry."""
    return _registry().acreate_response_stream(model, input, **params)


def complete(model: str, prompt: str | Sequence[str], **params: Any) -> CompletionResponse:
    """Sync text completion through the default registry (see ``Registry.acomplete``)."""
    return _registry().complete(model, prompt, **params)


async def acomplete(model: str, prompt: str | Sequence[str], **params: Any) -> CompletionResponse:
    """Async text completion through the default registry."""
    return await _registry().acomplete(model, prompt, **params)


def complete_stream(
    model: str, prompt: str | Sequence[str], **params: Any
) -> Iterator[CompletionChunk]:
    """Sync streamed text completion through the default registry."""
    return _registry().complete_stream(model, prompt, **params)


def acomplete_stream(
    model: str, prompt: str | Sequence[str], **params: Any
) -> AsyncIterator[CompletionChunk]:
    """Async streamed text completion through the default registry."""
    return _registry().acomplete_stream(model, prompt, **params)


def transcribe(model: str, audio: Any, **params: Any) -> TranscriptionResponse:
    """Sync transcription through the default registry (see ``Registry.atranscribe``)."""
    return _registry().transcribe(model, audio, **params)


async def atranscribe(model: str, audio: Any, **params: Any) -> TranscriptionResponse:
    """Async transcription through the default registry."""
    return await _registry().atranscribe(model, audio, **params)


def transcribe_stream(model: str, audio: Any, **params: Any) -> Iterator[TranscriptionChunk]:
    """Sync streamed transcription through the default registry."""
    return _registry().transcribe_stream(model, audio, **params)


def atranscribe_stream(model: str, audio: Any, **params: Any) -> AsyncIterator[TranscriptionChunk]:
    """Async streamed transcription through the default registry."""
    return _registry().atranscribe_stream(model, audio, **params)
