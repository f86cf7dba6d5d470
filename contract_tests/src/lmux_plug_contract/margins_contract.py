"""Contract clauses at the margins: requests and answers the canonical exchange never tries.

:class:`MarginsContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Anthropic codec on several seeds (``contract_tests/mutation``)
showed defects living where the suite never looked:

- ``types.json_beside_call``: a JSON-mode request that also offers tools, answered with the
  JSON *and* a call of one of the caller's tools (a model may do both at once; on a wire
  whose plugin emulates JSON mode with a tool, as on Anthropic's, that is two tool calls,
  either first). The JSON must come back as the text, the call as a call, and the answer
  must finish with the wire's tool-call reason: a plugin that stops reading at the JSON
  loses the call the caller must run.
- ``requests.file_data``: a plain-text document (``text/plain``, multi-byte UTF-8) given as
  base64 reaches the body with the caller's data unchanged; the same data with a character
  outside the base64 alphabet is refused before any I/O or sent as given, never decoded
  leniently into another document (RFC 4648, section 3.3: data with characters outside the
  alphabet must be rejected, not silently changed).
- ``requests.conversation_order[text_before_result|prefill_space|two_rounds|...]``: a
  conversation in an order the caller may write but an API may refuse (the caller's text
  between a tool call and its result; a prefill ending in whitespace) is sent as the API
  accepts it (the wire reads what its API refuses where it stands as an ``other`` item:
  Anthropic's results lead their turn, and a final assistant turn may not end in
  whitespace), saying the same as the same conversation written in the ordinary order,
  or refused before any I/O. A final assistant turn of signed and redacted reasoning
  alone (``prefill_reasoning``) is sent or refused, never a foreign exception; two
  rounds of a call and its result (``two_rounds``, a valid conversation) must go out,
  call, result, call, result.
- ``errors.unknown_error_type``: an error event mid-stream whose type the API does not
  list (APIs add error types; the wire's ``unknown_stream_error``) raises a
  ``ProviderError``, retryable as a 500 is, with status 500 or none (a plugin that
  cannot classify an error does not invent a status) and the provider's message.
- ``requests.cache_marks``: cache breakpoints on a system prompt (a developer message
  beside it unmarked), on whole user messages
  (one of text, one of three parts) and on one part of a message, four in all (the most
  the Messages API takes), each reach the body where the caller put them (a message's at
  its last block, a part's at that part; the wire's ``cache_marks``): moved, dropped or
  refused as too many, the prompt prefix the caller pays to cache is another.
- ``requests.temperature_bounds[0.0|0.5|1.0]``: on a chat model that does not declare
  reasoning (reasoning models may refuse a temperature: ``requests.parameters``), a
  temperature at either end of the range every API takes, and between, reaches the body:
  refused or dropped, the caller's sampling setting has no effect.
- ``types.refusal[plain|refused]``: an ordinary answer has no ``refusal``; where the wire
  renders a model declining to answer (``refusal_chat``: Anthropic's ``stop_reason:
  refusal``), the result's ``refusal`` is the model's text and it finishes
  ``content_filter``.
- ``tools.no_arguments[chat|stream]`` (a wire with ``streams_empty_input``: Anthropic's):
  a call of a tool that takes no parameters, streamed as the API streams it (no argument
  fragment at all), comes back with arguments that parse as the empty object ``{}``.
- ``reasoning.undeclared_model``: a model id the provider does not list (callers may name
  any; ids pass through) asked for every ``reasoning_effort`` level without a token cap:
  the plugin sends reasoning settings the API accepts, or refuses the level before any I/O
  with ``UnsupportedFeatureError`` (the request is valid: ``InvalidRequestError`` about a
  token cap the caller never gave fails); never a foreign exception from looking the
  model up.

Each is skipped, saying so, where the wire renders or reads no such thing or the provider
does not declare what it needs.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING
from typing import Any

import attrs
import pytest
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import ChatResponse
from lmux_plug import DeveloperMessage
from lmux_plug import FileContent
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import ProviderError
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolMessage
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage
from lmux_plug.codec import REASONING_EFFORTS

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import check_tool_finish
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._calls import json_leaves
from lmux_plug_contract._calls import skip_refused
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._frames import event_after_first_piece
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import Said

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession
    from lmux_plug_contract.wires import WireFormat

__all__ = ["UNDECLARED_MODEL", "MarginsContract"]

#: The JSON document ``types.json_beside_call`` asks for, and its text in stream pieces.
_DOCUMENT = {"city": "Paris", "sky": "clear ✓ 日本"}
_DOCUMENT_PIECES = ('{"city": "Pa', 'ris", "sky": "clear ✓ ', '日本"}')
_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
    "required": ["city", "sky"],
}
#: A plain-text document (multi-byte, several lines) ``requests.file_data`` attaches.
_NOTE = "Notes ✓\nParis: 21 °C, clear.\n東京: 18 °C.\n"
_NOTE_AFTER_CALL = "Here is what the weather service found ✓:"
#: Signed and redacted reasoning, the whole of a final assistant turn (``prefill_reasoning``).
_SIGNED = (ThinkingBlock("Weighing the greeting ✓.", signature="sig-contract-margin-41d7"),)
_REASONING = (*_SIGNED, ThinkingBlock("cmVkYWN0ZWQgY29udHJhY3QgcmVhc29uaW5n", redacted=True))
#: case -> (the conversation in its ordinary order, or None where it has none; the same in
#: the order under test).
_ORDERS: dict[str, tuple[list[Any] | None, list[Any]]] = {
    "text_before_result": (
        [
            UserMessage(canon.TOOL_PROMPT),
            AssistantMessage(None, tool_calls=(canon.TOOL_CALL,)),
            ToolMessage("Sunny, 21 °C.", canon.TOOL_CALL.id),
            UserMessage(_NOTE_AFTER_CALL),
        ],
        [
            UserMessage(canon.TOOL_PROMPT),
            AssistantMessage(None, tool_calls=(canon.TOOL_CALL,)),
            UserMessage(_NOTE_AFTER_CALL),
            ToolMessage("Sunny, 21 °C.", canon.TOOL_CALL.id),
        ],
    ),
    # The prefill follows signed reasoning: its text is the turn's last block, not its first.
    "prefill_space": (
        [UserMessage(canon.CHAT_PROMPT), AssistantMessage("The answer is:", thinking=_SIGNED)],
        [UserMessage(canon.CHAT_PROMPT), AssistantMessage("The answer is: \n", thinking=_SIGNED)],
    ),
    # Two rounds of a call and its result: every round must go out (a valid conversation).
    "two_rounds": (
        None,
        [
            UserMessage(canon.TOOL_PROMPT),
            AssistantMessage(None, tool_calls=(canon.SEVERAL_CALLS[0],)),
            ToolMessage("Sunny, 21 °C.", canon.SEVERAL_CALLS[0].id),
            AssistantMessage(None, tool_calls=(canon.SEVERAL_CALLS[1],)),
            ToolMessage("14:05 in Tōkyō.", canon.SEVERAL_CALLS[1].id),
            UserMessage(_NOTE_AFTER_CALL),
        ],
    ),
    # A final assistant turn of reasoning alone (an answer resumed after its reasoning).
    "prefill_reasoning": (
        None,
        [UserMessage(canon.CHAT_PROMPT), AssistantMessage(None, thinking=_REASONING)],
    ),
}
#: A conversation with four cache breakpoints (the most the Messages API takes), and the
#: text of each block that must carry one, in order.
_CACHED = [
    SystemMessage("Answer briefly ✓.", cache_control=True),
    DeveloperMessage("Use metric units."),
    UserMessage("First question ✓?", cache_control=True),
    AssistantMessage("First answer."),
    UserMessage(
        tuple(TextContent(f"Second, part {n} ✓.") for n in ("one", "two", "three")),
        cache_control=True,
    ),
    AssistantMessage("Second answer."),
    UserMessage((TextContent("Third, marked ✓.", cache_control=True), TextContent("Third."))),
]
_CACHE_MARKS = [
    "Answer briefly ✓.",
    "First question ✓?",
    "Second, part three ✓.",
    "Third, marked ✓.",
]
#: A tool without parameters and the model's call of it (``tools.no_arguments``).
_NOW_TOOL = {
    "type": "function",
    "function": {
        "name": "get_now",
        "description": "The current time.",
        "parameters": {"type": "object", "properties": {}},
    },
}
_NOW_CALL = ToolCall(id="call_contract_now", name="get_now", arguments="{}")
#: What a model declining to answer says (``types.refusal``).
_REFUSAL = "I can't help with that request ✓."
#: A model id no provider lists (the suite's fallback model id).
UNDECLARED_MODEL = "contract-model"


def _sent_or_refused(
    contract: ContractSession, model: str, messages: list[Any], what: str, **params: Any
) -> CapturedRequest | LmuxError:
    """The request the server saw, or the typed refusal of it before any I/O.

    A refusal is an ``InvalidRequestError`` or ``UnsupportedFeatureError``: any other error
    (a plugin bug, a provider error) fails the clause instead of excusing it.
    """
    before = len(contract.server.requests)
    try:
        contract.run(contract.registry.achat(contract.ref(model), messages, **params))
    except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
        fail_foreign(exc, what)
        assert isinstance(exc, (InvalidRequestError, UnsupportedFeatureError)), (
            f"{what}: {type(exc).__name__} is no refusal of the request: {exc}"
        )
        assert len(contract.server.requests) == before, (
            f"{what}: {type(exc).__name__} after the request was sent: {exc}"
        )
        return exc
    return contract.server.requests[-1]


def _items(said: list[Said]) -> list[tuple[str, str, str, bool]]:
    """What a conversation says, in any order (ids and trailing whitespace left out)."""
    return sorted((s.role, s.kind, s.text.rstrip(), s.error) for s in said)


def _count(body: Any, number: float) -> int:
    """How many numbers (booleans aside) of a JSON body equal ``number``."""
    return sum(
        isinstance(leaf, (int, float)) and not isinstance(leaf, bool) and leaf == number
        for leaf in json_leaves(body)
    )


def _declared(contract: ContractSession, method: str, what: str) -> tuple[WireFormat, Any]:
    """The session's wire and its optional ``method``; skip, saying ``what``, without it."""
    wire = contract.require_wire()
    function = getattr(wire, method, None)
    if not callable(function):
        pytest.skip(f"not declared: the wire {wire.name!r} {what}")
    return wire, function


