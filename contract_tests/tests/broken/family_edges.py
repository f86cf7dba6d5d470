"""Broken variants of the in-repo Gemini codec for the clauses of ``family_contract``.

Each breaks one rule that holds for a whole family of inputs, of which the canonical
exchange shows a single member (one stop sequence, a rate-limit error event, the default
model): the defects mutation testing of the Gemini and Bedrock codecs found alive there.
``FAMILY_DEFECTS`` maps each to the clause it must fail (``test_broken_plugins.py`` runs
them, as the ``gemini`` provider).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import attrs
import lmux_plug_bedrock
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import hookimpl
from lmux_plug.wire import WireRequest
from lmux_plug.wire import WireResponse
from lmux_plug_gemini._codec import GeminiCodec
from lmux_plug_gemini._codec import GeminiStreamDecoder

# Loaded before this file by the tests' conftest (the detail variants' module).
ServedGemini: Any = sys.modules["lmux_contract_examples_details"].ServedGemini


class _StopLimitOffByOneCodec(GeminiCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        if request.stop and len(request.stop) >= 5:
            # The limit checked with >=: as many stop sequences as the API takes are refused.
            msg = "Gemini accepts at most 5 stop sequences"
            raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        return super().encode_chat(request, provider, stream=stream)


class StopLimitOffByOne(ServedGemini):  # type: ignore[misc]
    """Refuses five stop sequences, the most ``generationConfig.stopSequences`` takes."""

    codec = _StopLimitOffByOneCodec()


class _StreamErrorsAreServerErrorsDecoder(GeminiStreamDecoder):
    def _event(self, event: Any) -> ChatChunk | None:
        error = event.get("error") if isinstance(event, dict) else None
        if isinstance(error, dict):
            # Every in-stream error taken for a server failure, whatever its code says.
            message = str(error.get("message", error))
            raise ProviderError(message, provider=self.provider, model=self.model)
        return super()._event(event)


class _StreamErrorsAreServerErrorsCodec(GeminiCodec):
    stream_decoder_class = _StreamErrorsAreServerErrorsDecoder


class StreamErrorsAreServerErrors(ServedGemini):  # type: ignore[misc]
    """Raises ProviderError for every error object in a stream (a 400 there too)."""

    codec = _StreamErrorsAreServerErrorsCodec()


class _FlashBudgetUnclampedCodec(GeminiCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        sent = super().encode_chat(request, provider, stream=stream)
        thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
        if request.reasoning_effort == "xhigh" and "thinkingBudget" in thinking:
            # Pro's largest budget sent to every Gemini 2.5 model (Flash takes 24576).
            thinking["thinkingBudget"] = 32768
        return sent


class FlashBudgetUnclamped(ServedGemini):  # type: ignore[misc]
    """Sends reasoning_effort='xhigh' to Gemini 2.5 Flash as a budget above Flash's range."""

    codec = _FlashBudgetUnclampedCodec()


class _CachedTokensAddedTwiceCodec(GeminiCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        decoded = super().decode_chat(response, request, provider)
        usage = decoded.usage
        # Adds the cached tokens to the prompt's count, as for an API that leaves them out
        # (Bedrock's): Gemini's promptTokenCount holds them already.
        counted = attrs.evolve(usage, input_tokens=usage.input_tokens + usage.cache_read_tokens)
        return attrs.evolve(decoded, usage=counted)


class CachedTokensAddedTwice(ServedGemini):  # type: ignore[misc]
    """Counts Gemini's cached prompt tokens twice in input_tokens."""

    codec = _CachedTokensAddedTwiceCodec()


class _ChoiceNoneAfterCallsRefusedCodec(GeminiCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        choice = request.tool_choice
        called = any(getattr(m, "tool_calls", ()) for m in request.messages)
        if choice is not None and choice.mode == "none" and called:
            # Reads "none" as a choice naming a function (an ordering test): no name, refused.
            msg = "tool_choice names None, which is not among the tools"
            raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        return super().encode_chat(request, provider, stream=stream)


class ChoiceNoneAfterCallsRefused(ServedGemini):  # type: ignore[misc]
    """Refuses tool_choice='none' once the conversation holds a tool call."""

    codec = _ChoiceNoneAfterCallsRefusedCodec()


class _RefusesImageDataCodec(GeminiCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        for message in request.messages:
            content = getattr(message, "content", None)
            if isinstance(content, tuple) and any(
                isinstance(p, ImageContent) and p.base64_data is not None for p in content
            ):
                # An inverted test: takes linked images only, though the model declares vision.
                msg = "send images as links"
                raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        return super().encode_chat(request, provider, stream=stream)


class RefusesImageData(ServedGemini):  # type: ignore[misc]
    """Refuses an image given as base64 data (only links) while the model declares vision."""

    codec = _RefusesImageDataCodec()


class _DropsRequestIdCodec(GeminiCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        # The answer's responseId is never read into the result.
        return attrs.evolve(super().decode_chat(response, request, provider), request_id=None)


class DropsRequestId(ServedGemini):  # type: ignore[misc]
    """Leaves an answer's responseId out of the result (request_id is None)."""

    codec = _DropsRequestIdCodec()


class EndedCallsAreStops:
    """The in-repo Bedrock plugin, taking a tool call whose stop reason is end_turn for a stop."""

    @hookimpl
    def lmux_plug_providers(self) -> Sequence[ProviderSpec]:
        """Declare ``bedrock``."""
        return list(lmux_plug_bedrock.lmux_plug_providers())

    @hookimpl
    async def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        """Chat through the Bedrock plugin; trust the stop reason over the calls."""
        response: ChatResponse = await lmux_plug_bedrock.lmux_plug_chat(
            request=request, provider=provider
        )
        raw = response.raw if isinstance(response.raw, dict) else {}
        if raw.get("stopReason") == "end_turn":
            return attrs.evolve(response, finish_reason=FinishReason.STOP)
        return response


class DropsSchemaDescription(EndedCallsAreStops):
    """The in-repo Bedrock plugin, sending a json_schema response format without its description."""

    @hookimpl
    async def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        """Chat through the Bedrock plugin, the schema's description left behind."""
        fmt = request.response_format
        if isinstance(fmt, JsonSchemaResponseFormat):
            request = attrs.evolve(request, response_format=attrs.evolve(fmt, description=None))
        response: ChatResponse = await lmux_plug_bedrock.lmux_plug_chat(
            request=request, provider=provider
        )
        return response


#: variant -> (the clause it must fail, the ``-k`` keyword selecting that clause)
FAMILY_DEFECTS: dict[str, tuple[str, str]] = {
    "StopLimitOffByOne": ("requests.stop_limit", "stop_limit"),
    "StreamErrorsAreServerErrors": ("errors.stream_error_status", "stream_error_status"),
    "FlashBudgetUnclamped": ("reasoning.effort_levels", "effort_levels"),
    "CachedTokensAddedTwice": ("types.cached_usage", "cached_usage"),
    "EndedCallsAreStops": ("tools.calls_ended_normally", "calls_ended_normally and chat"),
    "DropsSchemaDescription": ("requests.schema_description", "schema_description"),
    "DropsRequestId": ("types.request_id", "request_id and chat"),
    "RefusesImageData": ("requests.image_data", "image_data and not content_parts"),
    "ChoiceNoneAfterCallsRefused": (
        "requests.tool_choice_after_calls",
        "tool_choice_after_calls",
    ),
}
#: The variants that serve another provider than ``gemini``.
FAMILY_PROVIDERS: dict[str, str] = {
    "EndedCallsAreStops": "bedrock",
    "DropsSchemaDescription": "bedrock",
}
