"""The load the quota tests put on a router: callers that keep asking until a deadline.

Imported by ``test_quota.py`` in process and by ``redis_worker.py`` in each worker process
(which runs as a script, so it imports this file by name from its own folder).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from lmux_plug.errors import RateLimitError


@dataclass
class Load:
    """What the callers saw, each time read from the ``now`` the load ran on."""

    answered: list[float] = field(default_factory=list)  # when each right answer came
    refused: list[float] = field(default_factory=list)  # when a caller was refused and stopped
    errors: list[str] = field(default_factory=list)  # anything else: a wrong answer, a failure


async def keep_calling(
    router: Any,
    *,
    concurrency: int,
    stop_at: float,
    now: Callable[[], float],
    prefix: str,
    retries: int,
) -> Load:
    """Run ``concurrency`` callers on the logical model ``pool`` until ``stop_at``.

    Each caller sends ``{prefix}{caller}-{n}`` (the fake server echoes it) with a deadline
    at ``stop_at``, and stops at its first refusal (rate limit or timeout) or failure.
    """
    load = Load()

    async def caller(index: int) -> None:
        n = 0
        while now() < stop_at:
            n += 1
            prompt = f"{prefix}{index}-{n}"
            try:
                response = await router.achat(
                    "pool", prompt, retries=retries, deadline=max(stop_at - now(), 0.001)
                )
            except (RateLimitError, builtins.TimeoutError):
                load.refused.append(now())
                return
            except Exception as exc:
                load.errors.append(repr(exc))
                return
            if response.content == f"echo: {prompt}":
                load.answered.append(now())
            else:
                load.errors.append(f"wrong answer {response.content!r}")

    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return load