def _unmarked(message: Any) -> Any:
    """``message`` without cache breakpoints, on it or on its parts."""
    content = message.content
    if isinstance(content, tuple):
        content = tuple(attrs.evolve(part, cache_control=False) for part in content)
    marked = "cache_control" in attrs.fields_dict(type(message))
    return attrs.evolve(message, content=content, **({"cache_control": False} if marked else {}))


class MarginsContract:
    """Clauses on JSON beside a call, file data and undeclared models (mixed into the contract)."""

    @clause("types.json_beside_call")
    @pytest.mark.parametrize("order", ["json_first", "call_first"])
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_json_beside_call(self, contract: ContractSession, path: str, order: str) -> None:
        """A JSON-mode answer that also calls a tool gives the JSON as text and the call."""
        streamed = path == "stream"
        wire, render = _declared(contract, f"json_call_{path}", "renders no JSON beside a call")
        capability = Capability.STREAM if streamed else Capability.CHAT
        model = contract.model(capability, Capability.JSON_SCHEMA, Capability.TOOLS)
        json_first = order == "json_first"
        call, fragments = canon.TOOL_CALL, canon.TOOL_ARGUMENT_PIECES

        def answer(request: CapturedRequest) -> Reply:
            if streamed:
                rendering = render(
                    request, _DOCUMENT_PIECES, call, fragments, canon.USAGE, json_first=json_first
                )
                return wire.reply_stream(rendering)
            reply: Reply = render(request, _DOCUMENT, call, canon.USAGE, json_first=json_first)
            return reply

        contract.use_server(answer)
        schema = {"name": "weather", "schema": _SCHEMA}
        params = contract.params(
            tools=[canon.WEATHER_TOOL],
            response_format={"type": "json_schema", "json_schema": schema},
        )
        prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        try:
            got = ask(contract, contract.ref(model), prompt, params, path)
        except UnsupportedFeatureError as exc:
            skip_refused(contract, exc, "a JSON answer format next to tools")
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            pytest.fail(f"{path}, {order}: the JSON answer beside a tool call raised {exc!r}")
        try:
            document = json.loads(got.text)
        except ValueError:
            document = None
        assert document == _DOCUMENT, (
            f"{path}, {order}: the JSON came back as the text {got.text!r:.200}"
        )
        calls = [(c.id, c.name, json.loads(c.arguments or "null")) for c in got.calls]
        assert calls == [(call.id, call.name, canon.TOOL_ARGUMENTS)], (
            f"{path}, {order}: the answer's tool calls are {calls}; expected the one call "
            f"{call.name} beside the JSON"
        )
        check_tool_finish(wire, got.finish(path), f"{path}, {order}")

    @clause("requests.file_data")
    def test_requests_file_data(self, contract: ContractSession) -> None:
        """A text document's base64 reaches the body as given or is refused, never read loosely."""
        _, read = _declared(contract, "content_parts", "does not read content parts")
        model = contract.model(Capability.CHAT, Capability.FILES)
        contract.use_server(contract.canonical("chat"))
        data = base64.b64encode(_NOTE.encode()).decode()

        def send(value: str) -> CapturedRequest | LmuxError:
            document = FileContent(data=value, media_type="text/plain", filename="notes.txt")
            prompt = [UserMessage((TextContent("Summarise the notes."), document))]
            what = f"a text/plain document with data {value[:12]!r}..."
            return _sent_or_refused(contract, model, prompt, what, **contract.params())

        sent = send(data)
        if isinstance(sent, LmuxError):
            pytest.skip(f"not declared: the provider refuses text/plain documents: {sent}")
        files = [value for kind, value in read(sent) if kind == "file"]
        assert files == [data], (
            f"a text/plain document reaches the body as {files!r:.200}; expected its data "
            f"{data!r:.60} (the text {_NOTE!r:.40}) unchanged"
        )
        # A character outside the alphabet: a lenient decoder drops it and sends another
        # document than the caller gave (RFC 4648 3.3 says reject).
        odd = data + "*"
        sent = send(odd)
        if isinstance(sent, LmuxError):
            return  # refused before any I/O: the caller is told
        files = [value for kind, value in read(sent) if kind == "file"]
        assert files == [odd], (
            f"document data that is not base64 ({odd[-12:]!r} at its end) reached the body as "
            f"{files!r:.200}: refuse it before any I/O, or send it as given"
        )

    @clause("requests.conversation_order")
    @pytest.mark.parametrize("case", list(_ORDERS))
    def test_requests_conversation_order(self, contract: ContractSession, case: str) -> None:
        """A conversation in an order an API refuses is sent as it accepts it, or refused."""
        _, read = _declared(contract, "conversation", "does not read conversations")
        ordinary, odd = _ORDERS[case]
        needs = (Capability.TOOLS,) if case in ("text_before_result", "two_rounds") else ()
        model = contract.model(Capability.CHAT, *needs)
        tools = [canon.WEATHER_TOOL, canon.TIME_TOOL]
        params = contract.params(tools=tools) if needs else contract.params()
        contract.use_server(contract.canonical("chat"))
        plain = None
        if ordinary is not None:
            plain = _sent_or_refused(contract, model, ordinary, f"the ordinary {case}", **params)
            if isinstance(plain, LmuxError):
                pytest.skip(f"not declared: the provider refuses the ordinary {case}: {plain}")
        sent = _sent_or_refused(contract, model, odd, f"the {case} conversation", **params)
        if isinstance(sent, LmuxError):
            # Refused before any I/O, the caller is told; a valid conversation must go out.
            assert case != "two_rounds", f"two rounds of tool calls were refused: {sent}"
            return
        said: list[Said] = read(sent)
        refused = [s.text for s in said if s.kind == "other"]
        assert not refused, f"{case}: the body holds what the API refuses: {refused}"
        assert plain is None or _items(said) == _items(read(plain)), (
            f"{case}: the body says {_items(said)}, the same conversation in the ordinary "
            f"order says {_items(read(plain))}"
        )
        calls = [s.ref for s in said if s.kind == "call"]
        results = [s.ref for s in said if s.kind == "result"]
        assert all(ref in calls for ref in results), (
            f"{case}: the results answer {results}, the calls are {calls}"
        )
        rounds = [s.kind for s in said if s.kind in ("call", "result")]
        assert case != "two_rounds" or rounds == ["call", "result", "call", "result"], (
            f"two_rounds: the body's calls and results come as {rounds}"
        )

    @clause("errors.unknown_error_type")
    def test_errors_unknown_error_type(self, contract: ContractSession) -> None:
        """An error event of a type the API does not list is a retryable ProviderError (500)."""
        wire, render = _declared(contract, "unknown_stream_error", "renders no unlisted error type")
        model = contract.model(Capability.STREAM)
        event: bytes = render(canon.STREAM_ERROR_MESSAGE)

        contract.use_server(lambda request: event_after_first_piece(wire, request, event))
        prompt = [{"role": "user", "content": canon.CHAT_PROMPT}]
        try:
            contract.collect(contract.registry.achat_stream(contract.ref(model), prompt))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            fail_foreign(exc, "an error event of an unlisted type")
            assert isinstance(exc, ProviderError), (
                f"an error event of an unlisted type raised {type(exc).__name__} ({exc}); "
                "an error the plugin cannot classify is the provider's (ProviderError)"
            )
            assert exc.status_code in (None, 500), (
                f"an error event of an unlisted type raised status {exc.status_code}: the "
                "event states none (500, the generic server error, or none)"
            )
            assert exc.retryable, "an error event of an unlisted type is not retryable (a 500 is)"
            assert canon.STREAM_ERROR_MESSAGE in str(exc), f"the message is lost: {exc}"
            return
        pytest.fail("the stream with an error event of an unlisted type ended without an error")

    @clause("requests.cache_marks")
    def test_requests_cache_marks(self, contract: ContractSession) -> None:
        """Cache breakpoints (four: the most an API takes) reach the body where they were put."""
        _, read = _declared(contract, "cache_marks", "reads no cache breakpoints")
        model = contract.model(Capability.CHAT)
        contract.use_server(contract.canonical("chat"))
        sent = _sent_or_refused(contract, model, _CACHED, "four cache breakpoints")
        if isinstance(sent, UnsupportedFeatureError):
            pytest.skip(f"not declared: the provider refuses cache breakpoints: {sent}")
        assert not isinstance(sent, LmuxError), (
            f"four cache breakpoints (as many as the API takes) were refused: {sent}"
        )
        marks = read(sent)
        assert marks == _CACHE_MARKS, (
            f"the body marks {marks} as cache breakpoints; expected {_CACHE_MARKS} (a "
            "message's mark at its last block, a part's at that part)"
        )
        said = getattr(contract.require_wire(), "conversation", None)
        if callable(said):
            # A mark changes where the cache ends, never what the conversation says.
            unmarked = [_unmarked(m) for m in _CACHED]
            plain = _sent_or_refused(contract, model, unmarked, "the conversation unmarked")
            assert not isinstance(plain, LmuxError), f"the unmarked conversation: {plain}"
            assert said(sent) == said(plain), (
                "the cache breakpoints changed what the conversation says: "
                f"{said(sent)} against {said(plain)} unmarked"
            )

    @clause("requests.temperature_bounds")
    @pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0])
    def test_requests_temperature_bounds(
        self, contract: ContractSession, temperature: float
    ) -> None:
        """A temperature of 0, 0.5 or 1 on a model that does not reason reaches the body."""
        contract.require_wire()
        wanted = {Capability.CHAT}
        model = next(
            (
                m.id
                for m in contract.spec.models
                if wanted <= contract.spec.capabilities_of(m.id)
                and Capability.REASONING not in contract.spec.capabilities_of(m.id)
            ),
            None,
        )
        if model is None:
            pytest.skip("not declared: every chat model reasons (and may refuse a temperature)")
        contract.use_server(contract.canonical("chat"))
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        plain = _sent_or_refused(contract, model, prompt, "a chat call", **contract.params())
        assert not isinstance(plain, LmuxError), f"{model}: a plain chat call was refused: {plain}"
        what = f"{model}: temperature={temperature}"
        params = contract.params(temperature=temperature)
        sent = _sent_or_refused(contract, model, prompt, what, **params)
        assert not isinstance(sent, LmuxError), (
            f"{what} (in the range every API takes) was refused: {sent}"
        )
        # The value once more than in the same call without it: the temperature itself.
        assert _count(sent.json(), temperature) == _count(plain.json(), temperature) + 1, (
            f"{what} is not in the request body: {sent.json()!r:.300}"
        )

    @clause("types.refusal")
    @pytest.mark.parametrize("answer", ["plain", "refused"])
    def test_types_refusal(self, contract: ContractSession, answer: str) -> None:
        """An ordinary answer has no refusal; a model's refusal is one, finishing content_filter."""
        if answer == "plain":
            contract.require_wire()
            contract.use_server(contract.canonical("chat"))
        else:
            _, render = _declared(contract, "refusal_chat", "renders no refusal")
            contract.use_server(lambda request: render(request, _REFUSAL, canon.USAGE))
        model = contract.model(Capability.CHAT)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        response = contract.run(contract.registry.achat(contract.ref(model), prompt))
        assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
        if answer == "plain":
            assert response.refusal is None, (
                f"an ordinary answer reports the refusal {response.refusal!r:.100}"
            )
            return
        assert response.refusal == _REFUSAL, (
            f"the model's refusal came back as refusal={response.refusal!r:.100}"
        )
        assert response.finish_reason == FinishReason.CONTENT_FILTER, (
            f"a refusal finishes {response.finish_reason}, not content_filter"
        )

    @clause("tools.no_arguments")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_no_arguments(self, contract: ContractSession, path: str) -> None:
        """A call of a tool without parameters, streamed with no argument text, gives {}."""
        wire = contract.require_wire()
        if not getattr(wire, "streams_empty_input", False):
            pytest.skip(f"not declared: the wire {wire.name!r} streams arguments for every call")
        streamed = path == "stream"
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT, Capability.TOOLS)

        def answer(request: CapturedRequest) -> Reply:
            if streamed:
                rendering = wire.tool_calls_stream(request, (_NOW_CALL,), ((),), canon.USAGE)
                return wire.reply_stream(rendering)
            return wire.tool_calls_chat(request, (_NOW_CALL,), canon.USAGE)

        contract.use_server(answer)
        params = contract.params(tools=[_NOW_TOOL])
        prompt = [{"role": "user", "content": "What time is it ✓?"}]
        got = ask(contract, contract.ref(model), prompt, params, path)
        calls = [(c.id, c.name) for c in got.calls]
        assert calls == [(_NOW_CALL.id, _NOW_CALL.name)], f"{path}: the calls are {calls}"
        try:
            arguments = json.loads(got.calls[0].arguments)
        except ValueError:
            arguments = got.calls[0].arguments
        assert arguments == {}, (
            f"{path}: a call without arguments came back with arguments {arguments!r}, "
            "not the empty object {} (a caller parses them as JSON)"
        )
        check_tool_finish(wire, got.finish(path), path)

    @clause("reasoning.undeclared_model")
    def test_reasoning_undeclared_model(self, contract: ContractSession) -> None:
        """Every reasoning level on a model id the provider does not list: accepted or refused."""
        _, check = _declared(contract, "reasoning_refusal", "does not check reasoning settings")
        contract.model(Capability.CHAT, Capability.REASONING)
        wanted = {Capability.CHAT, Capability.REASONING}
        if contract.spec.model(UNDECLARED_MODEL) is not None or not wanted <= set(
            contract.spec.capabilities_of(UNDECLARED_MODEL)
        ):
            pytest.skip("not declared: models the provider does not list cannot reason")
        contract.use_server(contract.canonical("chat"))
        for level in REASONING_EFFORTS:
            sent = _sent_or_refused(
                contract,
                UNDECLARED_MODEL,
                [UserMessage(canon.CHAT_PROMPT)],
                f"{UNDECLARED_MODEL}, reasoning_effort={level!r}",
                **contract.params(reasoning_effort=level),
            )
            if isinstance(sent, LmuxError):
                # A level the plugin will not guess for a model it does not know is not
                # supported; the request itself is valid (no max_tokens was even given).
                assert isinstance(sent, UnsupportedFeatureError), (
                    f"{UNDECLARED_MODEL}, reasoning_effort={level!r} (a valid request) was "
                    f"refused as {type(sent).__name__}: {sent}; refuse a level the plugin "
                    "cannot serve with UnsupportedFeatureError"
                )
                continue
            refusal = check(sent)
            assert refusal is None, (
                f"{UNDECLARED_MODEL} (a model the provider does not list): "
                f"reasoning_effort={level!r} sends reasoning settings the API refuses: {refusal}"
            )
