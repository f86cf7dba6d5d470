"""JSONL in and out for the batch CLI: input parsing, output records and resume bookkeeping.

Input lines (blank lines are skipped but still counted, so line numbers match an editor's):

* a JSON string: the prompt (``--embed``: the text);
* a JSON list: the messages, OpenAI-style dicts;
* a JSON object with ``messages`` or ``prompt`` (``--embed``: ``input``, ``text`` or
  ``prompt``) and optionally ``id`` (any JSON value, copied to the output).

Output lines are JSON objects that always begin ``{"line": N, "error": ...``: ``line`` is
the input line number (1-based) and the key of resume. A line is appended with a single
``os.write`` on an ``O_APPEND`` descriptor (no user-space buffer that a crash could tear),
and :meth:`OutputFile.sync` fsyncs at intervals. On start, :meth:`OutputFile.open` cuts a
torn last line (a crash during a write, or power loss before an fsync), then
:meth:`OutputFile.scan` marks every line already answered, so a restarted run does only the
rest and the file ends with exactly one line per input.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug._secrets import known_secrets
from lmux_plug._secrets import scrub
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import LmuxError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "DoneLines",
    "OutputFile",
    "OutputWriteError",
    "count_input_lines",
    "encode_record",
    "error_record",
    "in_shard",
    "iter_input_lines",
    "parse_chat_input",
    "parse_embed_input",
    "peek_id",
    "refuse_unknown_keys",
]

_HEAD = re.compile(rb'^\{"line": (\d+), "error": (n|\{)')
_READ_BLOCK = 1 << 16


# --------------------------------------------------------------------------- input


def _decode(raw: bytes, line: int) -> Any:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        msg = f"line {line}: not valid JSON ({exc})"
        raise InvalidRequestError(msg) from None
    if not raw.isascii() or b"\\u" in raw:
        _check_text(value, line)
    return value


def _check_text(value: Any, line: int) -> None:
    """Refuse lone surrogates: JSON may escape one (a backslash-u D800), but it is no text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = (
                f"line {line}: a string holds a lone surrogate (\\u{ord(value[exc.start]):04x} "
                f"at position {exc.start}), which is not valid Unicode text"
            )
            raise InvalidRequestError(msg) from None
    elif isinstance(value, list):
        for item in value:
            _check_text(item, line)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, line)
            _check_text(item, line)


def refuse_unknown_keys(value: dict[str, Any], known: tuple[str, ...], line: int) -> None:
    """Refuse an input object's key that nothing reads, naming the line and the key.

    A misspelt ``temprature``, or a per-item ``temperature`` (the batch's options apply to
    every item), would otherwise be dropped without a word.
    """
    for key in value:
        if key not in known:
            from lmux_plug.params import did_you_mean  # noqa: PLC0415 - error path only

            msg = (
                f"line {line}: unknown key {key!r}{did_you_mean(str(key), known)}; an input "
                f"object takes {', '.join(repr(k) for k in known)} (parameters such as "
                "temperature are options of the whole batch)"
            )
            raise InvalidRequestError(msg)


def parse_chat_input(raw: bytes, line: int) -> tuple[Any, Any]:
    """Return ``(id, prompt_or_messages)`` of one input line; ``id`` defaults to ``line``.

    Raises :class:`InvalidRequestError` naming the line for anything else.
    """
    value = _decode(raw, line)
    if isinstance(value, (str, list)):
        return line, value
    if isinstance(value, dict):
        refuse_unknown_keys(value, ("id", "messages", "prompt"), line)
        item_id = value.get("id", line)
        if "messages" in value:
            if not isinstance(value["messages"], list):
                msg = f"line {line}: 'messages' must be a list of messages"
                raise InvalidRequestError(msg)
            return item_id, value["messages"]
        if isinstance(value.get("prompt"), str):
            return item_id, value["prompt"]
        msg = f"line {line}: an object needs 'messages' (a list) or 'prompt' (a string)"
        raise InvalidRequestError(msg)
    msg = f"line {line}: expected a string, a list of messages or an object, got {value!r}"
    raise InvalidRequestError(msg)


def parse_embed_input(raw: bytes, line: int) -> tuple[Any, str]:
    """Return ``(id, text)`` of one ``--embed`` input line."""
    value = _decode(raw, line)
    if isinstance(value, str):
        return line, value
    if isinstance(value, dict):
        refuse_unknown_keys(value, ("id", "input", "text", "prompt"), line)
        for key in ("input", "text", "prompt"):
            if isinstance(value.get(key), str):
                return value.get("id", line), value[key]
    msg = f"line {line}: expected a string or an object with 'input' (a string)"
    raise InvalidRequestError(msg)


def in_shard(number: int, shard: tuple[int, int] | None) -> bool:
    """Whether input line ``number`` belongs to shard ``(k, n)`` (1-based ``k``; ``None``: all).

    Lines are dealt round robin, so every shard gets a fair share of a sorted input.
    """
    return shard is None or (number - 1) % shard[1] == shard[0] - 1


def iter_input_lines(
    path: Path, done: DoneLines, shard: tuple[int, int] | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw)`` for every non-blank line of the shard not yet done, lazily."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip() and number not in done and in_shard(number, shard):
                yield number, raw


def count_input_lines(path: Path, shard: tuple[int, int] | None = None) -> int:
    """How many non-blank lines of the shard ``path`` holds (one pass, constant memory)."""
    count = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip() and in_shard(number, shard):
                count += 1
    return count


