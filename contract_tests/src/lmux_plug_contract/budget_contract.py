"""Contract clauses on how much reasoning each ``reasoning_effort`` level asks for.

:class:`BudgetContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
``reasoning.effort_levels`` asks only that each level's settings be ones the API takes;
mutation testing of the Gemini and Cohere codecs on fresh draws (seed 101) left budget
tables alive that the API takes but that break the order of the levels
(:data:`lmux_plug.params.REASONING_EFFORTS` lists them lowest first), or ask for more
thinking than the model can write:

- ``reasoning.budget_order``: on every declared reasoning model, where the wire reads a
  token budget from the body (its :meth:`thinking_budget`: 0 where reasoning is off), the
  budgets of the levels from ``none`` to ``xhigh`` never fall as the level rises (``none``
  letting the model think as much as it likes is more reasoning than ``minimal``, not
  less); two neighbouring levels ask for the same budget only at an end of the model's
  range (the wire's :meth:`budget_range`: a budget clamped to the most, or the least, the
  model takes), since otherwise the caller asking for more effort gets no more reasoning
  although the model takes more; the scale spans that range: ``none`` turns reasoning off
  or, on a model that cannot, asks for the least it takes, and where the range has a
  documented most (Gemini 2.5's), ``xhigh`` asks for it (else no level reaches the
  model's full reasoning); and every budget stays below the model's declared output limit
  (``max_output_tokens``: thinking tokens are output tokens, and the answer needs room
  after them).

Which budget a level gets is the plugin's choice within these bounds. The clause is
skipped, saying so, on a wire that reads no budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import Capability
from lmux_plug.codec import REASONING_EFFORTS

from lmux_plug_contract._clauses import clause
from lmux_plug_contract.detail_contract import sent_at_level

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["BudgetContract"]


def _budgets(
    contract: ContractSession, model: str, read: Callable[[Any], int | None]
) -> dict[str, int]:
    """Each level's token budget, as the body of a call at that level asks for it (if it does).

    A level refused before any I/O (a typed ``LmuxError``) has no budget; one refused after
    the request was sent fails the clause, as ``reasoning.effort_levels`` judges.
    """
    budgets: dict[str, int] = {}
    for level in REASONING_EFFORTS:
        sent = sent_at_level(contract, model, level)
        budget = None if sent is None else read(sent)
        if budget is not None:
            budgets[level] = budget
    return budgets


class BudgetContract:
    """Clauses on the reasoning budget of each effort level (see the module docstring)."""

    @clause("reasoning.budget_order")
    def test_reasoning_budget_order(self, contract: ContractSession) -> None:
        """Budgets rise with the effort level, span the model's range, stay below its output cap."""
        wire = contract.require_wire()
        read, ranged = (getattr(wire, name, None) for name in ("thinking_budget", "budget_range"))
        if not callable(read):
            pytest.skip(f"not declared: the wire {wire.name!r} reads no thinking budget")
        contract.model(Capability.CHAT, Capability.REASONING)
        contract.use_server(contract.canonical("chat"))
        declared = contract.spec.capabilities_of
        for spec in contract.spec.models:
            if Capability.REASONING not in declared(spec.id):
                continue
            budgets = _budgets(contract, spec.id, read)
            limit = spec.max_output_tokens
            for level, budget in budgets.items():
                assert limit is None or budget < limit, (
                    f"{spec.id}: reasoning_effort={level!r} asks for {budget} thinking tokens, "
                    f"not below the model's output limit {limit}: no room is left for the answer"
                )
            ends = ranged(spec.id) if callable(ranged) else None
            top = ends[1] if ends else None
            assert ends is None or budgets.get("none", 0) in (0, ends[0]), (
                f"{spec.id}: reasoning_effort='none' asks for {budgets.get('none')} thinking "
                f"tokens: neither reasoning off nor the least the model takes ({ends[0]})"
            )
            assert top is None or budgets.get("xhigh", top) == top, (
                f"{spec.id}: reasoning_effort='xhigh' asks for {budgets.get('xhigh')} thinking "
                f"tokens, not the most the model takes ({top}): no level reaches the model's "
                "full reasoning"
            )
            levels = list(budgets)
            for lower, higher in itertools.pairwise(levels):
                low, high = budgets[lower], budgets[higher]
                assert low <= high, (
                    f"{spec.id}: reasoning_effort={higher!r} asks for {high} thinking tokens, "
                    f"less than {lower!r} ({low}): a higher level must not reason less"
                )
                assert low != high or ends is None or low in ends, (
                    f"{spec.id}: reasoning_effort={lower!r} and {higher!r} both ask for {low} "
                    f"thinking tokens, although the model takes {ends[0]} to {ends[1]}: the "
                    "higher level gives no more reasoning"
                )
