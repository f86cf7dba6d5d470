"""Broken variants of a plugin on the Gemini wire, one defect each, for the detail clauses.

The clauses of :mod:`lmux_plug_contract.detail_contract` run where the wire declares what
they need (a parameters object, a context-length message, reasoning it reads back); the
suite's Gemini wire declares all of it. These variants serve the in-repo Gemini codec as
the ``gemini`` provider (one the Bedrock codec as ``bedrock``) and break one thing each,
the way a plugin author could; each one's ``fails_on`` names the clause it must fail
(``test_broken_plugins.py`` runs them).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from typing import Any

import attrs
import lmux_plug_bedrock
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import FileContent
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import ProviderError
from lmux_plug.wire import WireRequest
from lmux_plug.wire import reclassed
from lmux_plug_bedrock._wire import CODEC as BEDROCK_CODEC
from lmux_plug_gemini._codec import GeminiCodec
from lmux_plug_gemini._codec import GeminiStreamDecoder
from lmux_plug_gemini._spec import SPEC

# Loaded before this file by the tests' conftest (the Anthropic variants' module).
ServedCodec: Any = sys.modules["lmux_contract_examples_shapes"].ServedCodec
parts_of = sys.modules["lmux_contract_examples_shapes"].parts_of
sent_blocks = sys.modules["lmux_contract_examples_shapes"].sent_blocks


class ServedGemini(ServedCodec):  # type: ignore[misc]
    """The in-repo Gemini codec, unbroken, as a plugin object (the baseline)."""

    spec = SPEC
    codec: Any = GeminiCodec()


class ServedBedrock(ServedCodec):  # type: ignore[misc]
    """The in-repo Bedrock codec, unbroken, as a plugin object (the baseline)."""

    spec = lmux_plug_bedrock.SPEC
    codec: Any = BEDROCK_CODEC


def error_events_raised(message_of: Callable[[dict[str, Any]], str | None]) -> GeminiCodec:
    """A Gemini codec whose stream decoder misreads error events.

    ``message_of(event)`` reads a stream event: a message makes it raise a plain
    ``ProviderError`` with that message (whatever the event's code says); None leaves the
    event to the codec.
    """

    class Decoder(GeminiStreamDecoder):
        def _event(self, event: Any) -> ChatChunk | None:
            message = message_of(event) if isinstance(event, dict) else None
            if message is not None:
                raise ProviderError(message, provider=self.provider, model=self.model)
            return super()._event(event)

    class Codec(GeminiCodec):
        stream_decoder_class = Decoder

    return Codec()


class IdsFromCallContent(ServedGemini):
    """Gives id-less calls an id made of their name and arguments: equal calls share it."""

    fails_on = ("tools.repeated_call", "repeated_call and chat")

    def answer(self, decoded: ChatResponse, request: ChatRequest) -> ChatResponse:
        # Derives each id from the call alone (name and arguments), not from its place.
        calls = [
            attrs.evolve(
                call,
                id="call_"
                + hashlib.sha256(f"{call.name}{call.arguments}".encode()).hexdigest()[:12],
            )
            for call in decoded.tool_calls
        ]
        return attrs.evolve(decoded, tool_calls=calls)


class DropsAnswerSignature(ServedGemini):
    """Sends signatures back on thought parts only, not on the answer part that carried one."""

    fails_on = ("reasoning.round_trip", "round_trip")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        for part in sent_blocks(sent, "contents", "parts"):
            if not part.get("thought"):
                part.pop("thoughtSignature", None)
        return sent


class ReplacesGenerationConfig(ServedGemini):
    """Lets an extra_body generationConfig replace the typed parameters' one."""

    fails_on = ("requests.nested_extra", "nested_extra")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        # A shallow merge: the caller's generationConfig replaces the one built from the
        # typed parameters.
        return attrs.evolve(sent, body={**sent.body, **request.extra})


class _ContextErrorIsPlainCodec(GeminiCodec):
    def refine_error(self, error: LmuxError) -> LmuxError:
        refined = super().refine_error(error)
        if not isinstance(refined, InvalidRequestError):
            return refined
        # Every 400 the same class: the context-length refusal is not told apart.
        return reclassed(refined, InvalidRequestError)


class ContextErrorIsPlain(ServedGemini):
    """Maps a prompt-too-long refusal to a plain InvalidRequestError."""

    fails_on = ("errors.context_length", "context_length")

    codec = _ContextErrorIsPlainCodec()


class RefusesPdfData(ServedGemini):
    """Refuses a PDF given as data (only file ids) while the model declares files."""

    fails_on = ("requests.pdf_document", "pdf_document")

    def refusal(self, request: ChatRequest) -> str | None:
        if any(isinstance(p, FileContent) and p.data is not None for p in parts_of(request)):
            # Takes uploaded files only, though the model declares files.
            return "send documents as file ids"
        return None


class ErrorMessageByKey(ServedGemini):
    """Reads a stream error event's message by key: an event without one raises KeyError."""

    fails_on = ("errors.odd_error_event", "odd_error_event")

    # Trusts the error object to hold a message.
    codec = error_events_raised(
        lambda event: event["error"]["message"] if "error" in event else None
    )


class RefusesRequiredChoice(ServedGemini):
    """Refuses tool_choice='required' (with tools given) as invalid input."""

    fails_on = ("requests.tool_choice", "tool_choice and required")

    def refusal(self, request: ChatRequest) -> str | None:
        if request.tool_choice is not None and request.tool_choice.mode == "required":
            # Calls a choice the API takes (mode ANY) invalid input.
            return "tool_choice='required' is not valid"
        return None


class SendsBareToolResult(ServedGemini):
    """Sends a plain-text tool result as a bare string where the API takes an object."""

    fails_on = ("requests.conversation", "conversation and tool_result")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        for part in sent_blocks(sent, "contents", "parts"):
            answer = part.get("functionResponse")
            if isinstance(answer, dict) and set(answer["response"]) == {"result"}:
                # A text result sent as a bare string (the API takes only objects).
                answer["response"] = answer["response"]["result"]
        return sent


class ParsesArgumentsBlindly(ServedGemini):
    """Parses sent-back tool-call arguments with json.loads unguarded (a JSONDecodeError)."""

    fails_on = ("requests.odd_tool_arguments", "odd_tool_arguments")

    def refusal(self, request: ChatRequest) -> str | None:
        for message in request.messages:
            for call in getattr(message, "tool_calls", ()):
                json.loads(call.arguments)  # trusts the arguments to be JSON
        return None


class SendsLevelNone(ServedGemini):
    """Sends reasoning_effort='none' to Gemini 3 as thinkingLevel 'none' (not a level)."""

    fails_on = ("reasoning.effort_levels", "effort_levels")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
        if request.reasoning_effort == "none" and "thinkingLevel" in thinking:
            # Passes the effort through as a Gemini 3 level, which has no "none".
            thinking["thinkingLevel"] = "none"
        return sent


class TurnsThinkingOff(ServedGemini):
    """Sends every reasoning_effort to Gemini 2.5 as a thinking budget of 0 (thinking off)."""

    fails_on = ("reasoning.effort_levels", "effort_levels")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
        if "thinkingBudget" in thinking:
            # Every level sent as "none": the caller's reasoning_effort has no effect.
            thinking["thinkingBudget"] = 0
        return sent


class FormatFromSuffix(ServedBedrock):
    """The in-repo Bedrock codec, reading an S3 image's format after its last dot unchecked."""

    fails_on = ("requests.linked_image", "linked_image")

    def refusal(self, request: ChatRequest) -> str | None:
        for part in parts_of(request):
            if isinstance(part, ImageContent) and part.url.startswith("s3://"):
                part.url.rsplit(".", 1)[1]  # an IndexError when the name has no dot
        return None
