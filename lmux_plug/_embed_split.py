"""Split an embedding call that holds more texts than the provider takes in one request.

A provider declares its limit as ``ProviderSpec.options["max_embed_inputs"]`` (per model:
``options["max_embed_inputs_by_model"]``). ``Registry.aembed`` sends the texts in parts of
at most that many, one after the other (so client-side rate limits see each request), and
joins the answers: vectors in input order, usage and cost summed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from lmux_plug._types import EmbeddingResponse
from lmux_plug._types import ProviderSpec
from lmux_plug._types import Usage

if TYPE_CHECKING:
    from lmux_plug._pricing import Cost

__all__ = ["embed_in_parts", "max_embed_inputs"]


def max_embed_inputs(spec: ProviderSpec, model_id: str) -> int | None:
    """The most texts ``model_id`` takes in one request, if the provider declares it."""
    by_model = spec.options.get("max_embed_inputs_by_model")
    value = by_model.get(model_id) if isinstance(by_model, dict) else None
    if value is None:
        value = spec.options.get("max_embed_inputs")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


async def embed_in_parts(
    embed: Callable[[tuple[str, ...]], Awaitable[EmbeddingResponse]],
    texts: Sequence[str],
    limit: int,
) -> EmbeddingResponse:
    """Call ``embed`` on consecutive parts of ``texts`` (``limit`` each) and join the answers."""
    answers = [
        await embed(tuple(texts[start : start + limit])) for start in range(0, len(texts), limit)
    ]
    usage = Usage()
    cost: Cost | None = answers[0].cost
    for answer in answers:
        usage = usage + answer.usage
    for answer in answers[1:]:
        cost = None if cost is None or answer.cost is None else cost + answer.cost
    return attrs.evolve(
        answers[0],
        embeddings=[vector for answer in answers for vector in answer.embeddings],
        usage=usage,
        cost=cost,
    )
