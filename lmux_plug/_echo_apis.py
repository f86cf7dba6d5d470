"""The ``echo`` provider's Responses and text-completion hooks (offline, deterministic).

``echo/<model>`` answers a Responses call with the text of the last user input item (or the
input string) and a completion with its prompt; ``echo/reverse`` reverses it. Imported by
:mod:`lmux_plug.echo`, whose module is the registered plugin.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import TypeVar

from lmux_plug.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmux_plug import _types
    from lmux_plug._api_types import CompletionChunk
    from lmux_plug._api_types import CompletionRequest
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import ResponseChunk
    from lmux_plug._api_types import ResponseRequest
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._context import ProviderContext
else:
    from lmux_plug._lazy import LazyModule

    _types = LazyModule("lmux_plug._types")  # loaded by the first call (lmux_plug._lazy)

__all__ = [
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
]


R = TypeVar("R")
T = TypeVar("T")
C = TypeVar("C")


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _echo(model: str, text: str, limit: int | None) -> tuple[str, bool]:
    """The answer to ``text`` and whether it was cut at ``limit`` tokens."""
    answer = text[::-1] if model == "reverse" else text
    if limit is not None and len(answer) > limit * 4:
        return answer[: limit * 4], True
    return answer, False


async def _answered(
    answer: Callable[[R, ProviderContext], T], request: R, provider: ProviderContext
) -> T:
    """``answer(request, provider)``, computed when awaited (call hooks return awaitables)."""
    return answer(request, provider)


async def _streamed(
    events: Callable[[T], Iterable[C]],
    answer: Callable[[R, ProviderContext], T],
    request: R,
    provider: ProviderContext,
) -> AsyncIterator[C]:
    """The ``events`` of ``answer(request, provider)``, computed when iterated."""
    for chunk in events(answer(request, provider)):
        yield chunk


def _response(request: ResponseRequest, provider: ProviderContext) -> ResponseResponse:
    from lmux_plug._api_synth import input_text  # noqa: PLC0415 - lazy
    from lmux_plug._api_synth import response_from_text  # noqa: PLC0415 - lazy

    prompt = input_text(request.input)
    text, cut = _echo(request.model, prompt, request.max_output_tokens)
    usage = _types.Usage(
        input_tokens=_tokens(prompt) + _tokens(request.instructions or ""),
        output_tokens=_tokens(text),
    )
    response = response_from_text(text, model=request.model, provider=provider.name, usage=usage)
    if cut:
        import attrs  # noqa: PLC0415

        response = attrs.evolve(
            response, status="incomplete", incomplete_details={"reason": "max_output_tokens"}
        )
    return response


@hookimpl
def lmux_plug_create_response(
    request: ResponseRequest, provider: ProviderContext
) -> ResponseResponse:
    """Echo the last user input (returned through an awaitable)."""
    return _answered(_response, request, provider)  # type: ignore[return-value]


@hookimpl
def lmux_plug_create_response_stream(
    request: ResponseRequest, provider: ProviderContext
) -> AsyncIterator[ResponseChunk]:
    """The Responses event sequence of the echo."""
    from lmux_plug._api_synth import response_events  # noqa: PLC0415 - lazy: fast import

    return _streamed(response_events, _response, request, provider)


def _completion(request: CompletionRequest, provider: ProviderContext) -> CompletionResponse:
    from lmux_plug._api_types import CompletionResponse  # noqa: PLC0415 - lazy: fast import

    prompts = (request.prompt,) if isinstance(request.prompt, str) else request.prompt
    answers = [_echo(request.model, p, request.max_tokens) for p in prompts]
    text, cut = answers[0]
    return CompletionResponse(
        text=text,
        model=request.model,
        provider=provider.name,
        finish_reason=_types.FinishReason.LENGTH if cut else _types.FinishReason.STOP,
        usage=_types.Usage(
            input_tokens=sum(_tokens(p) for p in prompts),
            output_tokens=sum(_tokens(a) for a, _ in answers),
        ),
        choices=tuple(a for a, _ in answers),
    )


@hookimpl
def lmux_plug_complete(request: CompletionRequest, provider: ProviderContext) -> CompletionResponse:
    """Echo the prompt (returned through an awaitable)."""
    return _answered(_completion, request, provider)  # type: ignore[return-value]


@hookimpl
def lmux_plug_complete_stream(
    request: CompletionRequest, provider: ProviderContext
) -> AsyncIterator[CompletionChunk]:
    """Stream the echoed prompt word by word."""
    from lmux_plug._api_synth import completion_chunks  # noqa: PLC0415 - lazy: fast import

    return _streamed(completion_chunks, _completion, request, provider)
