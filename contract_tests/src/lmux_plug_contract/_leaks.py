"""Where a key could leak during a call, captured so a clause can search all of it.

:func:`capture_everything` records, while it is active, every log record *any* logger
creates (whatever its level or propagation setting), every warning, and what is written
to ``sys.stdout`` / ``sys.stderr``. :func:`texts_of_exception` and :func:`texts_of_record`
turn an exception (its whole cause/context chain, args, attributes and notes) and a log
record (every attribute, not only the formatted message) into the strings to search.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import attrs

__all__ = ["Captured", "capture_everything", "texts_of", "texts_of_exception", "texts_of_record"]


@attrs.define
class Captured:
    """What was emitted while :func:`capture_everything` was active."""

    records: list[logging.LogRecord] = attrs.field(factory=list)
    warnings: list[warnings.WarningMessage] = attrs.field(factory=list)
    output: io.StringIO = attrs.field(factory=io.StringIO)

    def texts(self) -> Iterator[tuple[str, str]]:
        """``(where, text)`` pairs for every captured thing."""
        for record in self.records:
            for text in texts_of_record(record):
                yield f"log record {record.name}", text
        for caught in self.warnings:
            yield "warning", str(caught.message)
        yield "stdout/stderr", self.output.getvalue()


def texts_of(value: Any, depth: int = 0) -> Iterator[str]:
    """``str`` and ``repr`` of ``value`` and of what it contains (bounded depth)."""
    if depth > 4:
        return
    with contextlib.suppress(Exception):
        yield str(value)
    with contextlib.suppress(Exception):
        yield repr(value)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from texts_of(key, depth + 1)
            yield from texts_of(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from texts_of(item, depth + 1)
    elif isinstance(value, BaseException):
        yield from texts_of_exception(value, depth + 1)


def texts_of_record(record: logging.LogRecord) -> Iterator[str]:
    """Every attribute of ``record`` (args, extra fields, exception info), and its message."""
    with contextlib.suppress(Exception):
        yield record.getMessage()
    for name, value in vars(record).items():
        if name == "exc_info" and value:
            yield "".join(traceback.format_exception(*value))
        else:
            yield from texts_of(value)


def texts_of_exception(exc: BaseException, depth: int = 0) -> Iterator[str]:
    """The exception chain: str, repr, args, attributes and notes of each link."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen and depth <= 4:
        seen.add(id(link))
        yield str(link)
        yield repr(link)
        yield from texts_of(link.args, depth + 1)
        yield from texts_of(getattr(link, "__notes__", ()), depth + 1)
        for name, value in vars(link).items():
            if not name.startswith("__"):
                yield from texts_of(value, depth + 1)
        yield "".join(traceback.format_exception_only(type(link), link))
        link = link.__cause__ or link.__context__


@contextlib.contextmanager
def capture_everything() -> Iterator[Captured]:
    """Record every log record, warning and stdout/stderr write made inside."""
    captured = Captured()
    real_handle = logging.Logger.handle
    real_enabled = logging.Logger.isEnabledFor
    disabled = logging.root.manager.disable

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        captured.records.append(record)
        real_handle(self, record)

    def enabled(self: logging.Logger, level: int) -> bool:  # noqa: ARG001 - every level
        return True

    logging.Logger.handle = handle  # type: ignore[method-assign]
    logging.Logger.isEnabledFor = enabled  # type: ignore[method-assign]
    logging.disable(logging.NOTSET)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = captured.output
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield captured
            captured.warnings.extend(caught)
    finally:
        sys.stdout, sys.stderr = real_out, real_err
        logging.disable(disabled)
        logging.Logger.handle = real_handle  # type: ignore[method-assign]
        logging.Logger.isEnabledFor = real_enabled  # type: ignore[method-assign]
