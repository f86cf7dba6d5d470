"""Broken variants of the in-repo Gemini codec for the clauses of ``answer_contract``.

Each breaks one rule about answers met side by side (call ids across two answers), in a
shape the request did not ask for (a whole JSON answer to a streamed call, an empty
body), a tool choice without tools, an answer the output limit ended or a thinking budget
at the smallest cap: the defects mutation testing of the Gemini, Bedrock and Ollama
codecs found alive there on fresh draws. Each states the clause it must fail (``fails_on``);
``test_broken_plugins.py`` runs them as the provider their ``spec`` declares.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import attrs
import lmux_plug_bedrock
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import ProviderContext
from lmux_plug import hookimpl
from lmux_plug.codec import tool_call_id
from lmux_plug.wire import WireRequest
from lmux_plug_bedrock._codec import _BUDGETS as BEDROCK_BUDGETS
from lmux_plug_gemini._codec import GeminiCodec
from lmux_plug_gemini._codec import GeminiStreamDecoder

# Loaded before this file by the tests' conftest (the detail and family variants' modules).
ServedGemini: Any = sys.modules["lmux_contract_examples_details"].ServedGemini
ServedBedrock: Any = sys.modules["lmux_contract_examples_details"].ServedBedrock


def _decoding_with(decoder: type[GeminiStreamDecoder]) -> GeminiCodec:
    """The Gemini codec whose streams ``decoder`` (a broken subclass) decodes."""
    return type("Codec", (GeminiCodec,), {"stream_decoder_class": decoder})()  # type: ignore[no-any-return]


class _IdsWithoutAnswerScopeDecoder(GeminiStreamDecoder):
    def _event(self, event: Mapping[str, Any]) -> ChatChunk | None:
        chunk = super()._event(event)
        if chunk is None or not chunk.tool_call_deltas:
            return chunk
        # Ids derived from the call and its place only: the answer's responseId left out.
        deltas = tuple(
            attrs.evolve(d, id=tool_call_id(None, d.name, json.loads(d.arguments), d.index))
            for d in chunk.tool_call_deltas
        )
        return attrs.evolve(chunk, tool_call_deltas=deltas)


class IdsWithoutAnswerScope(ServedGemini):  # type: ignore[misc]
    """Streams derive id-less calls' ids from name, arguments and place, not the answer id."""

    fails_on = ("tools.ids_across_answers", "ids_across_answers and stream")

    codec = _decoding_with(_IdsWithoutAnswerScopeDecoder)


class _WholeAnswerAsArrayDecoder(GeminiStreamDecoder):
    def finish(self) -> ChatChunk:
        if self._mode == "object":
            # A body that is not SSE taken for Gemini's JSON array: its first element read.
            whole = json.loads("".join(self._object) or "[]")
            self._object = [json.dumps(whole[0])]
        return super().finish()


class WholeAnswerAsArray(ServedGemini):  # type: ignore[misc]
    """Reads a whole JSON answer to a streamed call as a JSON array (a KeyError escapes)."""

    fails_on = ("streaming.whole_answer", "whole_answer")

    codec = _decoding_with(_WholeAnswerAsArrayDecoder)


class ToolConfigWithoutTools(ServedGemini):  # type: ignore[misc]
    """Sends tool_choice auto or none as a functionCallingConfig with no function declared."""

    fails_on = ("requests.tool_choice_without_tools", "tool_choice_without_tools and auto")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        choice = request.tool_choice
        if choice is not None and choice.mode in ("auto", "none") and not request.tools:
            # The caller's choice passed on although no function is declared.
            mode = {"auto": "AUTO", "none": "NONE"}[choice.mode]
            sent.body["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
        return sent


class LengthIsStop(ServedGemini):  # type: ignore[misc]
    """Reports an answer the output limit ended (MAX_TOKENS) as finished STOP."""

    fails_on = ("types.length_finish", "length_finish and chat")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        if decoded.finish_reason is FinishReason.LENGTH:
            # Every ending without calls taken for a whole answer, the output limit's too.
            return attrs.evolve(decoded, finish_reason=FinishReason.STOP)
        return decoded


class _EmptyStreamIsEmptyAnswerDecoder(GeminiStreamDecoder):
    def finish(self) -> ChatChunk:
        if self._mode is None:
            # No byte read: taken for an answer that said nothing, not a cut-off one.
            return ChatChunk(finish_reason=FinishReason.STOP, model=self.model)
        return super().finish()


class EmptyStreamIsEmptyAnswer(ServedGemini):  # type: ignore[misc]
    """Ends a stream whose body was empty with a STOP chunk instead of an error."""

    fails_on = ("errors.empty_answer", "empty_answer and stream")

    codec = _decoding_with(_EmptyStreamIsEmptyAnswerDecoder)


class CapAtMinimumBudget(ServedBedrock):  # type: ignore[misc]
    """The in-repo Bedrock plugin, refusing only a max_tokens below the minimum budget (1024).

    A cap of exactly 1024 leaves 1023 tokens to think, below the 1024 Claude takes: the
    budget is shrunk to ``cap - 1`` there too, and the API refuses the body.
    """

    fails_on = ("reasoning.small_cap", "small_cap and 1024")

    @hookimpl
    async def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> ChatResponse:
        """Chat through the Bedrock plugin, the budget fitted with an off-by-one check."""
        level, cap = request.reasoning_effort, request.max_tokens
        if level in BEDROCK_BUDGETS and cap == BEDROCK_BUDGETS["minimal"]:
            # The cap-1 budget the plugin fits for larger caps, sent at the boundary too.
            thinking = {"thinking": {"type": "enabled", "budget_tokens": cap - 1}}
            extra = {**request.extra, "additionalModelRequestFields": thinking}
            request = attrs.evolve(request, reasoning_effort=None, extra=extra)
        response: ChatResponse = await lmux_plug_bedrock.lmux_plug_chat(
            request=request, provider=provider
        )
        return response
