"""The ``echo`` provider's Responses and text-completion hooks (offline, deterministic).

``echo/<model>`` answers a Responses call with the text of the last user input item (or the
input string) and a completion with its prompt; ``echo/reverse`` reverses it. Imported by
:mod:`lmux_plug.echo`, whose module is the registered plugin.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from lmux_plug.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmux_plug import _types
    from lmux_plug._api_types import CompletionRequest
    from lmux_plug._api_types import CompletionResponse
    from lmux_plug._api_types import ResponseRequest
    from lmux_plug._api_types import ResponseResponse
    from lmux_plug._context import ProviderContext
else:
    from lmux_plug.lazy import LazyModule

    _types = LazyModule("lmux_plug._types")  # loaded by the first call (lmux_plug.lazy)

__all__ = [
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
]


R = TypeVar("R")
T = TypeVar("T")


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _echo(model: str, text: str, limit: int | None) -> tuple[str, bool]:
    """The answer to ``text`` and whether it was cut at ``limit`` tokens."""
    answer = text[::-1] if model == "reverse" else text
    if limit is not None and len(answer) > limit * 4:
        return answer[: limit * 4], True
    return answer, False


def _api_hooks(
    answer: Callable[[R, ProviderContext], T], events: str
) -> tuple[Callable[[R, ProviderContext], Any], Callable[[R, ProviderContext], AsyncIterator[Any]]]:
    """The call hook and the stream hook of one API, both over ``answer(request, provider)``.

    The answer is computed when the call is awaited or the stream iterated; the stream
    yields ``_api_synth.<events>`` of it.
    """

    # Calling either gives what a call hook returns: an awaitable, an async iterator.
    async def answered(request: R, provider: ProviderContext) -> T:
        return answer(request, provider)

    async def streamed(request: R, provider: ProviderContext) -> AsyncIterator[Any]:
        from lmux_plug import _api_synth  # noqa: PLC0415 - lazy: fast import

        for chunk in getattr(_api_synth, events)(answer(request, provider)):
            yield chunk

    return hookimpl(answered), hookimpl(streamed)


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


#: Responses: the echo of the last user input, or its event sequence.
lmux_plug_create_response, lmux_plug_create_response_stream = _api_hooks(
    _response, "response_events"
)
#: Text completions: the echoed prompt, or streamed word by word.
lmux_plug_complete, lmux_plug_complete_stream = _api_hooks(_completion, "completion_chunks")
