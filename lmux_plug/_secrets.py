"""Keep configured secrets out of everything lmux-plug produces.

Every :class:`lmux_plug.Secret` remembers its value here when it is built, whatever it came
from (an ``api_key=`` argument, an env var, an auth hook, a router key pool). Errors scrub
their message, body and headers at construction (:mod:`lmux_plug.errors`), log records of
the ``lmux_plug`` loggers are scrubbed by :class:`ScrubFilter`, and anything else that writes
text out (cassettes, batch files, gateway answers) calls :func:`scrub`.

An upstream that echoes the key it was sent (in an error body, a malformed 200, a stream
error event) therefore cannot make the key show up in a ``str``, ``repr``, traceback, pickle,
log line or file.
"""

from __future__ import annotations

import bisect
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import logging

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "ScrubFilter",
    "StreamScrubber",
    "forget_secrets",
    "known_secrets",
    "remember_secret",
    "scrub",
    "scrub_exception",
    "scrubbed_logger",
    "without_userinfo",
]

#: What a secret is replaced with.
REDACTED = "[redacted]"
#: Shorter values are not remembered: scrubbing ``"abc"`` would mangle ordinary text and no
#: real credential is that short. Secrets passed to :func:`scrub` explicitly are always used.
MIN_SECRET_LENGTH = 8
#: How many distinct secrets are remembered (least recently seen forgotten first), so a
#: process that sees many per-call keys stays bounded.
MAX_KNOWN_SECRETS = 4096

_known: dict[str, None] = {}
_lock = threading.Lock()
# Longest first, so a secret that contains another is replaced whole. Rebuilt on change.
_ordered: tuple[str, ...] = ()


def remember_secret(value: str) -> None:
    """Remember ``value`` as a secret to scrub from everything lmux-plug produces."""
    global _ordered  # noqa: PLW0603 - the one process-wide table of secrets
    if len(value) < MIN_SECRET_LENGTH:
        return
    if value in _known:  # the usual case (the same key on every call): nothing changes
        return
    with _lock:
        _known[value] = None
        while len(_known) > MAX_KNOWN_SECRETS:
            del _known[next(iter(_known))]
        _ordered = tuple(sorted(_known, key=len, reverse=True))


def forget_secrets() -> None:
    """Forget every remembered secret (for tests)."""
    global _ordered  # noqa: PLW0603
    with _lock:
        _known.clear()
        _ordered = ()


