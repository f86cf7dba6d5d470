"""Contract clause on what each streamed chunk carries.

:class:`ChunkContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Anthropic codec on fresh draws (seeds 13 and 89) left a decoder
alive that handed out an extra chunk carrying nothing (``ChatChunk(delta="")``) before
the terminal one of every stream: the stream clauses read the text, the calls and the one
finish reason, and an empty chunk changes none of them.

- ``streaming.empty_chunks[text|tools]``: every chunk of a streamed answer (the canonical
  text stream, the canonical tool-call stream) carries something: text, reasoning (a
  delta or a closed block), a tool-call delta, the finish reason or the usage. A chunk
  that carries nothing is handed to the caller as if the model had said something: it
  sets the time to the first token before the first token, wakes every consumer that
  renders or counts chunks, and reads as an event no API sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._clauses import clause

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["ChunkContract", "carries_nothing"]


def carries_nothing(chunk: ChatChunk) -> bool:
    """Whether ``chunk`` holds no text, reasoning, tool-call delta, finish reason or usage."""
    return not (
        chunk.delta
        or chunk.thinking_delta
        or chunk.thinking
        or chunk.tool_call_deltas
        or chunk.finish_reason is not None
        or chunk.usage is not None
    )


class ChunkContract:
    """The clause on streamed chunks that carry nothing (mixed in)."""

    @clause("streaming.empty_chunks")
    @pytest.mark.parametrize("kind", ["text", "tools"])
    def test_streaming_empty_chunks(self, contract: ContractSession, kind: str) -> None:
        """Every chunk of a streamed answer carries text, reasoning, a call, a finish or usage."""
        if kind == "text":
            model = serve_canonical(contract, "stream", Capability.STREAM)
            prompt, params = [UserMessage(canon.CHAT_PROMPT)], contract.params()
        else:
            model = serve_canonical(contract, "tools", Capability.STREAM, Capability.TOOLS)
            prompt = [UserMessage(canon.TOOL_PROMPT)]
            params = contract.params(tools=[canon.WEATHER_TOOL])
        chunks = contract.collect(
            contract.registry.achat_stream(contract.ref(model), prompt, **params)
        )
        assert chunks, f"{kind}: the stream gave no chunk"
        empty = [place for place, chunk in enumerate(chunks) if carries_nothing(chunk)]
        assert not empty, (
            f"{kind}: chunks {empty} of {len(chunks)} carry nothing (no text, reasoning, "
            f"tool-call delta, finish reason or usage): {chunks[empty[0]]!r:.300}"
        )
