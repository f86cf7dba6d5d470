"""Broken variants of the in-repo Gemini and Bedrock codecs for ``reasoning.budget_order``.

Each sends, for one effort level, a thinking budget the API takes but that breaks the order
of the levels or does not fit the model's output: the defects mutation testing of the
Gemini and Cohere codecs left alive on a fresh draw (seed 101). Each states the clause it
must fail (``fails_on``); ``test_broken_plugins.py`` runs them as the provider their
``spec`` declares. Loaded after ``details.py``, whose served codecs they vary.
"""

from __future__ import annotations

import sys
from typing import Any

from lmux_plug import ChatRequest
from lmux_plug.wire import WireRequest

ServedGemini: Any = sys.modules["lmux_contract_examples_details"].ServedGemini
ServedBedrock: Any = sys.modules["lmux_contract_examples_details"].ServedBedrock


def _xhigh_budget(sent: WireRequest, request: ChatRequest, budget: int) -> WireRequest:
    """Bedrock's body ``sent`` with an ``xhigh`` call's thinking budget set to ``budget``."""
    fields = sent.body.get("additionalModelRequestFields", {})
    if request.reasoning_effort == "xhigh" and "budget_tokens" in fields.get("thinking", {}):
        fields["thinking"]["budget_tokens"] = budget
    return sent


def _pro_budget(sent: WireRequest, request: ChatRequest, was: int, now: int) -> WireRequest:
    """Gemini's body ``sent`` with a Gemini 2.5 Pro thinking budget ``was`` sent as ``now``."""
    thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
    if request.model.startswith("gemini-2.5-pro") and thinking.get("thinkingBudget") == was:
        thinking["thinkingBudget"] = now
    return sent


class FlashBudgetBelowTop(ServedGemini):  # type: ignore[misc]
    """Clamps Gemini 2.5 Flash budgets to 24575, one below the most Flash takes (24576).

    ``high`` and ``xhigh`` then ask for the same 24575 tokens: the caller asking for more
    effort gets no more reasoning although the model takes more.
    """

    fails_on = ("reasoning.budget_order", "budget_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
        flash = request.model.startswith("gemini-2.5-flash") and "lite" not in request.model
        if flash and thinking.get("thinkingBudget", 0) >= 24576:
            thinking["thinkingBudget"] = 24575
        return sent


class XhighBelowHigh(ServedBedrock):  # type: ignore[misc]
    """Sends reasoning_effort='xhigh' with the medium level's budget (8192), below high's."""

    fails_on = ("reasoning.budget_order", "budget_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        return _xhigh_budget(sent, request, 8192)


class BudgetOfWholeOutput(ServedBedrock):  # type: ignore[misc]
    """Sends reasoning_effort='xhigh' as a budget of the model's whole output (64,000).

    Converse takes it when the caller sets no ``maxTokens``, but the model can then spend
    every token it may write on thinking, and the answer gets none.
    """

    fails_on = ("reasoning.budget_order", "budget_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        return _xhigh_budget(sent, request, 64_000)


class NoneThinksDynamically(ServedGemini):  # type: ignore[misc]
    """Sends reasoning_effort='none' as thinkingBudget -1 (dynamic) instead of 0 (off).

    Gemini takes it, and the model then thinks as much as it likes (up to 24,576 tokens on
    Flash): the caller who asked for no reasoning gets more than at ``minimal``.
    """

    fails_on = ("reasoning.budget_order", "budget_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        thinking = sent.body.get("generationConfig", {}).get("thinkingConfig", {})
        if request.reasoning_effort == "none" and thinking.get("thinkingBudget") == 0:
            thinking["thinkingBudget"] = -1
        return sent


class ProXhighBelowTop(ServedGemini):  # type: ignore[misc]
    """Sends reasoning_effort='xhigh' to Gemini 2.5 Pro as 32,767 tokens, one below its most.

    Every level still rises, but none asks for the 32,768 tokens Pro takes: the caller can
    no longer reach the model's full reasoning through ``reasoning_effort``.
    """

    fails_on = ("reasoning.budget_order", "budget_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        return _pro_budget(sent, request, 32768, 32767)


class ProNoneAboveLeast(ServedGemini):  # type: ignore[misc]
    """Sends reasoning_effort='none' to Gemini 2.5 Pro as 129 tokens, not its least (128).

    Pro cannot turn thinking off; a caller asking for none should get the least it takes.
    """

    fails_on = ("reasoning.budget_order", "budget_order")

    def send(self, sent: WireRequest, request: ChatRequest) -> WireRequest:
        return _pro_budget(sent, request, 128, 129)