def peek_id(raw: bytes, line: int) -> Any:
    """The ``id`` of an input line that could not be used, as it was given (else the line)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return line
    return value.get("id", line) if isinstance(value, dict) else line


# --------------------------------------------------------------------------- output records


def _scrubbed(value: Any) -> Any:
    """``value`` with every remembered secret replaced in its strings (an echoing upstream)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item) for item in value]
    return value


def encode_record(line: int, error: dict[str, Any] | None, fields: dict[str, Any]) -> bytes:
    """One output line: ``line`` and ``error`` first (resume reads only that head).

    Every secret the process knows is scrubbed from it: an answer may quote a key that an
    upstream echoed, and the file outlives the run.
    """
    record: dict[str, Any] = {"line": line, "error": error, **fields}
    if known_secrets():
        record = _scrubbed(record)
    text = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (in an id or an echoed value): escaped, the line stays valid JSON
        # and valid UTF-8, so the run and every resume go on.
        return (json.dumps(record, ensure_ascii=True, default=str) + "\n").encode()


def error_record(exc: BaseException) -> dict[str, Any]:
    """Build the ``error`` object of an output line: type, message and known context."""
    if isinstance(exc, LmuxError):
        data: dict[str, Any] = {"type": type(exc).__name__, "message": exc.message}
        for name in ("provider", "model", "status_code", "request_id"):
            value = getattr(exc, name)
            if value is not None:
                data[name] = value
        data["retryable"] = exc.retryable
        raw = getattr(exc, "raw", None)
        if raw is not None:
            data["raw"] = raw
        return data
    return {"type": type(exc).__name__, "message": str(exc), "retryable": False}


# --------------------------------------------------------------------------- resume


class OutputWriteError(LmuxError):
    """The output file could not be written (disk full, I/O error); the run stops."""


class DoneLines:
    """A growable bit set of answered line numbers: 1M lines take 125 kB, not 60 MB."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, line: int) -> bool:
        """Mark ``line``; return ``False`` if it was marked already."""
        byte, bit = divmod(line, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte - len(self._bits) + 1 + len(self._bits) // 2))
        mask = 1 << bit
        if self._bits[byte] & mask:
            return False
        self._bits[byte] |= mask
        self.count += 1
        return True

    def __contains__(self, line: object) -> bool:
        if not isinstance(line, int):
            return False
        byte, bit = divmod(line, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))


class OutputFile:
    """The append-only output of a batch run, safe to resume after any crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1
        self.truncated_bytes = 0
        self.lines = 0
        self.failed = 0
        self.duplicates = 0
        self.lines_written = 0

    def open(self) -> OutputFile:
        """Open for appending, after cutting a torn trailing line if there is one."""
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            msg = f"cannot open output {str(self.path)!r}: {exc.strerror}"
            raise ConfigurationError(msg) from None
        self._cut_torn_tail()
        return self

    def _cut_torn_tail(self) -> None:
        size = os.fstat(self.fd).st_size
        end = size
        while end > 0:
            # Find the last newline; everything after it is a line whose write never ended.
            start = max(end - _READ_BLOCK, 0)
            block = os.pread(self.fd, end - start, start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
        if keep < size:
            os.ftruncate(self.fd, keep)
            os.fsync(self.fd)
            self.truncated_bytes = size - keep

    def scan(self, *, retry_failed: bool = False) -> DoneLines:
        """Mark the lines not to run again: answered ones, or (``retry_failed``) successes.

        So a retry run re-runs exactly the lines whose outcome so far is an error, and
        never a success.

        Counts the answered lines, those whose last outcome failed, and duplicates (a line
        answered twice where a retry does not explain it).
        """
        answered = DoneLines()
        succeeded = DoneLines()
        with self.path.open("rb") as handle:
            for raw in handle:
                match = _HEAD.match(raw)
                head = (
                    (int(match.group(1)), match.group(2) == b"{")
                    if match is not None
                    else self._slow_head(raw)
                )
                line, failed = head
                if line is None:
                    continue
                fresh = answered.add(line)
                if not failed and not succeeded.add(line):
                    self.duplicates += 1  # two successes: never written by a correct run
                elif failed and not fresh:
                    self.duplicates += line in succeeded
        self.lines = answered.count
        self.failed = answered.count - succeeded.count
        return succeeded if retry_failed else answered

    def _slow_head(self, raw: bytes) -> tuple[int | None, bool]:
        # A line written by hand or another tool: same meaning, any key order.
        try:
            record = json.loads(raw)
        except ValueError:
            return None, False
        if not isinstance(record, dict) or not isinstance(record.get("line"), int):
            return None, False
        return record["line"], record.get("error") is not None

    def write(self, data: bytes) -> None:
        """Append one complete line with a single write (short writes are finished).

        When the disk is full (or any write fails), the part of the line already written
        is cut off again, so the file never ends in a line that looks answered, and
        :class:`OutputWriteError` says what happened.
        """
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            with contextlib.suppress(OSError):  # best effort: the disk may refuse even this
                self._cut_torn_tail()
            msg = f"cannot write the output {str(self.path)!r}: {exc.strerror or exc}"
            raise OutputWriteError(msg) from exc
        self.lines_written += 1

    def sync(self) -> None:
        """Flush the file to disk (called at intervals and at the end)."""
        if self.fd >= 0:
            try:
                os.fsync(self.fd)
            except OSError as exc:
                msg = f"cannot write the output {str(self.path)!r}: {exc.strerror or exc}"
                raise OutputWriteError(msg) from exc

    def close(self) -> None:
        """Sync and close (:class:`OutputWriteError` if the last sync fails)."""
        if self.fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self.fd)
                self.fd = -1
