"""Contract clauses about tools at their edges: strict schemas asked for, calls cut off.

:class:`ToolsContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Its clauses were added when mutation testing of the OpenAI and Cohere codecs
(``contract_tests/mutation``) showed defects the other clauses let live:

- ``requests.strict_tools``: a tool declared ``strict`` (``FunctionDefinition.strict``)
  reaches the body as the API reads strictness, and a body where no tool was declared
  strict holds none to its schema (strict mode makes the API refuse or rewrite schemas
  it did not ask about). A provider that cannot hold a tool to its schema refuses the
  request with ``UnsupportedFeatureError`` before any I/O; dropping the flag silently
  fails. The wire tells which tools the API holds strict
  (:meth:`StrictToolsWire.strict_tools`); wires without it skip.
- ``tools.cut_off``: a tool-call answer that the API cut off at the token cap (OpenAI's
  ``length``, Cohere's ``MAX_TOKENS``) is reported with ``FinishReason.LENGTH``, never
  ``TOOL_CALLS``: the call's arguments are incomplete, and code that runs the calls of a
  ``tool_calls`` answer would run a broken one. An ``LmuxError`` is accepted too. The
  wire renders the cut-off answer (:meth:`CutOffWire.cut_tool_chat` and
  ``cut_tool_stream``); wires without it skip.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import cast
from typing import runtime_checkable

import pytest
from lmux_plug import Capability
from lmux_plug import FinishReason
from lmux_plug import ToolCall
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import fail_foreign as _fail_foreign
from lmux_plug_contract._clauses import clause
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import StreamRendering

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["CUT_ARGUMENT_PIECES", "CutOffWire", "StrictToolsWire", "ToolsContract"]

#: The canonical call's arguments as far as the model got before the token cap: not JSON.
CUT_ARGUMENT_PIECES = canon.TOOL_ARGUMENT_PIECES[:2]
_CUT_CALL = ToolCall(
    id=canon.TOOL_CALL.id, name=canon.TOOL_CALL.name, arguments="".join(CUT_ARGUMENT_PIECES)
)
_STRICT_NAME = canon.TOOL_CALL.name  # get_weather, the tool declared strict


@runtime_checkable
class StrictToolsWire(Protocol):
    """A wire that reads which tools a chat request body holds to their schema."""

    def strict_tools(self, request: CapturedRequest) -> frozenset[str]:
        """The names of the tools the API will hold to their parameter schema."""


@runtime_checkable
class CutOffWire(Protocol):
    """A wire that renders a tool-call answer cut off at the token cap (a whole answer)."""

    def cut_tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A whole answer calling ``call`` (arguments incomplete), ended by the token cap."""


@runtime_checkable
class CutOffStreamWire(Protocol):
    """A wire that also renders the cut-off tool call as a stream."""

    def cut_tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """The streamed form of :meth:`cut_tool_chat`, ``call``'s arguments in ``fragments``."""


def _strict(tool: dict[str, Any]) -> dict[str, Any]:
    """``tool`` declared strict, its schema closed as strict modes require."""
    strict = copy.deepcopy(tool)
    strict["function"]["strict"] = True
    strict["function"]["parameters"]["additionalProperties"] = False
    return strict


class ToolsContract:
    """Clauses about strict tools and cut-off tool calls (mixed into the contract)."""

    @clause("requests.strict_tools")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    @pytest.mark.parametrize("case", ["strict", "default"])
    def test_requests_strict_tools(self, contract: ContractSession, case: str, path: str) -> None:
        """A tool declared strict is sent as strict; no tool is made strict unasked."""
        wire = contract.require_wire()
        if not isinstance(wire, StrictToolsWire):
            pytest.skip(f"not declared: the wire {wire.name!r} does not read strict tools")
        streamed = path == "stream"
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT, Capability.TOOLS)
        weather = _strict(canon.WEATHER_TOOL) if case == "strict" else canon.WEATHER_TOOL
        contract.use_server(contract.canonical("stream" if streamed else "chat"))
        prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        params = contract.params(tools=[weather, canon.TIME_TOOL])
        ref = contract.ref(model)
        try:
            if streamed:
                contract.collect(contract.registry.achat_stream(ref, prompt, **params))
            else:
                contract.run(contract.registry.achat(ref, prompt, **params))
        except Exception as exc:  # noqa: BLE001 - the clause is about what was raised
            _fail_foreign(exc, f"{path}: {case} tools")
            assert case == "strict", f"{path}: two tools, neither strict, raised {exc!r}"
            assert isinstance(exc, UnsupportedFeatureError), (
                f"{path}: a strict tool raised {type(exc).__name__}: {exc} (a provider that "
                "cannot hold tools to their schema refuses with UnsupportedFeatureError)"
            )
            assert not contract.server.requests, f"{path}: the strict tool was refused after I/O"
            pytest.skip(f"not declared: the provider refuses strict tools: {exc}")
        strict = wire.strict_tools(contract.server.requests[-1])
        if case == "strict":
            assert _STRICT_NAME in strict, (
                f"{path}: {_STRICT_NAME} was declared strict, but the body holds "
                f"{sorted(strict) or 'no tool'} to its schema (the strict flag was dropped)"
            )
        else:
            assert not strict, (
                f"{path}: no tool was declared strict, but the body holds {sorted(strict)} "
                "to their schema"
            )

    @clause("tools.cut_off")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_cut_off(self, contract: ContractSession, path: str) -> None:
        """A tool call cut off at the token cap finishes as LENGTH, not TOOL_CALLS."""
        wire = contract.require_wire()
        streamed = path == "stream"
        renders = isinstance(wire, CutOffStreamWire if streamed else CutOffWire)
        if not renders:
            pytest.skip(f"not declared: the wire {wire.name!r} renders no cut-off tool {path}")
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT, Capability.TOOLS)

        def answer(request: CapturedRequest) -> Reply:
            if streamed:  # the wire renders it: checked above
                rendering = cast("CutOffStreamWire", wire).cut_tool_stream(
                    request, _CUT_CALL, CUT_ARGUMENT_PIECES, canon.USAGE
                )
                return wire.reply_stream(rendering)
            return cast("CutOffWire", wire).cut_tool_chat(request, _CUT_CALL, canon.USAGE)

        contract.use_server(answer)
        prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        params = contract.params(tools=[canon.WEATHER_TOOL], max_tokens=16)
        ref = contract.ref(model)
        try:
            said = ask(contract, ref, prompt, params, path)
        except Exception as exc:  # noqa: BLE001 - an LmuxError is an answer too
            _fail_foreign(exc, f"{path}: a cut-off tool call")
            return
        finish = said.finish(path)
        assert finish is FinishReason.LENGTH, (
            f"{path}: the API cut the tool call off at the token cap, the result reports "
            f"finish {finish!r}, not {FinishReason.LENGTH!r} (its arguments are incomplete)"
        )
