"""Broken variants of a plugin on the Anthropic wire, one defect each, for the shape clauses.

The clauses of :mod:`lmux_plug_contract.shape_contract` run where the wire can read a
conversation back and render reasoning and parallel tool calls; the suite's Anthropic
wire can, the OpenAI one the ``acme`` example speaks does not (yet). So these variants
serve the in-repo Anthropic codec as the ``anthropic`` provider and break one thing each,
the way a plugin author could: ``SHAPE_DEFECTS`` maps each to the clause it must fail
(``test_broken_plugins.py`` runs them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Sequence
from typing import Any

import attrs
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderContext
from lmux_plug import ProviderSpec
from lmux_plug import hookimpl
from lmux_plug import wire
from lmux_plug.wire import WireRequest
from lmux_plug.wire import WireResponse
from lmux_plug_anthropic._codec import AnthropicCodec
from lmux_plug_anthropic._spec import SPEC


class ServedCodec:
    """An in-repo codec served as a plugin object declaring ``spec`` (the baseline).

    Subclasses set ``spec`` and ``codec``; a broken variant swaps ``codec`` for a subclass
    with one defect. ``broken/details.py`` serves the Gemini codec through it too.
    """

    spec: ProviderSpec
    codec: Any

    @hookimpl
    def lmux_plug_providers(self) -> Sequence[ProviderSpec]:
        """Declare the provider."""
        return [self.spec]

    @hookimpl
    def lmux_plug_wires(self) -> Sequence[str]:
        """Serve the provider's wire."""
        return [self.spec.wire]

    @hookimpl
    def lmux_plug_chat(
        self, request: ChatRequest, provider: ProviderContext
    ) -> Awaitable[ChatResponse]:
        """Chat through the codec."""
        return wire.send_chat(self.codec, request, provider)

    @hookimpl
    def lmux_plug_stream(
        self, request: ChatRequest, provider: ProviderContext
    ) -> AsyncIterator[ChatChunk]:
        """Stream through the codec."""
        return wire.stream_chat(self.codec, request, provider)


class ServedAnthropic(ServedCodec):
    """The in-repo Anthropic codec, unbroken, as a plugin object (the baseline)."""

    spec = SPEC
    codec: Any = AnthropicCodec()


