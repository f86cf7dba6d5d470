"""Fixtures shared by the test suites of the in-repo provider plugins.

pytest loads this file for every test below ``plugins/`` (the repository root is the
rootdir), so each plugin's end-to-end tests make their registries the same way.
"""

# ruff: noqa: INP001 - a conftest, not a module of a package (pytest loads it by path)
from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import pytest

from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug.testing.streams import terminal_of


@pytest.fixture
async def plugin_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Callable[..., Registry]]:
    """``make(plugin, provider=None, *, transport=None, env=None, **configure)``: a registry.

    The registry has ``plugin`` alone (no built-in providers); with ``provider``,
    ``registry.configure(provider, **configure)`` points it at the test's server. ``env``
    sets environment variables for the test (``None`` removes one), for the suites that
    check how the plugin reads its key from the environment. Every registry made is closed
    after the test, however the test ends.
    """
    made: list[Registry] = []

    def make(
        plugin: object,
        provider: str | None = None,
        *,
        transport: Any = None,
        env: Mapping[str, str | None] | None = None,
        **configure: Any,
    ) -> Registry:
        for name, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        registry = Registry(plugins=[plugin], builtins=False, transport=transport)
        made.append(registry)
        if provider is not None:
            registry.configure(provider, **configure)
        return registry

    try:
        yield make
    finally:
        for registry in made:
            await registry.aclose()


@pytest.fixture
def weather_tool() -> dict[str, Any]:
    """The OpenAI-format tool the plugins' tool tests offer: ``get_weather(city)``."""
    return {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }


@pytest.fixture
def answer_tool_call() -> Callable[..., Awaitable[ChatResponse]]:
    """``await answer(registry, model, question, first, result, **params)``: the next turn.

    The plugins' tool round trips all continue a conversation the same way: the user's
    ``question``, the assistant's answer ``first`` (exactly one tool call) and the tool's
    ``result`` for that call go back to ``model``; ``params`` (the tools, a response format)
    go with them. Returns the second answer; the test checks what its wire sent.
    """

    async def answer(
        registry: Registry,
        model: str,
        question: str,
        first: ChatResponse,
        result: str,
        **params: Any,
    ) -> ChatResponse:
        (call,) = first.tool_calls
        history = [
            {"role": "user", "content": question},
            first.message,
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ]
        return await registry.achat(model, history, **params)

    return answer


# The sampling knobs of the plain chat scenario: every wire encodes them its own way, and
# each plugin's test checks that encoding on what its fake server received.
_BRIEF_SAMPLING: dict[str, Any] = {"temperature": 0.2, "top_p": 0.9, "stop": ["END"], "seed": 7}


@pytest.fixture
def brief_chat() -> Callable[..., Awaitable[ChatResponse]]:
    """The plain chat scenario: ``await chat(registry, model, expected, **params)``.

    Every plugin's end-to-end suite starts the same way: a system prompt ``"be brief"`` and
    the user's ``"hello"`` go to ``model`` with temperature 0.2, top_p 0.9, stop ``["END"]``
    and seed 7 (``params`` add knobs or override these; ``None`` leaves one unset). The answer
    must read ``expected`` and have stopped normally; it is returned for the wire's own checks.
    """

    async def chat(registry: Registry, model: str, expected: str, **params: Any) -> ChatResponse:
        messages = [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello"},
        ]
        response = await registry.achat(model, messages, **{**_BRIEF_SAMPLING, **params})
        got = (response.content, response.finish_reason)
        if got != (expected, FinishReason.STOP):
            msg = f"plain chat answered {got!r}, expected {(expected, FinishReason.STOP)!r}"
            raise AssertionError(msg)
        return response

    return chat


@pytest.fixture
def rate_limited() -> Callable[..., Awaitable[RateLimitError]]:
    """A rate-limited chat: ``error = await chat(registry, model, retry_after)``.

    Each plugin's fake server answers one model with its wire's 429; the call must raise a
    retryable ``RateLimitError`` with status 429, the ``retry_after`` (seconds, or a
    ``pytest.approx`` of them) the wire said and the provider named by ``model``'s prefix.
    The error is returned for the wire's own checks (its request id, say).
    """

    async def chat(registry: Registry, model: str, retry_after: object) -> RateLimitError:
        with pytest.raises(RateLimitError) as caught:
            await registry.achat(model, "hi")
        error = caught.value
        got = (error.status_code, error.retryable, error.retry_after, error.provider)
        expected = (429, True, retry_after, model.partition("/")[0])
        if got != expected:
            msg = f"rate limit (status, retryable, retry_after, provider): {got!r} != {expected!r}"
            raise AssertionError(msg)
        return error

    return chat


@pytest.fixture
def streamed_tool_call() -> Callable[..., Awaitable[list[ChatChunk]]]:
    """A streamed tool call: ``await stream(registry, model, call_id, tokens, request_id)``.

    The plugins' stream tests script their fake server to answer ``"go"`` (with the tool
    ``f`` offered) by calling ``f`` with ``{"a": 1}`` in pieces. The deltas must rebuild that
    call under the wire's ``call_id``, the terminal chunk must end in ``TOOL_CALLS`` with
    ``tokens`` input tokens and a cost, and every chunk must carry ``request_id``. The chunks
    are returned for the wire's own checks (text or thinking before the call).
    """

    async def stream(
        registry: Registry, model: str, call_id: str, tokens: int, request_id: str
    ) -> list[ChatChunk]:
        tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
        chunks = [c async for c in registry.achat_stream(model, "go", tools=[tool])]
        deltas = [d for c in chunks for d in c.tool_call_deltas]
        terminal = terminal_of(chunks)
        usage = terminal.usage
        got = (
            (deltas[0].index, deltas[0].id, deltas[0].name) if deltas else None,
            "".join(d.arguments for d in deltas),
            terminal.finish_reason,
            None if usage is None else usage.input_tokens,
            terminal.cost is not None,
            {c.request_id for c in chunks},
        )
        expected = (
            (0, call_id, "f"),
            '{"a": 1}',
            FinishReason.TOOL_CALLS,
            tokens,
            True,
            {request_id},
        )
        if got != expected:
            msg = f"streamed tool call: {got!r} != {expected!r}"
            raise AssertionError(msg)
        return chunks

    return stream


@pytest.fixture(scope="session")  # session: Hypothesis properties take it (no per-example reset)
def encoded_or_refused() -> Callable[..., Any]:
    """``encoded_or_refused(encode, *refusals)``: ``encode()``, or ``None`` when it was refused.

    The plugins' properties over arbitrary requests all state it: a codec either encodes a
    request or refuses it before any I/O with one of ``refusals`` (``InvalidRequestError``
    when none is named), and the refusal says why (a non-empty message). Any other exception
    fails the property.
    """

    def run(encode: Callable[[], Any], *refusals: type[LmuxError]) -> Any:
        refused: tuple[type[LmuxError], ...] = refusals or (InvalidRequestError,)
        try:
            return encode()
        except refused as exc:
            if not exc.message:
                msg = f"{type(exc).__name__} without a message"
                raise AssertionError(msg) from exc
            return None

    return run
