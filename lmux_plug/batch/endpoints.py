"""``lmux-plug batch --endpoint responses|completions|transcription``: the other APIs in batch.

Input lines for each endpoint (blank lines skipped; ``id`` copied to the output as for chat):

* ``responses``: a JSON string (the input), a list (input items), or an object with
  ``input`` (or ``messages`` / ``prompt``) and, optionally, ``instructions``;
* ``completions``: a JSON string (the prompt) or an object with ``prompt``;
* ``transcription``: a JSON string (the audio file's path, relative to the input file's folder)
  or an object with ``file`` (or ``audio`` / ``path``) and, optionally, ``language`` and
  ``prompt``.

Output lines carry ``output`` (the output text, completion text or transcript) and, as for
chat, ``provider``, ``model``, ``usage``, ``cost`` and ``latency_ms``; responses add ``status``
and ``tool_calls``, transcriptions ``language`` and ``duration``.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug.batch.jsonl import refuse_unknown_keys
from lmux_plug.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from collections.abc import Callable

__all__ = ["ENDPOINTS", "endpoint_call", "parse_endpoint_input"]

#: The values of ``--endpoint`` (``chat`` is the batch CLI's own default path).
ENDPOINTS = ("chat", "responses", "completions", "transcription")
_KEYS = {
    "responses": ("input", "messages", "prompt"),
    "completions": ("prompt",),
    "transcription": ("file", "audio", "path"),
}
_OPTIONS = {
    "responses": ("instructions",),
    "completions": (),
    "transcription": ("language", "prompt"),
}


def parse_endpoint_input(endpoint: str, raw: bytes, line: int) -> tuple[Any, Any, dict[str, Any]]:
    """Return ``(id, value, options)`` of one input line for ``endpoint``."""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        msg = f"line {line}: not valid JSON ({exc})"
        raise InvalidRequestError(msg) from None
    if isinstance(value, str) or (endpoint == "responses" and isinstance(value, list)):
        return line, value, {}
    if isinstance(value, dict):
        refuse_unknown_keys(value, ("id", *_KEYS[endpoint], *_OPTIONS[endpoint]), line)
        for key in _KEYS[endpoint]:
            found = value.get(key)
            if isinstance(found, str) or (endpoint == "responses" and isinstance(found, list)):
                options = {k: value[k] for k in _OPTIONS[endpoint] if isinstance(value.get(k), str)}
                return value.get("id", line), found, options
    wanted = " or ".join(repr(k) for k in _KEYS[endpoint])
    msg = f"line {line}: expected a JSON string or an object with {wanted} for {endpoint}"
    raise InvalidRequestError(msg)


def endpoint_call(
    registry: Any, endpoint: str, model: str, params: dict[str, Any], base: Path
) -> Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]:
    """A coroutine function: one item's value and options in, its output fields out."""
    clock = time.perf_counter

    async def call(value: Any, options: dict[str, Any]) -> dict[str, Any]:
        start = clock()
        fields: dict[str, Any]
        if endpoint == "responses":
            response = await registry.acreate_response(model, value, **params, **options)
            fields = {
                "output": response.output_text,
                "status": response.status,
                "tool_calls": [
                    {"id": c.id, "name": c.name, "arguments": c.arguments}
                    for c in response.tool_calls
                ],
            }
        elif endpoint == "completions":
            response = await registry.acomplete(model, value, **params, **options)
            fields = {"output": response.text, "finish_reason": response.finish_reason.value}
        else:
            audio = Path(value)
            response = await registry.atranscribe(
                model, audio if audio.is_absolute() else base / audio, **options
            )
            fields = {
                "output": response.text,
                "language": response.language,
                "duration": response.duration,
            }
        cost: Decimal | None = response.cost.total if response.cost is not None else None
        fields.update(
            provider=response.provider,
            model=response.model,
            usage={
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
            },
            cost=float(cost) if cost is not None else None,
            latency_ms=round((clock() - start) * 1000, 3),
        )
        return fields

    return call