class _MergesIntoFirstTurnCodec(AnthropicCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        sent = super().encode_chat(request, provider, stream=stream)
        turns = sent.body["messages"]
        users = [t for t in turns if t["role"] == "user"]
        if len(users) > 1:
            # Merges the last user turn into the first one (an off-by-one in turn merging).
            users[0]["content"].extend(users[-1]["content"])
            turns.remove(users[-1])
        return sent


class MergesIntoFirstTurn(ServedAnthropic):
    """Merges a user turn into the first user turn instead of the one before it."""

    codec = _MergesIntoFirstTurnCodec()


class _DropsToolErrorFlagCodec(AnthropicCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        sent = super().encode_chat(request, provider, stream=stream)
        for turn in sent.body["messages"]:
            for block in turn["content"]:
                block.pop("is_error", None)
        return sent


class DropsToolErrorFlag(ServedAnthropic):
    """Sends a failed tool result as if it had succeeded."""

    codec = _DropsToolErrorFlagCodec()


class _DropsThinkingSignaturesCodec(AnthropicCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        decoded = super().decode_chat(response, request, provider)
        thinking = [attrs.evolve(b, signature=None) for b in decoded.thinking]
        return attrs.evolve(decoded, thinking=thinking)


class DropsThinkingSignatures(ServedAnthropic):
    """Keeps the reasoning text but drops its signature (the caller cannot send it back)."""

    codec = _DropsThinkingSignaturesCodec()


class _KeepsLastToolCallCodec(AnthropicCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        decoded = super().decode_chat(response, request, provider)
        return attrs.evolve(decoded, tool_calls=decoded.tool_calls[-1:])


class KeepsLastToolCall(ServedAnthropic):
    """Decodes only the last of several tool calls in an answer."""

    codec = _KeepsLastToolCallCodec()


class _RefusesTopPBoundsCodec(AnthropicCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        if request.top_p is not None and not 0.0 < request.top_p < 1.0:
            msg = f"top_p must be between 0 and 1, got {request.top_p}"
            raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        return super().encode_chat(request, provider, stream=stream)


class RefusesTopPBounds(ServedAnthropic):
    """Refuses top_p of exactly 0 or 1 (an open interval where the API's is closed)."""

    codec = _RefusesTopPBoundsCodec()


class _RefusesPrefillCodec(AnthropicCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        if request.messages and request.messages[-1].role == "assistant":
            msg = "the conversation must end with a user message"
            raise InvalidRequestError(msg, provider=provider.name, model=request.model)
        return super().encode_chat(request, provider, stream=stream)


class RefusesPrefill(ServedAnthropic):
    """Refuses a conversation whose last turn is the assistant's, as if it were malformed."""

    codec = _RefusesPrefillCodec()


class _JsonAnswerAsToolCallCodec(AnthropicCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        # Forgets, when decoding, that the request asked for JSON through a forced tool.
        plain = attrs.evolve(request, response_format=None)
        return super().decode_chat(response, plain, provider)


class JsonAnswerAsToolCall(ServedAnthropic):
    """Returns a JSON-mode answer as a call of its synthetic tool instead of as the text."""

    codec = _JsonAnswerAsToolCallCodec()


class _ForgetsFilesBetaCodec(AnthropicCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        sent = super().encode_chat(request, provider, stream=stream)
        headers = {k: v for k, v in sent.headers.items() if k != "anthropic-beta"}
        return attrs.evolve(sent, headers=headers)


class ForgetsFilesBeta(ServedAnthropic):
    """Sends a Files API file id without the beta flag the API needs to read it."""

    codec = _ForgetsFilesBetaCodec()


class _BudgetBelowMinimumCodec(AnthropicCodec):
    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        sent = super().encode_chat(request, provider, stream=stream)
        thinking = sent.body.get("thinking")
        if request.reasoning_effort == "minimal" and isinstance(thinking, dict):
            # Halves the smallest budget, below the API's minimum of 1024 tokens.
            thinking["budget_tokens"] //= 2
        return sent


class BudgetBelowMinimum(ServedAnthropic):
    """Sends reasoning_effort='minimal' as a thinking budget of 512, which the API refuses."""

    codec = _BudgetBelowMinimumCodec()


class _CutCallAsToolCallsCodec(AnthropicCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        decoded = super().decode_chat(response, request, provider)
        if decoded.tool_calls:
            # Any answer holding a tool call is reported as a complete call.
            return attrs.evolve(decoded, finish_reason=FinishReason.TOOL_CALLS)
        return decoded


class CutCallAsToolCalls(ServedAnthropic):
    """Reports a tool call the max_tokens limit cut off as a finished call (tool_calls)."""

    codec = _CutCallAsToolCallsCodec()


#: variant -> (the clause that must fail, the -k expression that selects it)
SHAPE_DEFECTS: dict[str, tuple[str, str]] = {
    "MergesIntoFirstTurn": ("requests.conversation", "conversation"),
    "DropsToolErrorFlag": ("requests.conversation", "conversation"),
    "RefusesPrefill": ("requests.conversation", "conversation and prefill"),
    "DropsThinkingSignatures": ("reasoning.thinking", "reasoning_thinking"),
    "KeepsLastToolCall": ("tools.several_calls", "several_calls"),
    "RefusesTopPBounds": ("requests.parameter_bounds", "parameter_bounds"),
    "JsonAnswerAsToolCall": ("types.json_answer", "json_answer"),
    "ForgetsFilesBeta": ("requests.content_parts", "content_parts and file_id"),
    "BudgetBelowMinimum": ("reasoning.effort_levels", "effort_levels"),
    "CutCallAsToolCalls": ("tools.cut_off", "cut_off"),
}
