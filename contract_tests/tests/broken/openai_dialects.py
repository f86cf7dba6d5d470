"""Broken variants of the in-repo OpenAI codec, each serving one OpenAI-compatible server.

Each declares a provider whose ``base_url`` is a real server's, so the suite serves that
server's dialect (``lmux_plug_contract.wires.openai_dialects``), and gets one dialect
wrong: the defects mutation testing of the OpenAI codec found alive while only OpenAI's
own forms were ever served. Each states the clause it must fail (``fails_on``);
``test_broken_plugins.py`` runs it as the provider its ``spec`` declares, beside the
unbroken baseline of that provider.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import attrs
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import LmuxError
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug import ToolCallDelta
from lmux_plug.wire import WireRequest
from lmux_plug_openai._codec import ChatStreamDecoder
from lmux_plug_openai._codec import OpenAICodec
from lmux_plug_openai._providers import GROQ
from lmux_plug_openai._providers import MISTRAL
from lmux_plug_openai._providers import OPENAI
from lmux_plug_openai._providers import OPENROUTER
from lmux_plug_openai._providers import TOGETHER

# Loaded before this file by the tests' conftest (the Anthropic variants' module).
ServedCodec: Any = sys.modules["lmux_contract_examples_shapes"].ServedCodec


def _streaming_with(decoder: type[ChatStreamDecoder]) -> OpenAICodec:
    """The OpenAI codec whose streams are decoded by ``decoder`` (a broken subclass)."""

    class Codec(OpenAICodec):
        def stream_decoder(
            self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
        ) -> ChatStreamDecoder:
            decoding = super().stream_decoder(request, provider, headers)
            decoding.__class__ = decoder  # the same state, the broken subclass's methods
            return decoding

    return Codec()


class ServedOpenRouter(ServedCodec):  # type: ignore[misc]
    """The in-repo OpenAI codec, unbroken, serving OpenRouter (the baseline)."""

    spec = OPENROUTER
    codec: Any = OpenAICodec()


class ServedMistral(ServedOpenRouter):
    """The unbroken codec serving Mistral."""

    spec = MISTRAL


class ServedGroq(ServedOpenRouter):
    """The unbroken codec serving Groq."""

    spec = GROQ


class ServedTogether(ServedOpenRouter):
    """The unbroken codec serving Together."""

    spec = TOGETHER


class ServedOpenAI(ServedOpenRouter):
    """The unbroken codec serving OpenAI itself."""

    spec = OPENAI


class CapAsMaxTokens(ServedOpenAI):
    """Sends the token cap as ``max_tokens`` to every model, reasoning models too."""

    fails_on = ("requests.token_cap", "token_cap and reasoning")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        if "max_completion_tokens" in sent.body:
            # The older name for every model: OpenAI's reasoning models refuse it.
            sent.body["max_tokens"] = sent.body.pop("max_completion_tokens")
        return sent


class EffortAsReasoningObject(ServedOpenAI):
    """Sends the reasoning effort in OpenRouter's form to OpenAI itself."""

    fails_on = ("reasoning.effort_levels", "effort_levels")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        if "reasoning_effort" in sent.body:
            # The reasoning style switch read inverted: every server gets OpenRouter's object.
            sent.body["reasoning"] = {"effort": sent.body.pop("reasoning_effort")}
        return sent


class PricesFromTheList(ServedOpenRouter):
    """Prices every answer from its price list, ignoring the cost OpenRouter reports."""

    fails_on = ("types.reported_cost", "reported_cost and chat")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        # The reported cost dropped: the core then prices the usage from the declared list.
        return attrs.evolve(decoded, cost=None)


class _CostUnaskedDecoder(ChatStreamDecoder):
    def _usage_in(self, obj: Mapping[str, Any]) -> None:
        # Reads a reported cost on chat only: a stream's usage is kept, its cost never read.
        self._usage_cost = False
        super()._usage_in(obj)


class StreamIgnoresReportedCost(ServedOpenRouter):
    """Reads OpenRouter's reported cost on chat, but never on a stream."""

    fails_on = ("types.reported_cost", "reported_cost and stream")
    codec = _streaming_with(_CostUnaskedDecoder)


class _CodeIgnoredDecoder(ChatStreamDecoder):
    def _error(self, payload: Any) -> LmuxError:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and "type" not in error:
            # An error object without a type taken for a server failure: its code unread.
            raise ProviderError(str(error.get("message")), provider=self._provider)
        return super()._error(payload)


class RelayedErrorsAreServerErrors(ServedOpenRouter):
    """Takes an error OpenRouter relays mid-stream (a numeric code only) for a 500."""

    fails_on = ("errors.stream_error_status", "stream_error_status")
    codec = _streaming_with(_CodeIgnoredDecoder)


class _FirstPlaceDecoder(ChatStreamDecoder):
    def _tool_deltas(self, raw: Any) -> tuple[ToolCallDelta, ...]:
        deltas = super()._tool_deltas(raw)
        items: Iterable[Any] = raw if isinstance(raw, list) else ()
        # A call without an index put in the first place, as if every delta had index 0.
        return tuple(
            attrs.evolve(delta, index=0)
            if isinstance(item, dict) and "index" not in item
            else delta
            for delta, item in zip(deltas, items, strict=False)
        )


class IndexlessCallsMerged(ServedMistral):
    """Puts Mistral's index-less streamed tool calls all in the first place."""

    fails_on = ("tools.several_calls", "several_calls and stream")
    codec = _streaming_with(_FirstPlaceDecoder)


class _GroqUsageUnreadDecoder(ChatStreamDecoder):
    def _chunk(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            # Reads only a top-level usage: Groq's x_groq.usage is dropped.
            obj = {k: v for k, v in obj.items() if k != "x_groq"}
        return super()._chunk(obj)


class IgnoresGroqUsage(ServedGroq):
    """Reads a stream's usage only at the top level, never in Groq's ``x_groq``."""

    fails_on = ("types.cached_usage", "cached_usage and stream")
    codec = _streaming_with(_GroqUsageUnreadDecoder)


class IgnoresTopLevelCachedTokens(ServedTogether):
    """Reads cached prompt tokens only in ``prompt_tokens_details``, not Together's field."""

    fails_on = ("types.cached_usage", "cached_usage and chat")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        raw = decoded.raw if isinstance(decoded.raw, dict) else {}
        usage = raw.get("usage") if isinstance(raw.get("usage"), dict) else {}
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
        return attrs.evolve(decoded, usage=attrs.evolve(decoded.usage, cache_read_tokens=cached))