def known_secrets() -> tuple[str, ...]:
    """Every remembered secret, longest first. Never print what this returns."""
    return _ordered


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every remembered secret and every one of ``secrets`` replaced.

    The replacement is :data:`REDACTED`. Empty strings in ``secrets`` are ignored.
    """
    extra = [s for s in secrets if s and s not in _known]
    found = [s for s in (*_ordered, *extra) if s in text]
    if not found:
        return text
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class _Prefixes:
    """Answers "is this text the start of a secret?" for a set of secrets, in O(log n)."""

    __slots__ = ("first", "longest", "ordered")

    def __init__(self, secrets: Iterable[str]) -> None:
        self.ordered = sorted({s for s in secrets if s})
        self.first = frozenset(s[0] for s in self.ordered)
        self.longest = max(map(len, self.ordered), default=0)

    def held_tail(self, text: str) -> int:
        """Length of the longest end of ``text`` that a secret starts with (not a whole one)."""
        ordered = self.ordered
        for start in range(max(0, len(text) - self.longest + 1), len(text)):
            if text[start] not in self.first:
                continue
            tail = text[start:]
            # Every secret that begins with ``tail`` sorts at or just after it.
            at = bisect.bisect_left(ordered, tail)
            for secret in ordered[at : at + 2]:
                if len(secret) > len(tail) and secret.startswith(tail):
                    return len(text) - start
        return 0


class StreamScrubber:
    """Scrubs text that arrives in pieces (a stream's deltas), across piece boundaries.

    :func:`scrub` on each piece alone misses a secret split over two pieces (two SSE events,
    two TCP reads). :meth:`feed` scrubs what it has and holds back the end of it that could
    be the start of a secret (never more than the longest secret minus one character) until
    the next piece shows whether it is; :meth:`flush` gives back what is held when the
    stream ends. Remembered secrets count as they are at each :meth:`feed`.
    """

    __slots__ = ("_extra", "_held", "_index", "_key", "_replacement")

    def __init__(self, secrets: Iterable[str] = (), *, replacement: str = REDACTED) -> None:
        self._extra = tuple(s for s in secrets if s)
        self._replacement = replacement
        self._held = ""
        self._key: tuple[str, ...] | None = None
        self._index = _Prefixes(())

    @property
    def holding(self) -> bool:
        """Whether text is held back, waiting for the next piece or :meth:`flush`."""
        return bool(self._held)

    def _prefixes(self) -> _Prefixes:
        known = _ordered
        if known is not self._key:  # rebuilt only when the remembered secrets change
            self._key = known
            self._index = _Prefixes((*known, *self._extra))
        return self._index

    def feed(self, text: str) -> str:
        """The part of ``held + text`` that is safe to send now, scrubbed."""
        text = self._held + text if self._held else text
        index = self._prefixes()
        if not index.ordered or not text:
            self._held = ""
            return text
        present = [s for s in index.ordered if s in text]
        # Hold back the longest end that a secret begins with, as it came (a shorter secret
        # in it may be the start of a longer one)...
        cut = len(text) - index.held_tail(text)
        moved = True
        while moved:  # ... but send whole any secret that begins before the cut
            moved = False
            for secret in present:
                found = text.find(secret, max(0, cut - len(secret) + 1))
                while -1 < found < cut:
                    if found + len(secret) > cut:
                        cut, moved = found + len(secret), True
                    found = text.find(secret, found + 1)
        self._held = text[cut:]
        return self._replace(text[:cut], present)

    def _replace(self, text: str, secrets: Iterable[str]) -> str:
        for secret in sorted(secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self._replacement)
        return text

    def flush(self) -> str:
        """What is held back, scrubbed (the stream ended)."""
        held, self._held = self._held, ""
        return self._replace(held, self._prefixes().ordered) if held else held


def scrub_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` scrubbed when it is a string (or bytes); anything else unchanged."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        cleaned = scrub(text, secrets)
        return value if cleaned == text else cleaned.encode()
    return value


def scrub_exception(exc: BaseException | None, secrets: Iterable[str] = ()) -> None:
    """Scrub ``exc`` and its ``__cause__`` / ``__context__`` chain in place.

    For foreign exceptions a plugin let escape (their ``args`` and string attributes such as
    ``json.JSONDecodeError.doc``), so a traceback of the chain shows no secret.
    """
    wanted = tuple(secrets)
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            exc.args = tuple(scrub_value(arg, wanted) for arg in exc.args)
            for name, value in list(vars(exc).items()):
                if isinstance(value, (str, bytes)):
                    setattr(exc, name, scrub_value(value, wanted))
        except (AttributeError, TypeError):  # read-only attributes of a C exception type
            pass
        exc = exc.__cause__ or exc.__context__


class ScrubFilter:
    """A logging filter that removes secrets from every attribute of a record.

    The message is rendered (``msg % args``) and scrubbed, extras given with ``extra=`` are
    scrubbed, and a traceback is rendered into ``exc_text`` scrubbed, so formatters and
    handlers downstream only ever see clean text.

    Not a ``logging.Filter`` subclass (``logging`` accepts any object with ``filter``), so
    importing lmux-plug does not import :mod:`logging`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; always keep it."""
        if not _ordered:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the logger's problem, not ours
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        for name, value in list(vars(record).items()):
            if isinstance(value, (str, bytes)) and name != "msg":
                setattr(record, name, scrub_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            scrub_exception(record.exc_info[1])
            import logging  # noqa: PLC0415 - already imported: a record exists

            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = ScrubFilter()


def scrubbed_logger(name: str) -> logging.Logger:
    """The logger ``name`` with :class:`ScrubFilter` attached (once), and the package's too.

    Every lmux-plug module logs through one of these: a filter attached to a parent logger
    does not see records of its children.
    """
    import logging  # noqa: PLC0415 - lazy: `import lmux_plug` does not need logging

    for logger_name in (PACKAGE_LOGGER, name):
        logger = logging.getLogger(logger_name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return logger


#: The package's own logger carries the filter as soon as anything of lmux-plug logs, and
#: from the start when the application has imported :mod:`logging` already (importing it
#: here would cost every ``import lmux_plug`` a few ms).
PACKAGE_LOGGER = "lmux_plug"
if "logging" in sys.modules:
    scrubbed_logger(PACKAGE_LOGGER)


def without_userinfo(url: str) -> str:
    """``url`` with its user info replaced by a fingerprint, for logs, ids and messages.

    Distinct users of one host stay distinct; the password never shows.
    """
    import hashlib  # noqa: PLC0415 - only for the rare URL with user info
    from urllib.parse import urlsplit  # noqa: PLC0415
    from urllib.parse import urlunsplit  # noqa: PLC0415

    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    digest = hashlib.sha256(userinfo.encode()).hexdigest()[:8]
    return urlunsplit(parts._replace(netloc=f"u-{digest}@{host}"))
