"""Real recorded traffic as clause input: what kind each exchange is, and whose endpoint.

A plugin author who recorded cassettes against the real API (vcrpy / pytest-recording
YAML, or HAR) points the suite at them (``ContractFixtures(recordings=...)`` or
``--lmux-recordings DIR``). The ``recorded.*`` clauses replay each recorded *response*,
byte for byte, from the local wire server to the plugin, and check what the plugin makes
of it. Which exchanges apply is decided by the endpoint: the suite learns the path the
plugin posts to on each call path (by making the canonical call) and keeps the recorded
exchanges whose request went to the same endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from lmux_plug.testing.wire import WireExchange
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recordings

__all__ = ["RecordedKind", "endpoint_key", "kind_of", "load_exchanges"]

RecordedKind = Literal["chat", "stream", "embed", "error"]
_STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/jsonl")


def load_exchanges(sources: Iterable[str | Path]) -> list[WireExchange]:
    """Every exchange with an HTTP envelope in the given files and folders (sorted, stable)."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        files.extend(recordings(path) if path.is_dir() else [path] if path.is_file() else [])
    exchanges: list[WireExchange] = []
    for file in sorted(set(files)):
        try:
            loaded = load_recording(file)
        except (ValueError, OSError):
            continue  # not a recording this reader understands: not traffic to replay
        exchanges.extend(
            e
            for e in loaded
            if e.request.uri and e.request.method == "POST" and e.response.status is not None
        )
    return exchanges


def endpoint_key(path: str) -> str:
    """What identifies an endpoint in a URL path, whatever the host, version or model.

    ``/v1/chat/completions`` -> ``chat/completions``; ``/v1beta/models/x:generateContent``
    -> ``:generateContent``; ``/api/chat`` -> ``api/chat``.
    """
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if ":" in last:
        return ":" + last.rsplit(":", 1)[1]
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[-2:])


def exchange_endpoint(exchange: WireExchange) -> str:
    """The endpoint key of a recorded exchange."""
    return endpoint_key(urlsplit(exchange.request.uri or "").path)


def kind_of(exchange: WireExchange) -> RecordedKind:
    """An error, a stream, embeddings or a plain chat answer."""
    status = exchange.response.status or 200
    if status >= 400:
        return "error"
    content_type = exchange.response.headers.get("content-type", "").lower()
    body = exchange.request.json()
    asked = isinstance(body, dict) and body.get("stream") is True
    uri = exchange.request.uri or ""
    if content_type.startswith(_STREAM_TYPES) or asked or "streamGenerateContent" in uri:
        return "stream"
    if "embed" in endpoint_key(urlsplit(uri).path).lower():
        return "embed"
    return "chat"


def label(exchange: WireExchange) -> str:
    """``file#n``-style name of an exchange for failure messages."""
    path = urlsplit(exchange.request.uri or "").path
    return f"{exchange.source.name} ({exchange.request.method} {path})"


def split_body(body: bytes, parts: int = 7) -> Sequence[bytes]:
    """The body in ``parts`` uneven pieces (reads never align with events in real traffic)."""
    if len(body) < parts * 2:
        return (body,)
    cuts = sorted({max(1, len(body) * (2 * i + 1) // (2 * parts + 3)) for i in range(parts)})
    return [body[a:b] for a, b in zip((0, *cuts), (*cuts, len(body)), strict=True)]
