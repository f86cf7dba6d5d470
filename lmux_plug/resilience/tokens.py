"""Token estimation before a call, for token-rate limits (reconciled with usage after)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_OUTPUT_TOKENS", "estimate_tokens"]

DEFAULT_OUTPUT_TOKENS = 256
"""Output tokens assumed when a call sets no ``max_tokens``."""


def estimate_tokens(messages: Any, max_tokens: int | None = None) -> int:
    """A cheap upper-ish estimate: characters / 4 of the prompt, plus the output allowance.

    ``messages`` is a string, a list of messages (mappings or objects with ``content``),
    or a list of texts (embeddings); ``max_tokens`` defaults to
    :data:`DEFAULT_OUTPUT_TOKENS` (pass ``0`` for calls with no output, e.g. embeddings).
    """
    return (
        _chars(messages) // 4
        + 1
        + (max_tokens if isinstance(max_tokens, int) and max_tokens >= 0 else DEFAULT_OUTPUT_TOKENS)
    )


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):  # the common case, before the slower ABC check
        return sum(_chars(v) for v in value.values())
    if isinstance(value, Mapping):
        return sum(_chars(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_chars(v) for v in value)
    text = getattr(value, "text", None)
    if isinstance(text, str):  # a content part
        return len(text)
    content = getattr(value, "content", None)
    return _chars(content) if content is not None else 0
