"""Broken variants of the in-repo Anthropic codec for the clauses of ``margins_contract``.

(Also for ``budget_caps_contract`` and ``chunk_contract``, written from the same codec's later
survivors: the variants at the end of this file.)

Each carries one defect that mutation testing of the Anthropic codec showed the suite let
live, written the way a plugin author could: the codec served as a plugin object (as
``broken/shapes.py`` serves it), one thing changed. Each one's ``fails_on`` names the
clause it must fail (``test_broken_plugins.py`` runs them as ``anthropic``). Loaded after
``shapes.py`` by the tests' conftest.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import attrs
from lmux_plug import AssistantMessage
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderContext
from lmux_plug import ToolMessage
from lmux_plug import UserMessage
from lmux_plug.wire import WireRequest
from lmux_plug_anthropic._codec import REASONING_BUDGETS
from lmux_plug_anthropic._codec import AnthropicCodec
from lmux_plug_anthropic._codec import StreamDecoder
from lmux_plug_anthropic._codec import _BytesDecoder
from lmux_plug_anthropic._codec import json_tool_name

# Loaded under this name, before this file, by the tests' conftest.
ServedAnthropic = sys.modules["lmux_contract_examples_shapes"].ServedAnthropic


class JsonAnswerHasNoCalls(ServedAnthropic):
    """In JSON mode, reads the JSON and drops every other tool call of the answer."""

    fails_on = ("types.json_beside_call", "json_beside_call")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        if json_tool_name(request) is None or decoded.content is None:
            return decoded
        # "A JSON answer is the JSON": the call the model made beside it is lost.
        return attrs.evolve(decoded, tool_calls=[], finish_reason=FinishReason.STOP)


class _RewritingCodec(AnthropicCodec):
    """The codec, encoding the request as the variant's ``rewrite`` changes it (its defect)."""

    def __init__(self, rewrite: Callable[[ChatRequest, ProviderContext], ChatRequest]) -> None:
        self.rewrite = rewrite

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        return super().encode_chat(self.rewrite(request, provider), provider, stream=stream)


def _lenient(part: Any) -> Any:
    if not isinstance(part, FileContent) or part.media_type != "text/plain" or part.data is None:
        return part
    # Decoded without validation (characters outside the alphabet dropped), encoded again.
    data = base64.b64encode(base64.b64decode(part.data, validate=False)).decode()
    return attrs.evolve(part, data=data)


def _lenient_files(request: ChatRequest, _provider: ProviderContext) -> ChatRequest:
    messages = [
        attrs.evolve(m, content=tuple(map(_lenient, m.content)))
        if isinstance(m, UserMessage) and not isinstance(m.content, str)
        else m
        for m in request.messages
    ]
    return attrs.evolve(request, messages=messages)


class DecodesFileDataLeniently(ServedAnthropic):
    """Reads a text document's base64 leniently: junk in the data changes the document."""

    fails_on = ("requests.file_data", "file_data")
    codec = _RewritingCodec(_lenient_files)


def _declared_limit(request: ChatRequest, provider: ProviderContext) -> ChatRequest:
    if request.reasoning_effort in REASONING_BUDGETS and request.max_tokens is None:
        # The model's declared output limit, looked up as if every model were declared.
        limit = provider.spec.model(request.model).max_output_tokens  # type: ignore[union-attr]
        return attrs.evolve(request, max_tokens=limit)
    return request


class AssumesDeclaredModel(ServedAnthropic):
    """Looks an undeclared model's output limit up anyway when reasoning is asked for."""

    fails_on = ("reasoning.undeclared_model", "undeclared_model")
    codec = _RewritingCodec(_declared_limit)


