"""Progress display for batch runs: a live bar on a terminal, plain lines otherwise.

On a TTY the bar is redrawn in place at most ten times a second; when stderr is a file or
a pipe (CI logs, ``nohup``), one plain line is written every ``interval`` seconds, so logs
stay readable. Both show done/total, rate, ETA, errors, tokens and cost so far.
"""

from __future__ import annotations

import math
import sys
import time
from decimal import Decimal
from typing import TextIO

__all__ = ["Progress", "format_duration"]

_BAR_WIDTH = 24
_TTY_REFRESH = 0.1


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` style, or ``?`` when unknown."""
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return "?"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished items and shows them; :meth:`update` per item, :meth:`close` at the end."""

    def __init__(
        self,
        total: int | None,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        interval: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = _TTY_REFRESH if self.tty else interval
        self.enabled = enabled
        self.done = 0
        self.errors = 0
        self.tokens = 0
        self.cost = Decimal(0)
        self.started = time.monotonic()
        self._next_render = self.started + self.interval

    def update(self, *, ok: bool, tokens: int = 0, cost: Decimal | None = None) -> None:
        """Count one finished item; redraw when it is time."""
        self.done += 1
        if not ok:
            self.errors += 1
        self.tokens += tokens
        if cost is not None:
            self.cost += cost
        if self.enabled:
            now = time.monotonic()
            if now >= self._next_render:
                self._next_render = now + self.interval
                self.render(now)

    def line(self, now: float | None = None) -> str:
        """Return the status text (without the bar)."""
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = format_duration(left / rate) if rate > 0 else "?"
            pct = 100.0 * self.done / self.total
            counts = f"{self.done}/{self.total} {pct:5.1f}%"
        else:
            eta, counts = "?", f"{self.done}"
        return (
            f"{counts}  {rate:,.1f}/s  ETA {eta}  errors {self.errors}  "
            f"tokens {self.tokens:,}  ${self.cost:.4f}"
        )

    def render(self, now: float | None = None) -> None:
        """Draw now."""
        text = self.line(now)
        if self.tty:
            filled = int(_BAR_WIDTH * self.done / self.total) if self.total else 0
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            self.stream.write(f"\r\x1b[2K[{bar}] {text}")
        else:
            self.stream.write(f"batch: {text}\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state (and end the bar's line on a terminal)."""
        if not self.enabled:
            return
        self.render()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
