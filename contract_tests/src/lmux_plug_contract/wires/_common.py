"""Rendering the suite's wires share where their APIs answer alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmux_plug import Usage

from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import StreamRendering
from lmux_plug_contract.wires._base import Thoughts
from lmux_plug_contract.wires._base import WireFormat

__all__ = ["PlainAsThinking", "enabled_budget"]


def enabled_budget(thinking: Any, key: str) -> int | None:
    """The integer budget ``key`` of an enabled ``thinking`` object, 0 when it is disabled.

    Claude's ``budget_tokens`` (Messages, Converse) and Cohere's ``token_budget``: what
    ``reasoning.budget_order`` reads, once ``reasoning.effort_levels`` has judged the rest.
    None: no ``thinking`` object, or one the clause cannot read a budget from.
    """
    if isinstance(thinking, dict) and thinking.get("type") == "disabled":
        return 0
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get(key)
    return budget if type(budget) is int else None


class PlainAsThinking(WireFormat):
    """A wire whose plain answers are its reasoning answers with no reasoning in them.

    Where an API puts reasoning in the same message or events as the text (Cohere's
    ``thinking`` content, Ollama's ``thinking`` field), one rendering serves both: a
    subclass renders :meth:`thinking_chat` and :meth:`thinking_stream`, and :meth:`chat`
    and :meth:`stream` are those without reasoning blocks.
    """

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """The reasoning answer of :meth:`thinking_chat` without reasoning."""
        return self.thinking_chat(request, (), text, usage)

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """The reasoning stream of :meth:`thinking_stream` without reasoning."""
        return self.thinking_stream(request, (), pieces, usage)

    def thinking_chat(
        self, request: CapturedRequest, thinking: Thoughts, text: str, usage: Usage
    ) -> Reply:
        """An answer whose ``thinking`` blocks come with ``text``."""
        raise NotImplementedError

    def thinking_stream(
        self, request: CapturedRequest, thinking: Thoughts, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A stream of ``thinking``'s blocks, then the text in ``pieces``."""
        raise NotImplementedError