class SendsPrefillAsGiven(ServedAnthropic):
    """Sends a final assistant turn (a prefill) as the caller wrote it, trailing space too."""

    fails_on = ("requests.conversation_order", "conversation_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        last, turns = request.messages[-1], sent.body["messages"]
        blocks = turns[-1]["content"] if turns and turns[-1]["role"] == "assistant" else []
        text = blocks[-1] if blocks and blocks[-1]["type"] == "text" else None
        if isinstance(last, AssistantMessage) and last.content and text is not None:
            # The API refuses a final assistant text ending in whitespace: not stripped.
            text["text"] = last.content
        return sent


class _UnlistedIsClientErrorDecoder(StreamDecoder):
    def _on_error(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        error = data.get("error")
        kind = error.get("type") if isinstance(error, Mapping) else None
        if kind not in ("overloaded_error", "api_error", "rate_limit_error"):
            # Every error type it was not written for is taken for the caller's fault.
            message = str(error.get("message")) if isinstance(error, Mapping) else str(data)
            raise InvalidRequestError(message, provider=self.provider, model=self.model)
        return super()._on_error(data)


class _DecoderCodec(AnthropicCodec):
    """The codec whose stream decoder is of the variant's subclass (one method changed)."""

    def __init__(self, decoder: type[StreamDecoder]) -> None:
        self.decoder = decoder

    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> _BytesDecoder:
        decoder = super().stream_decoder(request, provider, headers)
        decoder._events.__class__ = self.decoder  # the codec's own decoder, one change
        return decoder


class UnlistedErrorIsInvalid(ServedAnthropic):
    """Reads an error event of a type it does not know as an invalid request (a 400)."""

    fails_on = ("errors.unknown_error_type", "unknown_error_type")
    codec = _DecoderCodec(_UnlistedIsClientErrorDecoder)


def _cache_marks(request: ChatRequest) -> int:
    marks = 0
    for message in request.messages:
        marks += bool(getattr(message, "cache_control", False))
        parts = () if isinstance(message.content, str) else message.content or ()
        marks += sum(bool(getattr(part, "cache_control", False)) for part in parts)
    return marks


class AllowsThreeCacheMarks(ServedAnthropic):
    """Refuses four cache breakpoints, the most the API takes (an off-by-one limit)."""

    fails_on = ("requests.cache_marks", "cache_marks")

    def refusal(self, request: ChatRequest) -> str | None:
        if _cache_marks(request) >= 4:
            return "at most 3 cache_control markers are allowed"
        return None


class CacheWritesNotCounted(ServedAnthropic):
    """Counts the prompt tokens read from the cache but not those written to it."""

    fails_on = ("types.cached_usage", "cached_usage")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        usage = decoded.usage
        written = usage.cache_creation_tokens
        counted = attrs.evolve(
            usage, input_tokens=usage.input_tokens - written, cache_creation_tokens=0
        )
        return attrs.evolve(decoded, usage=counted)


class RefusesTemperatureZero(ServedAnthropic):
    """Refuses a temperature of 0 (greedy sampling), as if the range were open at 0."""

    fails_on = ("requests.temperature_bounds", "temperature_bounds")

    def refusal(self, request: ChatRequest) -> str | None:
        if request.temperature is not None and request.temperature <= 0.0:
            return f"temperature must be above 0, got {request.temperature}"
        return None


class EveryAnswerIsRefusal(ServedAnthropic):
    """Reports the text of every answer as a refusal too (an inverted stop-reason check)."""

    fails_on = ("types.refusal", "types_refusal")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        return attrs.evolve(decoded, refusal=decoded.content)


class _NoEmptyInputDecoder(StreamDecoder):
    def _on_content_block_stop(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        # Forgets that a call without input streamed no JSON: its arguments stay "".
        index = data.get("index")
        state = self._blocks.get(index) if isinstance(index, int) else None
        if state is not None and state.kind == "tool_use":
            return []
        return super()._on_content_block_stop(data)


class EmptyArgumentsStayEmpty(ServedAnthropic):
    """Streams a call of a tool without parameters with arguments "" (not JSON)."""

    fails_on = ("tools.no_arguments", "no_arguments")
    codec = _DecoderCodec(_NoEmptyInputDecoder)


class HalvesBudgetUnderCap(ServedAnthropic):
    """Fits a budget under a small cap as half the cap, not the cap less one token.

    Each budget is one the API accepts; at ``max_tokens=3000`` ``low`` keeps its 2048 while
    ``medium`` gets 1500: the higher level thinks less (``reasoning.budget_caps``).
    """

    fails_on = ("reasoning.budget_caps", "budget_caps")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking, cap = sent.body.get("thinking"), sent.body["max_tokens"]
        if (
            thinking
            and thinking["budget_tokens"] == cap - 1
            and cap // 2 >= REASONING_BUDGETS["minimal"]
        ):
            thinking["budget_tokens"] = cap // 2
        return sent


class BudgetBeyondOutputLimit(ServedAnthropic):
    """Without a cap, sends each level's budget and the answer room past the model's limit."""

    fails_on = ("reasoning.budget_caps", "budget_caps")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        level = request.reasoning_effort
        if request.max_tokens is None and level in REASONING_BUDGETS and "thinking" in sent.body:
            # The level's budget kept whole: Opus 4's 32,000 output tokens ignored at xhigh.
            budget = REASONING_BUDGETS[level]
            sent.body["thinking"]["budget_tokens"] = budget
            sent.body["max_tokens"] = max(sent.body["max_tokens"], budget + 4096)
        return sent


class _EmptyChunkDecoder(StreamDecoder):
    def _on_message_stop(self, data: Mapping[str, Any]) -> list[ChatChunk]:
        # A held-back text flushed even when nothing was held: an empty chunk at every end.
        return [self._chunk(delta=""), *super()._on_message_stop(data)]


class EmptyChunkBeforeFinish(ServedAnthropic):
    """Hands out a chunk carrying nothing before the terminal chunk of every stream."""

    fails_on = ("streaming.empty_chunks", "empty_chunks")
    codec = _DecoderCodec(_EmptyChunkDecoder)


def _paired_only(request: ChatRequest) -> ChatRequest:
    called: set[str] = set()
    messages = []
    for message in request.messages:
        if isinstance(message, ToolMessage) and message.tool_call_id not in called:
            continue  # a result that answers no call: dropped instead of refused
        if isinstance(message, AssistantMessage):
            called = {call.id for call in message.tool_calls}
        messages.append(message)
    return attrs.evolve(request, messages=messages)


class DropsUnpairedResults(ServedAnthropic):
    """Drops a tool result that answers no call and sends the rest, instead of refusing it."""

    fails_on = ("requests.tool_pairs", "tool_pairs and orphan_result")

    def ask(self, request: ChatRequest) -> ChatRequest:
        return _paired_only(request)


class NoAnswerRoom(ServedAnthropic):
    """Without a cap, sends max_tokens one token above the budget: no room to answer."""

    fails_on = ("reasoning.budget_caps", "budget_caps")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("thinking")
        if request.max_tokens is None and thinking:
            # The cap fitted to the budget alone, as if thinking were the whole answer.
            sent.body["max_tokens"] = thinking["budget_tokens"] + 1
        return sent


class LeavesTemperatureToApi(ServedAnthropic):
    """Sends any temperature the core takes (0 to 2), leaving the API to refuse one above 1."""

    fails_on = ("requests.temperature_range", "temperature_range")

    def ask(self, request: ChatRequest) -> ChatRequest:
        return attrs.evolve(request, temperature=None)  # encoded below, unchecked

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        if request.temperature is not None:
            sent.body["temperature"] = request.temperature
        return sent


class MarkOverwritesFirstPart(ServedAnthropic):
    """Marks a whole message by writing its last block, marked, over its first one.

    The marks read back are right (the last part's text, marked); the message's first part
    is lost and its last one said twice.
    """

    fails_on = ("requests.cache_marks", "cache_marks")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        for turn in sent.body["messages"]:
            blocks = turn["content"]
            if len(blocks) > 1 and "cache_control" in blocks[-1]:
                blocks[0] = blocks.pop()
        return sent
