"""What a batch returns: one slot per input, successes and failures side by side.

``BatchResult.results[i]`` holds the answer to input ``i`` (or ``None``) and
``BatchResult.errors[i]`` the exception it failed with (or ``None``); exactly one of the
two is set for every input. The item types wrap the core responses with what a batch adds:
the parsed structured output and the latency of the call.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import Generic
from typing import TypeVar

import attrs

from lmux_plug._types import ChatResponse
from lmux_plug._types import FinishReason
from lmux_plug._types import Usage

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lmux_plug._pricing import Cost

__all__ = ["BatchResult", "EmbeddingResult", "GenerationResult", "Outcome"]

T = TypeVar("T")


@attrs.frozen
class Outcome:
    """One finished item as the streaming API delivers it: ``result`` or ``error`` is set.

    Unpacks like a tuple: ``for index, result, error in stream``.
    """

    index: int
    result: Any
    error: BaseException | None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.result, self.error))


@attrs.frozen
class GenerationResult:
    """The answer to one batch input: the chat response plus the parsed structured output.

    ``output_parsed`` is set when the batch asked for a ``response_format``; a parse failure
    is never a ``None`` here but an :class:`~lmux_plug.batch.OutputParseError` in
    ``BatchResult.errors``.
    """

    response: ChatResponse
    output_parsed: Any = None
    latency: float = 0.0

    @property
    def output_text(self) -> str | None:
        """The text of the answer."""
        return self.response.content

    @property
    def usage(self) -> Usage:
        """Token counts of the call."""
        return self.response.usage

    @property
    def cost(self) -> Cost | None:
        """The price of the call, when the model's pricing is known."""
        return self.response.cost

    @property
    def finish_reason(self) -> FinishReason:
        """Why generation stopped."""
        return self.response.finish_reason

    @property
    def model(self) -> str:
        """The model that answered."""
        return self.response.model

    @property
    def provider(self) -> str:
        """The provider (prefix or deployment) that answered."""
        return self.response.provider

    @property
    def request_id(self) -> str | None:
        """The provider's request id, for support tickets."""
        return self.response.request_id


@attrs.frozen
class EmbeddingResult:
    """The vector of one batch input, and the micro-batch call that produced it."""

    embedding: tuple[float, ...]
    model: str
    provider: str
    latency: float = 0.0


@attrs.define
class BatchResult(Generic[T]):
    """Results and errors of a batch, one slot per input, in input order.

    ``usage`` and ``cost`` add up every successful call (``cost`` stays ``None`` when no
    call had a known price).
    """

    results: list[T | None]
    errors: list[BaseException | None]
    usage: Usage = attrs.field(factory=Usage)
    cost: Cost | None = None

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Outcome]:
        for index, (result, error) in enumerate(zip(self.results, self.errors, strict=False)):
            yield Outcome(index, result, error)

    @property
    def ok_count(self) -> int:
        """How many inputs succeeded."""
        return sum(1 for e in self.errors if e is None)

    @property
    def error_count(self) -> int:
        """How many inputs failed."""
        return sum(1 for e in self.errors if e is not None)

    @property
    def total_cost(self) -> Decimal:
        """The summed cost in US dollars (``0`` when nothing was priced)."""
        return Decimal(0) if self.cost is None else self.cost.total
