"""Contract clause on reasoning budgets across the effort levels, under token caps.

:class:`BudgetCapsContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
``reasoning.effort_levels`` and ``reasoning.small_cap`` judge each level alone (a budget
the API accepts); mutation testing of the Anthropic codec on fresh draws left budgets
alive that the API accepts one by one but that turn the levels upside down: a budget
fitted under a small cap as half the cap (``low`` thinking more than ``high``), a model's
output limit met by a budget of 1024 at ``xhigh`` while ``high`` keeps 16,384.

- ``reasoning.budget_caps``: on a wire that reads the thinking budget a body sends
  (:meth:`thinking_budget`: Anthropic's ``thinking.budget_tokens``), every declared
  reasoning model asked for each ``reasoning_effort`` level, without a token cap and
  under caps of 3,000 and 20,000 tokens: a higher level never gets a smaller budget than
  a lower one at the same cap; without a cap the highest level taken thinks more than the
  lowest (else the level is ignored); and the output cap sent without one is within the
  model's declared output limit (the API refuses ``max_tokens`` above it). A level may be
  refused before any I/O (``LmuxError``), never after it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import pytest
from lmux_plug import Capability
from lmux_plug import UserMessage
from lmux_plug.codec import REASONING_EFFORTS

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._clauses import clause
from lmux_plug_contract.margins_contract import UNDECLARED_MODEL

if TYPE_CHECKING:
    from collections.abc import Callable

    from lmux_plug_contract._session import ContractSession
    from lmux_plug_contract.wires import CapturedRequest

__all__ = ["BudgetCapsContract"]

#: The caller's token caps: none (the plugin's default), then two below the top budgets.
_CAPS: tuple[int | None, ...] = (None, 3000, 20000)
#: The least room a cap the plugin chose leaves for the answer after a whole budget: the
#: smallest budget the API takes (an answer may be as long as the least thinking).
_ANSWER_ROOM = 1024


def _readers(
    contract: ContractSession,
) -> tuple[Callable[[CapturedRequest], int | None], Callable[[CapturedRequest], int | None]]:
    """The wire's readers of a body's thinking budget and token cap, or skip: it has none."""
    wire = contract.require_wire()
    readers = (getattr(wire, "thinking_budget", None), getattr(wire, "token_cap", None))
    if not all(map(callable, readers)):
        pytest.skip(f"not declared: the wire {wire.name!r} reads no thinking budget")
    return readers  # type: ignore[return-value]


def _reasoning_models(contract: ContractSession) -> dict[str, int | None]:
    """Each model that reasons -> its output limit (skip: none reasons).

    The declared ones, each with its own limit (a codec may budget each apart), and an id
    the provider does not list where such ids may reason, held to the largest declared
    limit: no model of the provider writes more, whatever its id.
    """
    contract.model(Capability.CHAT, Capability.REASONING)
    wanted = {Capability.CHAT, Capability.REASONING}
    limits = {
        m.id: m.max_output_tokens
        for m in contract.spec.models
        if wanted <= contract.spec.capabilities_of(m.id)
    }
    if contract.spec.model(UNDECLARED_MODEL) is None and wanted <= set(
        contract.spec.capabilities_of(UNDECLARED_MODEL)
    ):
        limits[UNDECLARED_MODEL] = (
            max((m.max_output_tokens or 0 for m in contract.spec.models), default=0) or None
        )
    return limits


def _check_default_cap(
    taken: list[tuple[str, int, int | None]], limit: int | None, what: str
) -> None:
    """The cap a plugin chooses: within the model's limit, with room left for an answer."""
    for level, budget, cap in taken:
        assert cap is None or not limit or cap <= limit, (
            f"{what}: reasoning_effort={level!r} sends max_tokens={cap}, above the model's "
            f"output limit of {limit} (the API refuses it)"
        )
        assert cap is None or cap - budget >= _ANSWER_ROOM, (
            f"{what}: reasoning_effort={level!r} sends max_tokens={cap} with a thinking "
            f"budget of {budget}: a model that thinks its budget has {cap - budget} tokens "
            f"left to answer (at least {_ANSWER_ROOM} where the caller set no cap)"
        )


class BudgetCapsContract:
    """The clause on how reasoning budgets grow with the effort level (mixed in)."""

    @clause("reasoning.budget_caps")
    def test_reasoning_budget_caps(self, contract: ContractSession) -> None:
        """A higher reasoning_effort never thinks less; no cap sends one within the model's."""
        read, cap_of = _readers(contract)
        contract.use_server(contract.canonical("chat"))
        for model, limit in _reasoning_models(contract).items():
            for cap in _CAPS:
                taken = self._budgets(contract, model, cap, read, cap_of)
                budgets = [(level, budget) for level, budget, _ in taken]
                what = f"{model}, max_tokens={cap}"
                for (low, smaller), (high, larger) in pairwise(budgets):
                    assert larger >= smaller, (
                        f"{what}: reasoning_effort={high!r} gets a thinking budget of "
                        f"{larger}, below the {smaller} of {low!r}"
                    )
                if cap is not None:
                    continue
                _check_default_cap(taken, limit, what)
                assert len(budgets) < 2 or budgets[-1][1] > budgets[0][1], (
                    f"{what}: every level thinks the same ({budgets[0][1]} tokens): the "
                    "reasoning_effort asked for changes nothing"
                )

    def _budgets(
        self,
        contract: ContractSession,
        model: str,
        cap: int | None,
        read: Callable[[CapturedRequest], int | None],
        cap_of: Callable[[CapturedRequest], int | None],
    ) -> list[tuple[str, int, int | None]]:
        """(level, budget, token cap) sent for each level above none ``model`` takes at ``cap``."""
        budgets: list[tuple[str, int, int | None]] = []
        for level in REASONING_EFFORTS[1:]:
            before = len(contract.server.requests)
            extra = {} if cap is None else {"max_tokens": cap}
            params = contract.params(reasoning_effort=level, **extra)
            try:
                contract.run(
                    contract.registry.achat(
                        contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], **params
                    )
                )
            except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
                fail_foreign(exc, f"{model}: reasoning_effort={level!r}, max_tokens={cap}")
                assert len(contract.server.requests) == before, (
                    f"{model}: reasoning_effort={level!r}, max_tokens={cap}: "
                    f"{type(exc).__name__} after the request was sent: {exc}"
                )
                continue
            sent = contract.server.requests[-1]
            budget = read(sent)
            if budget is not None:
                budgets.append((level, budget, cap_of(sent)))
        return budgets
