"""Contract clauses about the shape of what is sent and received beyond one text turn.

:class:`ShapeContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the in-repo codecs (``contract_tests/mutation``) showed the other
clauses never send more than one user turn, never receive more than one tool call and
never see reasoning, so defects there lived. These clauses close that gap, each only for
what the plugin declares (and what its wire can read or render):

- ``requests.parameter_bounds``: values at the edges of every API's range (``max_tokens=1``,
  ``top_p`` 0 and 1, one stop sequence) are sent like ordinary ones;
- ``requests.embed_dimensions``: embeddings asked for with ``dimensions`` send the size
  (or are refused as unsupported before any I/O);
- ``requests.conversation``: a system prompt, alternating and consecutive turns, a last
  assistant turn the model goes on from (or a refusal as unsupported), a tool call
  with its result (plain and marked as an error) and a signed reasoning block sent back
  reach the body in order, each with its role, as the API reads it
  (:meth:`conversation` of the wire, a list of :class:`~lmux_plug_contract.wires.Said`);
- ``reasoning.thinking``: an answer that opens with reasoning (a signed block, and a redacted
  one where the API has them) gives the reasoning apart from the text, signature kept.

(Answers with several tool calls: ``tools.several_calls`` in
:mod:`lmux_plug_contract.breadth_contract`.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import attrs
import pytest
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import FinishReason
from lmux_plug import SystemMessage
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import ToolMessage
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import fail_foreign as _fail_foreign
from lmux_plug_contract._calls import json_leaves as _leaves
from lmux_plug_contract._calls import rendered_answer
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._clauses import clause
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Said

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["CONVERSATIONS", "ShapeContract"]

_THOUGHT = ThinkingBlock("Thinking it through: Paris ✓ 日本.", signature="sig-contract-7f3a")
_REDACTED = ThinkingBlock("cmVkYWN0ZWQgcmVhc29uaW5n", redacted=True)
#: The canonical usage, 3 of its output tokens spent on reasoning (``output_tokens`` counts
#: them; a wire that reports them apart, as Gemini does, renders the split).
_REASONING_USAGE = Usage(input_tokens=12, output_tokens=7, reasoning_tokens=3)
_RESULT = "Sunny, 21 °C."
_FAILURE = "No weather station in that city."
_SECOND_RESULT = "14:05 in Tōkyō."


def _said(role: str, text: str) -> Said:
    return Said(role, "text", text)


def _call_said(call: ToolCall) -> Said:
    arguments = json.dumps(json.loads(call.arguments), sort_keys=True)
    return Said("assistant", "call", f"{call.name} {arguments}")


def _tool_turns(*, error: bool) -> tuple[list[Any], list[Said]]:
    # Two calls answered in one turn: each result must name its own call.
    content = _FAILURE if error else _RESULT
    messages = [
        UserMessage(canon.TOOL_PROMPT),
        AssistantMessage(tool_calls=canon.SEVERAL_CALLS),
        ToolMessage(content, tool_call_id=canon.SEVERAL_CALLS[0].id, is_error=error),
        ToolMessage(_SECOND_RESULT, tool_call_id=canon.SEVERAL_CALLS[1].id),
        UserMessage("And tomorrow?"),
    ]
    expected = [
        _said("user", canon.TOOL_PROMPT),
        *(_call_said(call) for call in canon.SEVERAL_CALLS),
        Said("user", "result", content, error=error),
        Said("user", "result", _SECOND_RESULT),
        _said("user", "And tomorrow?"),
    ]
    return messages, expected


def _turns() -> tuple[list[Any], list[Said]]:
    messages = [
        SystemMessage("Answer in one sentence."),
        UserMessage("First question ✓?"),
        AssistantMessage("First answer."),
        UserMessage("Second question."),
        UserMessage("Third question, right after the second."),
    ]
    expected = [
        _said("system", "Answer in one sentence."),
        _said("user", "First question ✓?"),
        _said("assistant", "First answer."),
        _said("user", "Second question."),
        _said("user", "Third question, right after the second."),
    ]
    return messages, expected


def _thinking_turns() -> tuple[list[Any], list[Said]]:
    messages = [
        UserMessage(canon.CHAT_PROMPT),
        AssistantMessage("Earlier answer.", thinking=(_THOUGHT,)),
        UserMessage("Go on."),
    ]
    expected = [
        _said("user", canon.CHAT_PROMPT),
        Said("assistant", "thinking", _THOUGHT.text, signature=_THOUGHT.signature),
        _said("assistant", "Earlier answer."),
        _said("user", "Go on."),
    ]
    return messages, expected


def _prefill_turns() -> tuple[list[Any], list[Said]]:
    # The answer's opening written by the caller: the model goes on from it.
    messages = [UserMessage(canon.CHAT_PROMPT), AssistantMessage("Hello, contract")]
    expected = [_said("user", canon.CHAT_PROMPT), _said("assistant", "Hello, contract")]
    return messages, expected


#: The JSON answer ``types.json_answer`` asks for, its schema and its text in stream pieces.
_JSON_DOCUMENT = {"city": "Paris", "sky": "clear ✓", "celsius": 21}
_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "sky": {"type": "string"},
        "celsius": {"type": "integer"},
    },
    "required": ["city", "sky", "celsius"],
}
_JSON_PIECES = ('{"city": "Pa', 'ris", "sky": "clear ✓", ', '"celsius": 21}')


#: case -> (the capabilities it needs, the conversation and what its body must say).
CONVERSATIONS: dict[
    str, tuple[tuple[Capability, ...], Callable[[], tuple[list[Any], list[Said]]]]
] = {
    "turns": ((), _turns),
    "prefill": ((), _prefill_turns),
    "tool_result": ((Capability.TOOLS,), lambda: _tool_turns(error=False)),
    "tool_error": ((Capability.TOOLS,), lambda: _tool_turns(error=True)),
    "thinking": ((Capability.REASONING,), _thinking_turns),
}
#: parameter -> (an ordinary value, the edge values every API accepts too).
_BOUNDS: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "max_tokens": (123, (1,)),
    "top_p": (0.5, (0.0, 1.0)),
    "stop": (["END-OF-ANSWER"], (["Q:", "END-OF-ANSWER"],)),
}


def _optional(wire: Any, method: str) -> Callable[..., Any] | None:
    """The wire's ``method``, or None when the wire does not implement it (clause skipped)."""
    function = getattr(wire, method, None)
    return function if callable(function) else None


