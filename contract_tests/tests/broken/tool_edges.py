"""Broken variants of ``acme`` for the tool-choice, finish-reason and strict-tool clauses.

Each carries one realistic defect found by mutation testing of the OpenAI and Cohere
codecs; its ``fails_on`` names the clause that must fail because of it (see
``test_broken_plugins.py``). Kept apart from ``plugins.py`` so that helpers adding
examples for other clause families do not edit the same lines.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import attrs
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderContext

# Loaded under this name, before this file, by the tests' conftest (as broken/plugins.py is).
AcmePlugin = sys.modules["lmux_contract_examples_acme"].AcmePlugin


class RefusesNamedToolChoice(AcmePlugin):
    """Refuses a tool choice naming a function with InvalidRequestError (an inverted check).

    The choice names a tool the request offers, so the request is valid: the plugin blames
    the caller for its own defect. Before, the clause took any refusal as "not supported".
    """

    fails_on = ("requests.tool_choice", "tool_choice")

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        choice = request.tool_choice
        if choice is not None and choice.mode == "function" and choice.function_name:
            msg = "tool_choice 'function' needs a function name"
            raise InvalidRequestError(msg)
        return super().encode(request, stream=stream)


class UnstatedFinishIsToolCalls(AcmePlugin):
    """Reads an answer without a finish reason as one that ended to call tools.

    A plain text answer whose ``finish_reason`` is missing or null is then reported as
    ``tool_calls``: the caller looks for tool calls that are not there.
    """

    fails_on = ("errors.odd_fields", "odd_fields and chat")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        data = await super().post(provider, path, body, request)
        choices = data.get("choices") if isinstance(data, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and choice.get("finish_reason") is None:
                choice["finish_reason"] = "tool_calls"
        return data


class _EditsEachTool(AcmePlugin):
    """Sends each tool's ``function`` object as the variant's :meth:`edit` leaves it."""

    def encode(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = super().encode(request, stream=stream)
        for tool in body.get("tools", ()):
            self.edit(tool["function"])
        return body

    def edit(self, function: dict[str, Any]) -> None:
        """Break one field of a tool's ``function`` object in place."""
        raise NotImplementedError


class DropsToolDescriptions(_EditsEachTool):
    """Sends each tool without its description (the model then guesses what a tool does)."""

    fails_on = ("requests.tool_choice", "tool_choice")

    def edit(self, function: dict[str, Any]) -> None:
        function["description"] = ""


class DropsToolStrictness(_EditsEachTool):
    """Sends every tool without its ``strict`` flag: the API no longer holds it to its schema."""

    fails_on = ("requests.strict_tools", "strict_tools")

    def edit(self, function: dict[str, Any]) -> None:
        function.pop("strict", None)


class CutToolCallsFinishAsToolCalls(AcmePlugin):
    """Reports every answer holding a tool call as finished with ``tool_calls``.

    An answer the API cut off at the token cap (``length``) then looks like a complete
    call, and its incomplete arguments get run.
    """

    fails_on = ("tools.cut_off", "cut_off")

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        if response.tool_calls:
            return attrs.evolve(response, finish_reason=FinishReason.TOOL_CALLS)
        return response


class CountsToolCallsBlindly(AcmePlugin):
    """Logs how many tool calls each stream event holds with ``len()``, outside its guard.

    An object where the list was has a length, so only a number there (odd JSON of
    another type) lets ``TypeError`` escape: a foreign exception.
    """

    fails_on = ("errors.odd_fields", "odd_fields and tools_stream")

    def decode_event(
        self, data: str, provider: ProviderContext, request: ChatRequest
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super().decode_event(data, provider, request)
        for choice in payload.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                calls = delta.get("tool_calls") or ()
                logging.getLogger(__name__).debug("%d tool calls in event", len(calls))
        return payload


class UnstatedFinishWithCallsIsStop(AcmePlugin):
    """Reads an answer without a finish reason as a whole answer, even when it calls tools.

    A tool-call answer whose ``finish_reason`` is missing or null is then reported as
    ``stop``: a caller's agent loop, which runs calls on ``tool_calls``, ends with them
    unanswered (a stream decoder's call count that never rose did this to Cohere's).
    """

    fails_on = ("errors.odd_fields", "odd_fields and tools_chat")

    async def post(self, provider: ProviderContext, path: str, body: Any, request: Any) -> Any:
        data = await super().post(provider, path, body, request)
        choices = data.get("choices") if isinstance(data, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        self.unstated = isinstance(first, dict) and first.get("finish_reason") is None
        return data

    async def chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        response = await super().chat(request, provider)
        if self.unstated:
            # The default of an unstated reason, whatever the answer holds.
            return attrs.evolve(response, finish_reason=FinishReason.STOP)
        return response
