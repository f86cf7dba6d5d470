"""Broken plugins for the clauses of ``lmux_plug_contract.edge_contract``, one defect each.

Each carries a defect that mutation testing of the Cohere, Anthropic and OpenAI codecs
showed the suite let live, written the way a plugin author could: variants of ``acme``
(the OpenAI wire) and, where the clause needs a wire that checks reasoning settings or
holds JSON-mode text back, of the in-repo Anthropic codec served as a plugin object (as
``broken/shapes.py`` does). Each one's ``fails_on`` names the clause that must fail
because of it (``test_broken_plugins.py`` runs them, as the provider each declares).
Loaded after ``acme.py`` and ``shapes.py``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterator
from collections.abc import Mapping
from typing import Any

import attrs
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import ProviderContext
from lmux_plug import TimeoutError
from lmux_plug.wire import WireRequest
from lmux_plug_anthropic._codec import AnthropicCodec
from lmux_plug_anthropic._codec import StreamDecoder
from lmux_plug_anthropic._codec import _BytesDecoder

# Loaded under these names, before this file, by the tests' conftest.
AcmePlugin = sys.modules["lmux_contract_examples_acme"].AcmePlugin
ServedAnthropic = sys.modules["lmux_contract_examples_shapes"].ServedAnthropic


class DropsCallsAfterOddItem(AcmePlugin):
    """Reads an answer's tool calls up to the first one that is not an object (a break).

    The loop meant to skip an odd item stops there, and every call after it is lost.
    """

    fails_on = ("errors.odd_items", "odd_items")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        data = await super().post(provider, path, body, request)
        choices = data.get("choices") if isinstance(data, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            message = choice.get("message") if isinstance(choice, dict) else None
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            if isinstance(calls, list):
                message["tool_calls"] = list(itertools.takewhile(_is_object, calls))
        return data


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


class PassesOddRequestId(AcmePlugin):
    """Passes an answer's ``id`` on as ``request_id`` whatever its JSON type."""

    fails_on = ("errors.odd_values", "odd_values and chat")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        data = await super().post(provider, path, body, request)
        self.answered_id = data.get("id") if isinstance(data, dict) else None
        return data

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        return attrs.evolve(response, request_id=self.answered_id)


class ForcesLastTool(AcmePlugin):
    """Forces the last tool offered, whichever one the tool choice names."""

    fails_on = ("requests.forced_tool", "forced_tool")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        choice = request.tool_choice
        if choice is not None and choice.mode == "function" and request.tools:
            last = request.tools[-1].function.name
            body["tool_choice"] = {"type": "function", "function": {"name": last}}
        return body


class StreamsPastErrorEvent(AcmePlugin):
    """Keeps an error event for the end of the stream and hands out what follows it."""

    fails_on = ("errors.error_event_ends_stream", "error_event_ends_stream")

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        self.pending = error
        return {}

    async def stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        self.pending: LmuxError | None = None
        async for chunk in super().stream(request, provider):
            yield chunk
        if self.pending is not None:
            raise self.pending


class GatewayTimeoutEventIsTimeout(AcmePlugin):
    """Reads an in-stream error stating 504 as a client timeout (TimeoutError, 408's class)."""

    fails_on = ("errors.stream_error_status", "stream_error_status")

    def error_event(self, error: LmuxError, provider: ProviderContext) -> dict[str, Any]:
        if error.status_code == 504:
            raise TimeoutError(str(error), provider=provider.name, model=error.model)
        raise error


class UnfittedThinkingBudget(ServedAnthropic):
    """Sends the effort level's thinking budget even when max_tokens is below it."""

    fails_on = ("reasoning.small_cap", "small_cap")

    def ask(self, request: ChatRequest) -> ChatRequest:
        if request.reasoning_effort is None or request.max_tokens is None:
            return request
        # Encodes without the caller's cap (so the budget is never fitted under it) ...
        return attrs.evolve(request, max_tokens=None)

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        if request.reasoning_effort is not None and request.max_tokens is not None:
            # ... then sets the cap: a budget at or above max_tokens, which the API refuses.
            sent.body["max_tokens"] = request.max_tokens
        return sent


class _DropsHeldTextDecoder(StreamDecoder):
    def _on_message_stop(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        # The text held back until the JSON tool call is forgotten if the call never came.
        self._held.clear()
        return super()._on_message_stop(data)


class _DropsHeldTextCodec(AnthropicCodec):
    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> _BytesDecoder:
        base = super().stream_decoder(request, provider, headers)
        events = base._events
        return _BytesDecoder(
            _DropsHeldTextDecoder(
                provider=events.provider,
                model=events.model,
                request_id=events.request_id,
                json_tool=events.json_tool,
            )
        )


class DropsJsonAnsweredAsText(ServedAnthropic):
    """In JSON mode, drops a streamed answer whose JSON came as text, not as the tool call."""

    fails_on = ("types.json_as_text", "json_as_text")

    codec = _DropsHeldTextCodec()


class MatchesForcedToolByIdentity(AcmePlugin):
    """Finds the forced tool by identity (``is``), not equality, as a mutant of Cohere's did.

    A tool choice naming the tool with an equal string that is another object (as a
    program's choice, read from elsewhere than its tool list, is) matches no tool: the
    plugin refuses a valid request as naming a tool that is not offered.
    """

    fails_on = ("requests.forced_tool", "forced_tool")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        choice = request.tool_choice
        if choice is not None and choice.mode == "function":
            named = [t for t in request.tools or () if t.function.name is choice.function_name]
            if not named:
                msg = f"tool_choice names {choice.function_name!r}, which is not among the tools"
                raise InvalidRequestError(msg)
        return super().encode(request, stream=stream)