def _carries(body: Any, value: Any) -> bool:
    """Whether ``value`` (a number of its own type, or every string of a list) is in ``body``."""
    leaves = list(_leaves(body))
    if isinstance(value, list):
        return all(v in leaves for v in value)
    return any(type(leaf) is type(value) and leaf == value for leaf in leaves)


def _describe(said: Sequence[Said]) -> str:
    return "; ".join(f"{s.role} {s.kind} {s.text[:40]!r}" for s in said)


class ShapeContract:
    """Clauses on conversations, parameter edges and reasoning (mixed into the contract)."""

    def _send(
        self,
        contract: ContractSession,
        model: str,
        messages: Sequence[Any],
        what: str,
        **extra: Any,
    ) -> CapturedRequest | Exception:
        """Send a chat call; the request the server saw, or the LmuxError raised before I/O."""
        contract.use_server(contract.canonical("chat"))
        before = len(contract.server.requests)
        try:
            contract.run(
                contract.registry.achat(
                    contract.ref(model), list(messages), **contract.params(**extra)
                )
            )
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, what)
            assert len(contract.server.requests) == before, (
                f"{what}: {type(exc).__name__} after the request was sent: {exc}"
            )
            return exc
        return contract.server.requests[-1]

    @clause("requests.parameter_bounds")
    @pytest.mark.parametrize("name", list(_BOUNDS))
    def test_requests_parameter_bounds(self, contract: ContractSession, name: str) -> None:
        """Edge values (max_tokens=1, top_p 0 and 1, stop sequences) are sent like ordinary ones."""
        contract.require_wire()
        model = contract.model(Capability.CHAT)
        ordinary, edges = _BOUNDS[name]
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        sent = self._send(contract, model, prompt, f"{name}={ordinary!r}", **{name: ordinary})
        if isinstance(sent, UnsupportedFeatureError) and name != "max_tokens":
            pytest.skip(f"not declared: the provider refuses {name}: {sent}")
        assert not isinstance(sent, Exception), (
            f"{name}={ordinary!r} (a value every API accepts) was refused: {sent}"
        )
        # Dropped silently, the caller's setting has no effect and nobody is told.
        assert _carries(sent.json(), ordinary), (
            f"{name}={ordinary!r} is not in the request body: send it, or refuse it before any "
            "I/O (UnsupportedFeatureError)"
        )
        for value in edges:
            sent = self._send(contract, model, prompt, f"{name}={value!r}", **{name: value})
            assert not isinstance(sent, Exception), (
                f"{name}={value!r} (in range for every API) was refused: {sent}"
            )
            assert _carries(sent.json(), value), (
                f"{name}={ordinary!r} reaches the body but {name}={value!r} does not: "
                f"{sent.json()!r:.300}"
            )

    @clause("requests.embed_dimensions")
    def test_requests_embed_dimensions(self, contract: ContractSession) -> None:
        """Embeddings asked for with dimensions (256, and the edge 1) send them in the body."""
        model = serve_canonical(contract, "embed", Capability.EMBED)
        for dimensions in (256, 1):
            before = len(contract.server.requests)
            inputs = list(canon.EMBED_INPUTS)
            try:
                contract.run(
                    contract.registry.aembed(contract.ref(model), inputs, dimensions=dimensions)
                )
            except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
                _fail_foreign(exc, f"dimensions={dimensions}")
                assert len(contract.server.requests) == before, (
                    f"dimensions={dimensions}: {type(exc).__name__} after the request was sent"
                )
                assert isinstance(exc, UnsupportedFeatureError), (
                    f"dimensions={dimensions} (a valid size) was refused as invalid: {exc}"
                )
                pytest.skip(f"not declared: the provider refuses dimensions: {exc}")
            sent = contract.server.requests[-1].json()
            # Dropped silently, the vectors come back at another size than asked for.
            assert _carries(sent, dimensions), (
                f"dimensions={dimensions} is not in the request body: send it, or refuse it "
                "before any I/O (UnsupportedFeatureError)"
            )

    @clause("requests.conversation")
    @pytest.mark.parametrize("case", list(CONVERSATIONS))
    def test_requests_conversation(self, contract: ContractSession, case: str) -> None:
        """Every turn reaches the body in order with its role; tool results and reasoning too."""
        wire = contract.require_wire()
        read = _optional(wire, "conversation")
        if read is None:
            pytest.skip(f"not declared: the wire {wire.name!r} does not read conversations")
        needs, build = CONVERSATIONS[case]
        model = contract.model(Capability.CHAT, *needs)
        messages, expected = build()
        tools = [canon.WEATHER_TOOL, canon.TIME_TOOL]
        extra = {"tools": tools} if Capability.TOOLS in needs else {}
        sent = self._send(contract, model, messages, f"the {case} conversation", **extra)
        if isinstance(sent, UnsupportedFeatureError):
            pytest.skip(f"not declared: the provider refuses the {case} conversation: {sent}")
        assert not isinstance(sent, Exception), f"the {case} conversation was refused: {sent}"
        said: list[Said] = read(sent)
        # Ids are the plugin's to choose (some APIs have none): only their pairing counts.
        seen = [Said(s.role, s.kind, s.text, error=s.error, signature=s.signature) for s in said]
        if not wire.returns_thinking:
            # The API has no place for it: a plugin drops the reasoning it cannot send back.
            expected = [s for s in expected if s.kind not in ("thinking", "redacted")]
        if not wire.signs_thinking:
            expected = [attrs.evolve(s, signature=None) for s in expected]
        if not getattr(wire, "marks_tool_errors", False):
            seen = [Said(s.role, s.kind, s.text, signature=s.signature) for s in seen]
            expected = [Said(s.role, s.kind, s.text, signature=s.signature) for s in expected]
        assert seen == expected, (
            f"{case}: the body says [{_describe(seen)}]; expected [{_describe(expected)}]"
        )
        calls = [s.ref for s in said if s.kind == "call"]
        results = [s.ref for s in said if s.kind == "result"]
        assert calls == results, (
            f"{case}: the tool results answer {results}, the calls in the body are {calls}"
        )
        assert len(set(calls)) == len(calls), (
            f"{case}: two different tool calls go out under one id {calls}: "
            "the API cannot tell their results apart"
        )

    @clause("types.json_answer")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_json_answer(self, contract: ContractSession, path: str) -> None:
        """A json_schema request gives the model's JSON as the text, not as a tool call."""
        wire = contract.require_wire()
        whole, pieces = (_JSON_DOCUMENT, canon.USAGE), (_JSON_DOCUMENT, _JSON_PIECES, canon.USAGE)
        answer = rendered_answer(wire, "json", path, whole, pieces)
        capability = Capability.CHAT if path == "chat" else Capability.STREAM
        model = contract.model(capability, Capability.JSON_SCHEMA)
        contract.use_server(answer)
        schema = {"name": "weather", "schema": _JSON_SCHEMA}
        params = contract.params(response_format={"type": "json_schema", "json_schema": schema})
        said = ask(contract, contract.ref(model), [UserMessage(canon.TOOL_PROMPT)], params, path)
        text, calls, finish = said.text, said.calls, said.last_finish
        try:
            answered = json.loads(text or "")
        except ValueError:
            pytest.fail(f"{path}: the JSON-mode answer's text is not JSON: {text!r:.200}")
        assert answered == _JSON_DOCUMENT, f"{path}: the JSON answer is {answered}"
        assert not calls, f"{path}: the JSON answer also came back as tool calls: {calls}"
        assert finish == FinishReason.STOP, (
            f"{path}: finish reason {finish} for a complete JSON answer (expected stop)"
        )

    @clause("reasoning.thinking")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_reasoning_thinking(self, contract: ContractSession, path: str) -> None:
        """Reasoning in an answer comes apart from the text, signed blocks keep their signature."""
        wire = contract.require_wire()
        thinking = (
            (_THOUGHT, _REDACTED) if getattr(wire, "redacts_thinking", False) else (_THOUGHT,)
        )
        answer = rendered_answer(
            wire,
            "thinking",
            path,
            (thinking, canon.TEXT, _REASONING_USAGE),
            (thinking, canon.TEXT_PIECES, _REASONING_USAGE),
        )
        capability = Capability.CHAT if path == "chat" else Capability.STREAM
        model = contract.model(capability, Capability.REASONING)
        contract.use_server(answer)
        said = ask(contract, contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], {}, path)
        text, blocks, thought, usages = said.text, said.thinking, said.thought, said.usages
        assert text == canon.TEXT, f"{path}: the answer's text is {text!r}, not {canon.TEXT!r}"
        assert thought == _THOUGHT.text, (
            f"{path}: the reasoning is {thought!r}, not {_THOUGHT.text!r}"
        )
        signatures = [b.signature for b in blocks if b.signature]
        signed = [_THOUGHT.signature] if wire.signs_thinking else []
        assert signatures == signed, (
            f"{path}: reasoning signatures {signatures} (expected the answer's, "
            f"{signed}: a caller sends it back)"
        )
        empty = [b for b in blocks if not b.text and not b.signature]
        assert not empty, f"{path}: {len(empty)} empty reasoning blocks (no text, no signature)"
        expected = _REASONING_USAGE
        counted = [(u.input_tokens, u.output_tokens, u.reasoning_tokens) for u in usages]
        # output_tokens counts the reasoning; reasoning_tokens only where the API reports it.
        assert counted and all(
            (i, o) == (expected.input_tokens, expected.output_tokens)
            and r in (0, expected.reasoning_tokens)
            for i, o, r in counted
        ), (
            f"{path}: usage (input, output, reasoning) {counted}; the answer says input "
            f"{expected.input_tokens}, output {expected.output_tokens} of which "
            f"{expected.reasoning_tokens} reasoning"
        )
        redacted = [b.text for b in blocks if b.redacted]
        wanted = [b.text for b in thinking if b.redacted]
        assert redacted == wanted, f"{path}: redacted reasoning {redacted}, expected {wanted}"
