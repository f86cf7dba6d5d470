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
from typing import overload

import attrs

from lmux_plug._types import ChatResponse
from lmux_plug._types import FinishReason
from lmux_plug._types import Usage

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lmux_plug._pricing import Cost

__all__ = ["BatchResult", "EmbeddingResult", "GenerationResult", "Outcome"]

T = TypeVar("T")
V = TypeVar("V")


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


class _OfResponse(Generic[V]):
    """A read-only attribute that reads ``self.response.<field>`` (documented by ``doc``)."""

    def __init__(self, field: str, doc: str) -> None:
        self._field = field
        self.__doc__ = doc

    @overload
    def __get__(self, instance: None, owner: type) -> _OfResponse[V]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> V: ...
    def __get__(self, instance: object, owner: type) -> _OfResponse[V] | V:
        if instance is None:
            return self
        return getattr(instance.response, self._field)  # type: ignore[attr-defined,no-any-return]


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

    # What the chat response says, read through (the response stays the one source).
    output_text = _OfResponse[str | None]("content", "The text of the answer.")
    usage = _OfResponse[Usage]("usage", "Token counts of the call.")
    cost = _OfResponse["Cost | None"]("cost", "The call's price, if the model's pricing is known.")
    finish_reason = _OfResponse[FinishReason]("finish_reason", "Why generation stopped.")
    model = _OfResponse[str]("model", "The model that answered.")
    provider = _OfResponse[str]("provider", "The provider (prefix or deployment) that answered.")
    request_id = _OfResponse[str | None]("request_id", "The provider's request id (support).")


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
