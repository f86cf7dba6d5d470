"""Contract clauses on bad input the API refuses: refused by the plugin, before any I/O.

:class:`RefusalContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Anthropic codec on five seeds left alive, on every seed, mutants
that turn one of the codec's checks off: they send the request, the API refuses it with
a 400 and the caller gets the same ``InvalidRequestError``, one round trip later. Nothing
told the two apart, because the contract never asked for the refusal before the request
went out. The project's rule for bad input is that it is refused before network I/O;
these clauses hold a plugin to it where its wire says what the API refuses.

- ``requests.tool_pairs[orphan_result|unanswered_call|other_id|duplicate_tool]`` (a wire
  whose API refuses unpaired tool blocks, :attr:`pairs_tool_calls`: Anthropic's): a tool
  result that answers no call of the assistant message right before it, a call whose
  result never comes, a result naming another call's id, and two tools of one name are
  bad input the plugin can see in the request. Its API refuses each (400: "tool_use ids
  were found without tool_result blocks immediately after", "unexpected tool_use_id found
  in tool_result blocks", "Tool names must be unique"), so, by the project's rule for bad
  input, the plugin refuses each with ``InvalidRequestError`` before any I/O: no request
  reaches the server (which answers 500 to anything that does).

- ``requests.temperature_range``: on a wire whose API takes a narrower temperature range
  than the core's 0 to 2 (:attr:`temperature_max`: Anthropic's 1.0), a temperature above
  it (the range's top plus a half) is refused with ``InvalidRequestError`` before any I/O.

A wire whose API accepts such a conversation (or whose plugins are not held to pairing:
the OpenAI wire's ``acme`` example passes pairs through) does not declare it, and the
clause is skipped there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import InvalidRequestError
from lmux_plug import ToolMessage
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._calls import failing_registry
from lmux_plug_contract._clauses import clause

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from lmux_plug_contract._session import ContractSession

__all__ = ["RefusalContract"]

_RESULT = "Sunny, 21 °C."
_CALLED = AssistantMessage(None, tool_calls=(canon.TOOL_CALL,))
#: case -> (the conversation, the tools offered): each one the API refuses.
_CASES: dict[str, tuple[list[Any], list[Any]]] = {
    "orphan_result": (
        [
            UserMessage(canon.TOOL_PROMPT),
            AssistantMessage("Let me look that up ✓."),
            ToolMessage(_RESULT, canon.TOOL_CALL.id),
        ],
        [canon.WEATHER_TOOL],
    ),
    "unanswered_call": (
        [UserMessage(canon.TOOL_PROMPT), _CALLED, UserMessage("Never mind, thanks ✓.")],
        [canon.WEATHER_TOOL],
    ),
    "other_id": (
        [UserMessage(canon.TOOL_PROMPT), _CALLED, ToolMessage(_RESULT, "call_contract_other")],
        [canon.WEATHER_TOOL],
    ),
    "duplicate_tool": ([UserMessage(canon.TOOL_PROMPT)], [canon.WEATHER_TOOL, canon.WEATHER_TOOL]),
}


def _wire_says(contract: ContractSession, attribute: str, what: str) -> Any:
    """The wire's ``attribute`` (what its API refuses); skip, saying ``what``, without it."""
    wire = contract.require_wire()
    said = getattr(wire, attribute, None)
    if not said:
        pytest.skip(f"not declared: the wire {wire.name!r} {what}")
    return said


def _refused_before_io(contract: ContractSession, call: Awaitable[Any], case: str) -> None:
    """Fail unless ``call`` (on a registry whose server answers 500) is refused before I/O."""
    try:
        contract.run(call)
    except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
        fail_foreign(exc, case)
        sent = len(contract.server.requests)
        assert not sent, (
            f"{case}: the API refuses this request, and the plugin sent it anyway "
            f"(refused after I/O: {type(exc).__name__}: {exc}); refuse it before sending"
        )
        assert isinstance(exc, InvalidRequestError), (
            f"{case}: refused with {type(exc).__name__}, not InvalidRequestError: {exc}"
        )
        return
    pytest.fail(f"{case}: a request the API refuses gave an answer")


class RefusalContract:
    """The clauses on bad input refused before any I/O (mixed in)."""

    @clause("requests.tool_pairs")
    @pytest.mark.parametrize("case", list(_CASES))
    def test_requests_tool_pairs(self, contract: ContractSession, case: str) -> None:
        """Unpaired tool calls or results, or two tools of one name, are refused before I/O."""
        _wire_says(contract, "pairs_tool_calls", "does not refuse unpaired tools")
        model = contract.model(Capability.CHAT, Capability.TOOLS)
        messages, tools = _CASES[case]
        registry = failing_registry(contract)
        params = contract.params(tools=tools)
        _refused_before_io(contract, registry.achat(contract.ref(model), messages, **params), case)

    @clause("requests.temperature_range")
    def test_requests_temperature_range(self, contract: ContractSession) -> None:
        """A temperature above the API's narrower range is refused before any I/O."""
        top = float(_wire_says(contract, "temperature_max", "takes the core's temperatures"))
        model = contract.model(Capability.CHAT)
        registry = failing_registry(contract)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        params = contract.params(temperature=top + 0.5)
        call = registry.achat(contract.ref(model), prompt, **params)
        _refused_before_io(contract, call, f"temperature={top + 0.5}")
