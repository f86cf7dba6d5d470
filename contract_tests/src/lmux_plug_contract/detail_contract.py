"""Contract clauses on details the canonical exchange holds only once, or not at all.

:class:`DetailContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Gemini, Bedrock and Anthropic codecs (``contract_tests/mutation``)
showed defects living where every canonical answer differs from the one before it, where an
answer is never sent back, and where an error's class hangs on the provider's wording:

- ``tools.repeated_call``: an answer that calls one tool twice with the same arguments (a
  model checking two things the same way does this) gives two calls with distinct ids, and
  a stream numbers them 0 and 1 (ids derived from a call's content alone collide there);
- ``reasoning.round_trip``: an answer with signed reasoning, sent back as
  ``response.message`` (what :attr:`ChatResponse.message` is for), reaches the next body
  with the answer's signature, once, and the answer's text;
- ``requests.nested_extra``: an ``extra_body`` member naming the object of the body that
  holds the sampling parameters (Gemini's ``generationConfig``, Bedrock's
  ``inferenceConfig``; the wire names it in :attr:`parameters_object`) adds its fields
  there without dropping the typed parameters, or is refused before any I/O;
- ``errors.context_length``: the provider's own refusal of a prompt longer than the
  model's context (its words, from the wire's :attr:`context_overflow_message`) raises
  ``ContextLengthExceededError`` (the router's ``context_fallbacks`` hang on that class)
  with status 400, on chat and on a streamed call, and from an in-stream exception where
  the wire sends one (:meth:`context_overflow_event`);
- ``requests.pdf_document``: a model that declares ``files`` carries a PDF given as data
  (the document type every files-capable API takes), as the API reads it; refusing it,
  even before any I/O, is refusing what the declaration promises;
- ``errors.odd_error_event``: an error event mid-stream with a field missing, ``null`` or
  of another JSON type still gives an ``LmuxError`` (or, where the event no longer reads
  as an error, a result), never a foreign exception;
- ``reasoning.effort_levels``: every ``reasoning_effort`` level (``xhigh`` too) on every
  declared reasoning model gives a body whose reasoning settings the API accepts (the
  wire's :meth:`reasoning_refusal`: Claude's thinking budget is at least 1024 tokens and
  below ``max_tokens``; Gemini's thinking level one of the API's, its budget in range;
  above ``none`` reasoning turned on, :meth:`reasoning_enabled`), or is refused before
  any I/O; each model takes at least one level above ``none``.

Each clause is skipped, saying so, on a wire that does not declare what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import ContextLengthExceededError
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import Message
from lmux_plug import PluginError
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolMessage
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.codec import REASONING_EFFORTS

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import fail_foreign as _fail_foreign
from lmux_plug_contract._calls import report_failures
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._calls import skip_refused
from lmux_plug_contract._calls import tool_calls_answer
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._frames import piece_frame
from lmux_plug_contract.breadth_contract import check_data_part_carried
from lmux_plug_contract.depth_contract import odd_variants
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import Said

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["REPEATED_CALLS", "DetailContract"]

#: The same call twice: only the ids (and places) of the two calls differ.
REPEATED_CALLS = (
    canon.TOOL_CALL,
    ToolCall(id="call_contract_3", name=canon.TOOL_CALL.name, arguments=canon.TOOL_CALL.arguments),
)
_REPEATED_PIECES = (canon.TOOL_ARGUMENT_PIECES, canon.TOOL_ARGUMENT_PIECES)
_SIGNED = ThinkingBlock("Weighing the greeting: Paris ✓ 日本.", signature="sig-contract-round-9c2e")
_REASONING_USAGE = Usage(input_tokens=12, output_tokens=7, reasoning_tokens=3)
#: The reasoning_effort levels a caller can pass (the core's parameter check accepts these).
_EFFORT_LEVELS = REASONING_EFFORTS
#: A temperature sent as a typed parameter next to a nested ``extra_body`` member.
_TEMPERATURE = 0.25


def _has_number(value: Any, number: float) -> bool:
    if isinstance(value, dict):
        return any(_has_number(v, number) for v in value.values())
    if isinstance(value, list):
        return any(_has_number(v, number) for v in value)
    return isinstance(value, float) and value == number


def sent_at_level(contract: ContractSession, model: str, level: str) -> CapturedRequest | None:
    """The body a chat call at ``reasoning_effort=level`` sends, or None if refused before I/O.

    A foreign exception, or a refusal after the request was sent, fails the clause.
    """
    before = len(contract.server.requests)
    try:
        contract.run(
            contract.registry.achat(
                contract.ref(model),
                [UserMessage(canon.CHAT_PROMPT)],
                **contract.params(reasoning_effort=level),
            )
        )
    except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
        _fail_foreign(exc, f"reasoning_effort={level!r}")
        assert len(contract.server.requests) == before, (
            f"{model}: reasoning_effort={level!r}: {type(exc).__name__} after the request was "
            f"sent: {exc}"
        )
        return None
    return contract.server.requests[-1]


class DetailContract:
    """Clauses on repeated calls, round trips, nested extras and context errors (mixed in)."""

    @clause("tools.repeated_call")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_repeated_call(self, contract: ContractSession, path: str) -> None:
        """An answer calling one tool twice with the same arguments gives two calls, two ids."""
        wire = contract.require_wire()
        model = contract.model(
            Capability.STREAM if path == "stream" else Capability.CHAT, Capability.TOOLS
        )
        contract.use_server(tool_calls_answer(wire, REPEATED_CALLS, _REPEATED_PIECES, path))
        prompt = [{"role": "user", "content": "What is the weather in Paris, asked twice?"}]
        params = contract.params(tools=[canon.WEATHER_TOOL])
        said = ask(contract, contract.ref(model), prompt, params, path)
        got = said.calls
        if path == "stream":
            assert said.indexes == [0, 1], (
                f"stream: tool-call indexes {said.indexes} (expected [0, 1])"
            )
        assert len(got) == len(REPEATED_CALLS), (
            f"{path}: {len(got)} tool calls, the answer calls {canon.TOOL_CALL.name} twice"
        )
        for position, call in enumerate(got):
            assert call.name == canon.TOOL_CALL.name, f"{path}: call {position} is {call.name}"
            try:
                arguments = json.loads(call.arguments)
            except ValueError:
                pytest.fail(f"{path}: call {position}'s arguments are not JSON: {call.arguments!r}")
            assert arguments == canon.TOOL_ARGUMENTS, (
                f"{path}: call {position} has arguments {arguments}, the answer says "
                f"{canon.TOOL_ARGUMENTS}"
            )
        # Each result names its call by id: two calls under one id cannot both be answered.
        assert len({c.id for c in got}) == len(got), (
            f"{path}: two calls with the same arguments share an id ({[c.id for c in got]})"
        )

    @clause("reasoning.round_trip")
    def test_reasoning_round_trip(self, contract: ContractSession) -> None:
        """An answer's signed reasoning, sent back as response.message, keeps its signature."""
        wire = contract.require_wire()
        render = getattr(wire, "thinking_chat", None)
        read = getattr(wire, "conversation", None)
        if not callable(render) or not callable(read):
            pytest.skip(f"not declared: the wire {wire.name!r} renders or reads no reasoning")
        if not (wire.signs_thinking and wire.returns_thinking):
            pytest.skip(f"not declared: the wire {wire.name!r} sends no signed reasoning back")
        model = contract.model(Capability.CHAT, Capability.REASONING)
        contract.use_server(
            lambda request: render(request, (_SIGNED,), canon.TEXT, _REASONING_USAGE)
        )
        ref = contract.ref(model)
        first = contract.run(contract.registry.achat(ref, [UserMessage(canon.CHAT_PROMPT)]))
        assert isinstance(first, ChatResponse), f"chat returned {type(first).__name__}"
        follow_up: list[Message] = [
            UserMessage(canon.CHAT_PROMPT),
            first.message,
            UserMessage("Go on."),
        ]
        before = len(contract.server.requests)
        try:
            contract.run(contract.registry.achat(ref, follow_up))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, "sending the answer back")
            pytest.fail(f"sending the answer back (response.message) raised {exc!r}")
        assert len(contract.server.requests) > before, "the follow-up call sent no request"
        said: list[Said] = read(contract.server.requests[-1])
        mine = [s for s in said if s.role == "assistant"]
        signatures = [s.signature for s in mine if s.signature]
        # The API checks the signature to trust the reasoning: lost, it refuses the turn or
        # drops the reasoning; another one (or twice) is not what it signed.
        assert signatures == [_SIGNED.signature], (
            f"the answer sent back carries signatures {signatures}; the answer had "
            f"[{_SIGNED.signature!r}]"
        )
        text = "".join(s.text for s in mine if s.kind == "text")
        assert text == canon.TEXT, f"the answer's text went back as {text!r}"
        thoughts = [s.text for s in mine if s.kind == "thinking" and s.text]
        assert thoughts in ([], [_SIGNED.text]), (
            f"the reasoning went back as {thoughts}, not as the answer gave it"
        )

    @clause("requests.nested_extra")
    def test_requests_nested_extra(self, contract: ContractSession) -> None:
        """An extra_body member naming the parameters object adds to it; typed ones stay."""
        wire = contract.require_wire()
        declared = getattr(wire, "parameters_object", None)
        if declared is None:
            pytest.skip(f"not declared: the wire {wire.name!r} names no parameters object")
        name, member = declared
        model = serve_canonical(contract, "chat", Capability.CHAT)
        params = contract.params(temperature=_TEMPERATURE, extra_body={name: dict(member)})
        try:
            contract.run(
                contract.registry.achat(
                    contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], **params
                )
            )
        except (InvalidRequestError, UnsupportedFeatureError) as exc:
            skip_refused(contract, exc, f"extra_body {{{name!r}: ...}}")
        body = contract.server.requests[-1].json()
        nested = body.get(name) if isinstance(body, dict) else None
        assert isinstance(nested, dict), f"the body has no {name!r} object: {body!r:.300}"
        sent = {key: nested.get(key) for key in member}
        assert sent == dict(member), (
            f"extra_body {{{name!r}: {dict(member)}}} reached the body's {name} as {sent}"
        )
        # Replaced wholesale, the typed parameters vanish and nobody is told.
        assert _has_number(body, _TEMPERATURE), (
            f"temperature={_TEMPERATURE} is gone from the body once extra_body names "
            f"{name!r}: {body!r:.300}"
        )

    @clause("errors.context_length")
    @pytest.mark.parametrize("path", ["chat", "stream", "stream_event"])
    def test_errors_context_length(self, contract: ContractSession, path: str) -> None:
        """The provider's context-length refusal raises ContextLengthExceededError (400)."""
        wire = contract.require_wire()
        message = getattr(wire, "context_overflow_message", None)
        if not isinstance(message, str):
            pytest.skip(f"not declared: the wire {wire.name!r} has no context-length message")
        streamed = path != "chat"
        scenario: Callable[[CapturedRequest], Reply]
        if path == "stream_event":
            event = getattr(wire, "context_overflow_event", None)
            if not callable(event):
                pytest.skip(f"not declared: the wire {wire.name!r} sends no such stream event")

            def scenario(request: CapturedRequest) -> Reply:
                # The stream opens and fails at once: the prompt is checked before any text.
                rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
                frames = (event(message), *rendering.frames)
                return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)
        else:

            def scenario(_request: CapturedRequest) -> Reply:
                return wire.error(400, message)

        model = contract.model(Capability.STREAM if streamed else Capability.CHAT)
        contract.use_server(scenario)
        ref, prompt = contract.ref(model), [UserMessage(canon.CHAT_PROMPT)]
        try:
            if streamed:
                contract.collect(contract.registry.achat_stream(ref, prompt, **contract.params()))
            else:
                contract.run(contract.registry.achat(ref, prompt, **contract.params()))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"{path}: a context-length refusal")
            assert isinstance(exc, ContextLengthExceededError), (
                f"{path}: the provider's context-length refusal ({message!r}) raised "
                f"{type(exc).__name__}, expected ContextLengthExceededError"
            )
            # An in-stream refusal has no HTTP status of its own: none, or the right one.
            allowed = (None, 400) if path == "stream_event" else (400,)
            assert exc.status_code in allowed, (
                f"{path}: a context-length error with status_code {exc.status_code}"
            )
            return
        pytest.fail(f"{path}: the call succeeded despite the provider's refusal")

    @clause("requests.pdf_document")
    def test_requests_pdf_document(self, contract: ContractSession) -> None:
        """A model declaring files carries a PDF given as data, as the API reads the part."""
        check_data_part_carried(
            contract, "file_data", "Summarise the attached document ✓.", "a PDF given as data"
        )

    @clause("errors.odd_error_event")
    def test_errors_odd_error_event(self, contract: ContractSession) -> None:
        """An error event with a field missing, null or mistyped still gives an LmuxError."""
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)
        event = wire.stream_error(canon.STREAM_ERROR_MESSAGE)
        start, end = event.find(b"{"), event.rfind(b"}")
        try:
            document = json.loads(event[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            pytest.skip(f"not declared: the wire {wire.name!r}'s error event holds no JSON object")
        failures: list[str] = []
        variants = list(odd_variants(document))
        for label, odd in variants:
            payload = json.dumps(odd, ensure_ascii=False).encode()
            odd_event = wire.replace_event_json(event, payload)

            def scenario(request: CapturedRequest, odd_event: bytes = odd_event) -> Reply:
                rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
                index = piece_frame(rendering.frames, canon.TEXT_PIECES[0]) + 1
                frames = (*rendering.frames[:index], odd_event, *rendering.frames[index:])
                return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

            contract.use_server(scenario)
            try:
                chunks = contract.collect(
                    contract.registry.achat_stream(
                        contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], **contract.params()
                    ),
                    limit=10.0,
                )
            except Exception as exc:  # noqa: BLE001 - each variant is judged on its own
                if isinstance(exc, PluginError) or not isinstance(exc, LmuxError):
                    cause = exc.__cause__ if isinstance(exc, PluginError) else exc
                    failures.append(f"{label}: {type(cause).__name__}: {cause}"[:160])
                continue
            if not all(isinstance(c, ChatChunk) for c in chunks):
                failures.append(f"{label}: the stream gave something other than ChatChunks")
        assert variants, "the error event holds no JSON field to vary"
        report_failures(
            failures,
            len(variants),
            "odd error events let a foreign exception escape (raise an LmuxError instead)",
        )

    @clause("reasoning.effort_levels")
    def test_reasoning_effort_levels(self, contract: ContractSession) -> None:
        """Each reasoning_effort level gives reasoning settings the API accepts, or is refused."""
        wire = contract.require_wire()
        check = getattr(wire, "reasoning_refusal", None)
        if not callable(check):
            pytest.skip(f"not declared: the wire {wire.name!r} does not check reasoning settings")
        first = contract.model(Capability.CHAT, Capability.REASONING)
        wanted = {Capability.CHAT, Capability.REASONING}
        # Every declared reasoning model: a codec may send each family other settings.
        models = [
            m.id for m in contract.spec.models if wanted <= contract.spec.capabilities_of(m.id)
        ]
        contract.use_server(contract.canonical("chat"))
        for model in models or [first]:
            self._effort_levels(contract, check, model)

    def _effort_levels(
        self, contract: ContractSession, check: Callable[[CapturedRequest], str | None], model: str
    ) -> None:
        taken: list[str] = []
        for level in _EFFORT_LEVELS:
            sent = sent_at_level(contract, model, level)
            if sent is None:
                continue  # a level the provider does not offer, refused before any I/O
            enabled = getattr(contract.require_wire(), "reasoning_enabled", None)
            # Above none the caller asked for reasoning: a body that turns it off ignores them.
            assert level == "none" or not callable(enabled) or enabled(sent), (
                f"{model}: reasoning_effort={level!r} sends a body that turns reasoning off"
            )
            refusal = check(sent)
            assert refusal is None, (
                f"{model}: reasoning_effort={level!r} sends reasoning settings the API refuses: "
                f"{refusal}"
            )
            taken.append(level)
        assert set(taken) - {"none"}, (
            f"a reasoning model refused every reasoning_effort level ({', '.join(_EFFORT_LEVELS)})"
        )

    @clause("requests.linked_image")
    def test_requests_linked_image(self, contract: ContractSession) -> None:
        """A linked image in the API's link form reaches the body as that link, its format right."""
        wire = contract.require_wire()
        link = getattr(wire, "image_link", None)
        if not isinstance(link, str):
            pytest.skip(f"not declared: the wire {wire.name!r} names no form of image link")
        model = contract.model(Capability.CHAT, Capability.VISION)
        contract.use_server(contract.canonical("chat"))
        text = "What is in this picture ✓?"
        ref = contract.ref(model)
        prompt = [UserMessage((TextContent(text), ImageContent(url=link)))]
        try:
            contract.run(contract.registry.achat(ref, prompt, **contract.params()))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, "a linked image")
            pytest.fail(f"an image linked as the API reads links ({link}) was refused: {exc}")
        seen = wire.content_parts(contract.server.requests[-1])
        assert seen == [("text", text), ("image", link)], (
            f"the API reads the user turn as {seen}; expected the text, then the image {link}"
        )
        # Without an extension the format cannot be read off the name: guess or refuse.
        bare = link.rsplit(".", 1)[0].rsplit("/", 1)[0] + "/cat"
        prompt = [UserMessage((TextContent(text), ImageContent(url=bare)))]
        try:
            contract.run(contract.registry.achat(ref, prompt, **contract.params()))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"an image link without an extension ({bare})")

    @clause("requests.odd_tool_arguments")
    @pytest.mark.parametrize("arguments", ["cut_short", "json_list"])
    def test_requests_odd_tool_arguments(self, contract: ContractSession, arguments: str) -> None:
        """A sent-back tool call whose arguments are no JSON object gives an LmuxError or a body."""
        model = serve_canonical(contract, "chat", Capability.CHAT, Capability.TOOLS)
        text = '{"city": "Par' if arguments == "cut_short" else '["Paris"]'
        call = ToolCall(id="call_contract_odd", name=canon.TOOL_CALL.name, arguments=text)
        messages: list[Message] = [
            UserMessage(canon.TOOL_PROMPT),
            AssistantMessage(tool_calls=(call,)),
            ToolMessage("Sunny, 21 °C.", tool_call_id=call.id),
            UserMessage("And tomorrow?"),
        ]
        before = len(contract.server.requests)
        try:
            contract.run(
                contract.registry.achat(
                    contract.ref(model),
                    messages,
                    **contract.params(tools=[canon.WEATHER_TOOL]),
                )
            )
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"a tool call with arguments {text!r} sent back")
            assert len(contract.server.requests) == before, (
                f"arguments {text!r}: {type(exc).__name__} after the request was sent: {exc}"
            )
