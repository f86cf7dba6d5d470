"""Contract clauses on values a server reads or sends in its own dialect.

:class:`DialectContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the OpenAI codec left alive what only some OpenAI-compatible servers
send or read, while the suite served only OpenAI's forms: the reading of a reported cost
(a stream that read it only when not asked to, a prompt part subtracted with ``|``;
``types.cost`` checks a cost against the declared price list, and no wire reported one)
and the name a token cap is sent under (``requests.parameters`` finds the value anywhere
in the body, even under a name no API reads). The OpenAI wire now speaks the dialect of the
server a provider's ``base_url`` names (``wires/openai_dialects.py``), and:

- ``types.reported_cost[chat|stream]``: where the wire says its server reports what each
  call costs (:attr:`reports_cost`, with :meth:`priced_chat` and :meth:`priced_stream`:
  OpenRouter's ``usage.cost`` and ``cost_details.upstream_inference_prompt_cost``), the
  answer's cost is the reported one, to the last digit, not the price list's estimate: its
  total is the reported total and its input part the reported prompt part (the output part
  the rest). On a stream the chunk that carries the usage carries that cost.
- ``requests.token_cap[plain|reasoning]``: where the wire says how its server reads the
  output-token cap (:meth:`token_cap`), ``max_tokens=123`` on a chat model (and on one
  that declares ``reasoning``: OpenAI's reasoning models read ``max_completion_tokens``
  only and refuse ``max_tokens``) reaches the body where the server reads it for that model.

Each is skipped, saying so, on a wire that does not declare what it needs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from lmux_plug import Capability
from lmux_plug import ChatResponse
from lmux_plug import Cost
from lmux_plug import Usage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._paths import path_named
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["REPORTED_COST", "DialectContract"]

#: What the server reports: a total no price list gives for the canonical usage, with a
#: prompt part, in digits a binary float would blur (0.1 + 0.2 is not 0.3 in floats).
REPORTED_COST = Cost(input=Decimal("0.0000425"), output=Decimal("0.00431575"))


class DialectContract:
    """Clauses on a reported cost and the name of the token cap (mixed in)."""

    @clause("requests.token_cap")
    @pytest.mark.parametrize("kind", ["plain", "reasoning"])
    def test_requests_token_cap(self, contract: ContractSession, kind: str) -> None:
        """A token cap reaches the body under the name the server reads for the model."""
        wire = contract.require_wire()
        read = getattr(wire, "token_cap", None)
        if not callable(read):
            pytest.skip(f"not declared: the wire {wire.name!r} does not say where it reads a cap")
        wanted = (Capability.CHAT,) if kind == "plain" else (Capability.CHAT, Capability.REASONING)
        model = contract.model(*wanted)
        contract.use_server(contract.canonical("chat"))
        try:
            contract.run(
                contract.registry.achat(
                    contract.ref(model), canon.CHAT_PROMPT, **contract.params(max_tokens=123)
                )
            )
        except Exception as exc:  # noqa: BLE001 - any refusal of a plain token cap fails
            fail_foreign(exc, "a token cap")
            pytest.fail(f"{model}: max_tokens=123 raised {type(exc).__name__}: {exc}")
        assert contract.server.requests, f"{model}: no request was sent"
        sent = contract.server.requests[-1]
        assert read(sent) == 123, (
            f"{model}: the server reads no token cap of 123 in the body {sent.json()!r:.300}"
        )

    @clause("types.reported_cost")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_reported_cost(self, contract: ContractSession, path: str) -> None:
        """A cost the server reports is the answer's cost, its prompt part the input part."""
        wire = contract.require_wire()
        if not getattr(wire, "reports_cost", False):
            pytest.skip(f"not declared: the wire {wire.name!r} reports no cost")
        call = path_named(path)
        model = contract.model(call.capability)
        usage = Usage(input_tokens=17, output_tokens=2177, reasoning_tokens=960)

        def answer(request: CapturedRequest) -> Reply:
            if call.streamed:
                rendering = wire.priced_stream(  # type: ignore[attr-defined]
                    request, canon.TEXT_PIECES, usage, REPORTED_COST
                )
                return wire.reply_stream(rendering)
            reply: Reply = wire.priced_chat(  # type: ignore[attr-defined]
                request, canon.TEXT, usage, REPORTED_COST
            )
            return reply

        contract.use_server(answer)
        result = contract.invoke(call, model)
        if call.streamed:
            costs = [c.cost for c in result if c.usage is not None]
            assert costs, f"{path}: no chunk carries the usage the server reported"
            cost = costs[-1]
        else:
            assert isinstance(result, ChatResponse), f"chat returned {type(result).__name__}"
            cost = result.cost
        assert cost is not None, f"{path}: the server reported a cost, the answer has none"
        assert cost.total == REPORTED_COST.total, (
            f"{path}: cost {cost.total} != the {REPORTED_COST.total} the server reported"
        )
        assert (cost.input, cost.output) == (REPORTED_COST.input, REPORTED_COST.output), (
            f"{path}: cost split {cost.input} + {cost.output}, the server reported "
            f"{REPORTED_COST.input} for the prompt of {REPORTED_COST.total}"
        )
