"""Deployment selection: in what order a call tries the deployments of a logical model.

Every strategy returns a full order (the router walks it, skipping deployments that are
cooling down, have an open breaker or no quota right now):

* ``weighted``: weighted random without replacement (weights default to the declared
  rpm, which pools the quotas),
* ``sticky``: weighted rendezvous hashing on ``sticky_key``: the same key always gets
  the same order (until the deployment list changes),
* ``least-busy``: fewest calls in flight first,
* ``lowest-latency``: lowest moving-average latency first (untried ones first).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections.abc import Callable
from collections.abc import Sequence
from typing import Generic
from typing import TypeVar

from lmux_plug.router.config import Deployment

__all__ = ["Tier", "order_deployments"]

T = TypeVar("T")


def _weighted(deployments: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    if len(deployments) == 1:
        return list(deployments)
    # Efraimidis-Spirakis: sort by u ** (1 / w), which samples without replacement.
    keyed = [(rng.random() ** (1.0 / d.effective_weight), d) for d in deployments]
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [d for _, d in keyed]


def _sticky(deployments: Sequence[Deployment], sticky_key: str) -> list[Deployment]:
    def score(deployment: Deployment) -> float:
        digest = hashlib.blake2b(f"{sticky_key}\0{deployment.id}".encode(), digest_size=8).digest()
        unit = (int.from_bytes(digest, "big") + 0.5) / 2.0**64
        return -deployment.effective_weight / math.log(unit)

    return sorted(deployments, key=score, reverse=True)


def order_deployments(
    deployments: Sequence[Deployment],
    strategy: str,
    *,
    sticky_key: str | None = None,
    busy: Callable[[str], int] | None = None,
    latency: Callable[[str], float] | None = None,
    rng: random.Random | None = None,
) -> list[Deployment]:
    """The order in which a call tries ``deployments`` (one tier)."""
    generator = rng or random._inst  # noqa: SLF001 - the module's shared generator
    if sticky_key is not None or strategy == "sticky":
        if sticky_key is None:
            return _weighted(deployments, generator)
        return _sticky(deployments, sticky_key)
    if strategy == "least-busy" and busy is not None:
        shuffled = _weighted(deployments, generator)  # random among equals
        return sorted(shuffled, key=lambda d: busy(d.id))
    if strategy == "lowest-latency" and latency is not None:
        shuffled = _weighted(deployments, generator)
        return sorted(shuffled, key=lambda d: latency(d.id))
    return _weighted(deployments, generator)


class Tier(Generic[T]):
    """The deployments of one tier (wrapped in ``items``), ordered per call cheaply.

    Weighted order is the hot path: one weighted draw picks the first deployment (with
    exactly the weighted probability) and the others follow in declaration order.
    """

    def __init__(self, items: Sequence[T], deployments: Sequence[Deployment]) -> None:
        self.items = tuple(items)
        self.deployments = tuple(deployments)
        self._index = {d.id: i for i, d in enumerate(self.deployments)}
        self._cumulative = list(itertools.accumulate(d.effective_weight for d in self.deployments))
        self._total = self._cumulative[-1] if self._cumulative else 0.0
        self._rotations = [self.items[i:] + self.items[:i] for i in range(len(self.items))]

    def __len__(self) -> int:
        return len(self.items)

    def order(
        self,
        strategy: str,
        *,
        sticky_key: str | None = None,
        busy: Callable[[str], int] | None = None,
        latency: Callable[[str], float] | None = None,
    ) -> Sequence[T]:
        """The items in the order a call should try them."""
        if len(self.items) < 2:
            return self.items
        if strategy == "weighted" and sticky_key is None:
            start = bisect.bisect_right(self._cumulative, random.random() * self._total)  # noqa: S311
            return self._rotations[min(start, len(self.items) - 1)]
        ordered = order_deployments(
            self.deployments, strategy, sticky_key=sticky_key, busy=busy, latency=latency
        )
        return [self.items[self._index[d.id]] for d in ordered]
