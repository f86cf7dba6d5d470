"""Broken variants of the in-repo Gemini codec for the clauses of ``family_contract``.

Each breaks one rule that holds for a whole family of inputs, of which the canonical
exchange shows a single member (one stop sequence, a rate-limit error event, the default
model): the defects mutation testing of the Gemini and Bedrock codecs found alive there.
Each one's ``fails_on`` names the clause it must fail (``test_broken_plugins.py`` runs
them, as the provider each declares: ``gemini``, two ``bedrock``).
"""

from __future__ import annotations

import sys
from typing import Any

import attrs
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug.wire import WireRequest

# Loaded before this file by the tests' conftest (the detail variants' module).
_DETAILS = sys.modules["lmux_contract_examples_details"]
ServedGemini: Any = _DETAILS.ServedGemini
ServedBedrock: Any = _DETAILS.ServedBedrock


class StopLimitOffByOne(ServedGemini):  # type: ignore[misc]
    """Refuses five stop sequences, the most ``generationConfig.stopSequences`` takes."""

    fails_on = ("requests.stop_limit", "stop_limit")

    def refusal(self, request: ChatRequest) -> str | None:
        if request.stop and len(request.stop) >= 5:
            # The limit checked with >=: as many stop sequences as the API takes are refused.
            return "Gemini accepts at most 5 stop sequences"
        return None


def _any_error_message(event: dict[str, Any]) -> str | None:
    error = event.get("error")
    return str(error.get("message", error)) if isinstance(error, dict) else None


class StreamErrorsAreServerErrors(ServedGemini):  # type: ignore[misc]
    """Raises ProviderError for every error object in a stream (a 400 there too)."""

    fails_on = ("errors.stream_error_status", "stream_error_status")

    # Every in-stream error taken for a server failure, whatever its code says.
    codec = _DETAILS.error_events_raised(_any_error_message)


class FlashBudgetUnclamped(ServedGemini):  # type: ignore[misc]
    """Sends reasoning_effort='xhigh' to Gemini 2.5 Flash as a budget above Flash's range."""

    fails_on = ("reasoning.effort_levels", "effort_levels")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
        if request.reasoning_effort == "xhigh" and "thinkingBudget" in thinking:
            # Pro's largest budget sent to every Gemini 2.5 model (Flash takes 24576).
            thinking["thinkingBudget"] = 32768
        return sent


class CachedTokensAddedTwice(ServedGemini):  # type: ignore[misc]
    """Counts Gemini's cached prompt tokens twice in input_tokens."""

    fails_on = ("types.cached_usage", "cached_usage")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        usage = decoded.usage
        # Adds the cached tokens to the prompt's count, as for an API that leaves them out
        # (Bedrock's): Gemini's promptTokenCount holds them already.
        counted = attrs.evolve(usage, input_tokens=usage.input_tokens + usage.cache_read_tokens)
        return attrs.evolve(decoded, usage=counted)


class ChoiceNoneAfterCallsRefused(ServedGemini):  # type: ignore[misc]
    """Refuses tool_choice='none' once the conversation holds a tool call."""

    fails_on = ("requests.tool_choice_after_calls", "tool_choice_after_calls")

    def refusal(self, request: ChatRequest) -> str | None:
        choice = request.tool_choice
        called = any(getattr(m, "tool_calls", ()) for m in request.messages)
        if choice is not None and choice.mode == "none" and called:
            # Reads "none" as a choice naming a function (an ordering test): no name, refused.
            return "tool_choice names None, which is not among the tools"
        return None


class RefusesImageData(ServedGemini):  # type: ignore[misc]
    """Refuses an image given as base64 data (only links) while the model declares vision."""

    fails_on = ("requests.image_data", "image_data and not content_parts")

    def refusal(self, request: ChatRequest) -> str | None:
        parts = _DETAILS.parts_of(request)
        if any(isinstance(p, ImageContent) and p.base64_data is not None for p in parts):
            # An inverted test: takes linked images only, though the model declares vision.
            return "send images as links"
        return None


class DropsRequestId(ServedGemini):  # type: ignore[misc]
    """Leaves an answer's responseId out of the result (request_id is None)."""

    fails_on = ("types.request_id", "request_id and chat")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        # The answer's responseId is never read into the result.
        return attrs.evolve(decoded, request_id=None)


class EndedCallsAreStops(ServedBedrock):  # type: ignore[misc]
    """The in-repo Bedrock codec, taking a tool call whose stop reason is end_turn for a stop."""

    fails_on = ("tools.calls_ended_normally", "calls_ended_normally and chat")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        # Trusts the stop reason over the calls.
        raw = decoded.raw if isinstance(decoded.raw, dict) else {}
        if raw.get("stopReason") == "end_turn":
            return attrs.evolve(decoded, finish_reason=FinishReason.STOP)
        return decoded


class DropsSchemaDescription(ServedBedrock):  # type: ignore[misc]
    """The in-repo Bedrock codec, sending a json_schema response format without its description."""

    fails_on = ("requests.schema_description", "schema_description")

    def ask(self, request: ChatRequest) -> ChatRequest:
        fmt = request.response_format
        if isinstance(fmt, JsonSchemaResponseFormat):
            return attrs.evolve(request, response_format=attrs.evolve(fmt, description=None))
        return request
