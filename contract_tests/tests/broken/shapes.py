"""Broken variants of a plugin on the Anthropic wire, one defect each, for the shape clauses.

The clauses of :mod:`lmux_plug_contract.shape_contract` run where the wire can read a
conversation back and render reasoning and parallel tool calls; the suite's Anthropic
wire can, the OpenAI one the ``acme`` example speaks does not (yet). So these variants
serve the in-repo Anthropic codec as the ``anthropic`` provider and break one thing each,
the way a plugin author could; each one's ``fails_on`` names the clause it must fail
(``test_broken_plugins.py`` runs them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Iterator
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

    Subclasses set ``spec`` and ``codec``. A broken variant breaks one thing, either by
    swapping ``codec`` for a subclass with one defect or, for the common kinds of defect,
    by overriding one of :meth:`ask`, :meth:`refusal`, :meth:`send` and :meth:`answer`:
    the variant then serves its codec through a subclass that applies them (so the stream
    path, which encodes through the same ``encode_chat``, carries the defect too).
    ``broken/details.py`` serves the Gemini and Bedrock codecs through it too.
    """

    spec: ProviderSpec
    codec: Any

    def __init__(self) -> None:
        """Serve ``codec``, through the variant's alterations when it overrides any."""
        if any(
            getattr(type(self), name) is not getattr(ServedCodec, name)
            for name in ("ask", "refusal", "send", "answer")
        ):
            self.codec = _altered(type(self).codec, self)

    def ask(self, request: ChatRequest) -> ChatRequest:
        """The request the variant has the codec encode in place of ``request``."""
        return request

    def refusal(self, request: ChatRequest) -> str | None:
        """Why the variant refuses ``request`` as invalid before encoding it (None: it does not)."""
        return None

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        """What the variant sends instead of the codec's encoding ``sent`` of ``request``."""
        return sent

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        """What the variant returns instead of the codec's decoding ``decoded`` of an answer."""
        return decoded

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


def parts_of(request: ChatRequest) -> Iterator[Any]:
    """Every content part of ``request``'s messages, in order (a plain-text one has none)."""
    for message in request.messages:
        content = getattr(message, "content", None)
        yield from content if isinstance(content, tuple) else ()


def sent_blocks(sent: WireRequest, turns: str, blocks: str) -> Iterator[dict[str, Any]]:
    """Every content block of the turns a body sends (``sent.body[turns][i][blocks]``), in order."""
    for turn in sent.body[turns]:
        yield from turn[blocks]


def _altered(codec: Any, variant: ServedCodec) -> Any:
    """A codec like ``codec`` whose chat encoding and decoding go through ``variant``."""

    class Altered(type(codec)):  # type: ignore[misc]
        def encode_chat(
            self, request: ChatRequest, provider: ProviderContext, *, stream: bool
        ) -> WireRequest:
            refusal = variant.refusal(request)
            if refusal is not None:
                raise InvalidRequestError(refusal, provider=provider.name, model=request.model)
            sent = super().encode_chat(variant.ask(request), provider, stream=stream)
            return variant.send(sent, request)

        def decode_chat(
            self, response: WireResponse, request: ChatRequest, provider: ProviderContext
        ) -> ChatResponse:
            return variant.answer(super().decode_chat(response, request, provider), request)

    return Altered()


class ServedAnthropic(ServedCodec):
    """The in-repo Anthropic codec, unbroken, as a plugin object (the baseline)."""

    spec = SPEC
    codec: Any = AnthropicCodec()


class MergesIntoFirstTurn(ServedAnthropic):
    """Merges a user turn into the first user turn instead of the one before it."""

    fails_on = ("requests.conversation", "conversation")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        turns = sent.body["messages"]
        users = [t for t in turns if t["role"] == "user"]
        if len(users) > 1:
            # Merges the last user turn into the first one (an off-by-one in turn merging).
            users[0]["content"].extend(users[-1]["content"])
            turns.remove(users[-1])
        return sent


class DropsToolErrorFlag(ServedAnthropic):
    """Sends a failed tool result as if it had succeeded."""

    fails_on = ("requests.conversation", "conversation")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        for block in sent_blocks(sent, "messages", "content"):
            block.pop("is_error", None)
        return sent


class DropsThinkingSignatures(ServedAnthropic):
    """Keeps the reasoning text but drops its signature (the caller cannot send it back)."""

    fails_on = ("reasoning.thinking", "reasoning_thinking")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        thinking = [attrs.evolve(b, signature=None) for b in decoded.thinking]
        return attrs.evolve(decoded, thinking=thinking)


class KeepsLastToolCall(ServedAnthropic):
    """Decodes only the last of several tool calls in an answer."""

    fails_on = ("tools.several_calls", "several_calls")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        return attrs.evolve(decoded, tool_calls=decoded.tool_calls[-1:])


class RefusesTopPBounds(ServedAnthropic):
    """Refuses top_p of exactly 0 or 1 (an open interval where the API's is closed)."""

    fails_on = ("requests.parameter_bounds", "parameter_bounds")

    def refusal(self, request: ChatRequest) -> str | None:
        if request.top_p is not None and not 0.0 < request.top_p < 1.0:
            return f"top_p must be between 0 and 1, got {request.top_p}"
        return None


class RefusesPrefill(ServedAnthropic):
    """Refuses a conversation whose last turn is the assistant's, as if it were malformed."""

    fails_on = ("requests.conversation", "conversation and prefill")

    def refusal(self, request: ChatRequest) -> str | None:
        if request.messages and request.messages[-1].role == "assistant":
            return "the conversation must end with a user message"
        return None


class _JsonAnswerAsToolCallCodec(AnthropicCodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        # Forgets, when decoding, that the request asked for JSON through a forced tool.
        plain = attrs.evolve(request, response_format=None)
        return super().decode_chat(response, plain, provider)


class JsonAnswerAsToolCall(ServedAnthropic):
    """Returns a JSON-mode answer as a call of its synthetic tool instead of as the text."""

    fails_on = ("types.json_answer", "json_answer")

    codec = _JsonAnswerAsToolCallCodec()


class ForgetsFilesBeta(ServedAnthropic):
    """Sends a Files API file id without the beta flag the API needs to read it."""

    fails_on = ("requests.content_parts", "content_parts and file_id")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        headers = {k: v for k, v in sent.headers.items() if k != "anthropic-beta"}
        return attrs.evolve(sent, headers=headers)


class BudgetBelowMinimum(ServedAnthropic):
    """Sends reasoning_effort='minimal' as a thinking budget of 512, which the API refuses."""

    fails_on = ("reasoning.effort_levels", "effort_levels")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("thinking")
        if request.reasoning_effort == "minimal" and isinstance(thinking, dict):
            # Halves the smallest budget, below the API's minimum of 1024 tokens.
            thinking["budget_tokens"] //= 2
        return sent


class CutCallAsToolCalls(ServedAnthropic):
    """Reports a tool call the max_tokens limit cut off as a finished call (tool_calls)."""

    fails_on = ("tools.cut_off", "cut_off")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        if decoded.tool_calls:
            # Any answer holding a tool call is reported as a complete call.
            return attrs.evolve(decoded, finish_reason=FinishReason.TOOL_CALLS)
        return decoded
