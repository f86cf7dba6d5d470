"""Response cache: L1 in memory (LRU + TTL) in front of L2 in the state backend (Redis).

The key is a hash of the whole canonical request (``converter().unstructure``) minus
:data:`EXCLUDED_FIELDS`, which do not change the answer; any other field changes the key.
Streams are stored as their chunks and replayed as a stream. A hit is marked
``cache_hit=True`` and costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import TYPE_CHECKING
from typing import Any

import attrs

from lmux_plug._pricing import Cost
from lmux_plug._types import ChatChunk
from lmux_plug._types import ChatRequest
from lmux_plug._types import ChatResponse
from lmux_plug.convert import converter

if TYPE_CHECKING:
    from lmux_plug.router.state import StateBackend

__all__ = ["EXCLUDED_FIELDS", "L1Cache", "ResponseCache", "request_key"]

# Fields that do not change what the model answers: how long we wait and transport
# headers. Everything else (model, messages, sampling, tools, extra body ...) is keyed.
EXCLUDED_FIELDS = ("timeout", "extra_headers")
_ZERO = Cost()


def request_key(kind: str, model: str, request: ChatRequest) -> str:
    """Hash of ``kind`` (chat/stream), the logical ``model`` and the canonical request."""
    data = converter().unstructure(request)
    for name in EXCLUDED_FIELDS:
        data.pop(name, None)
    data["model"] = model
    canonical = json.dumps([kind, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class L1Cache:
    """A bounded in-process LRU whose entries expire after their TTL."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> Any:
        """The value, or ``None`` if absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used."""
        self._data[key] = (time.monotonic() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)


def _dump_response(response: ChatResponse) -> bytes:
    data = converter().unstructure(attrs.evolve(response, raw=None, attempts=(), headers={}))
    return json.dumps(data, default=str).encode()


class ResponseCache:
    """L1 then L2 (if a backend is given) for chat answers and streamed chunk lists."""

    def __init__(self, backend: StateBackend | None, *, size: int = 1024) -> None:
        self.l1 = L1Cache(size)
        self.backend = backend
        self.hits = 0
        self.misses = 0

    async def get_response(self, key: str) -> ChatResponse | None:
        """A cached answer marked as a hit with zero cost, or ``None``."""
        found = self.l1.get(key)
        if found is None and self.backend is not None:
            raw = await self.backend.cache_get(key)
            if raw is not None:
                found = converter().structure(json.loads(raw), ChatResponse)
        if not isinstance(found, ChatResponse):
            self.misses += 1
            return None
        self.hits += 1
        return attrs.evolve(found, cache_hit=True, cost=_ZERO)

    async def set_response(self, key: str, response: ChatResponse, ttl: float) -> None:
        """Store an answer in both tiers."""
        clean = attrs.evolve(response, raw=None, attempts=(), cache_hit=False)
        self.l1.set(key, clean, ttl)
        if self.backend is not None:
            await self.backend.cache_set(key, _dump_response(clean), ttl)

    async def get_chunks(self, key: str) -> list[ChatChunk] | None:
        """A cached stream (cost zeroed on the chunk that carried it), or ``None``."""
        found = self.l1.get(key)
        if found is None and self.backend is not None:
            raw = await self.backend.cache_get(key)
            if raw is not None:
                found = converter().structure(json.loads(raw), list[ChatChunk])
        if not isinstance(found, list):
            self.misses += 1
            return None
        self.hits += 1
        return [c if c.cost is None else attrs.evolve(c, cost=_ZERO) for c in found]

    async def set_chunks(self, key: str, chunks: list[ChatChunk], ttl: float) -> None:
        """Store a complete stream in both tiers."""
        self.l1.set(key, list(chunks), ttl)
        if self.backend is not None:
            data = converter().unstructure(chunks, list[ChatChunk])
            await self.backend.cache_set(key, json.dumps(data, default=str).encode(), ttl)
