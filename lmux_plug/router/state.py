"""The state backend: where rate-limit buckets, cooldowns, breaker and key records live.

Two implementations of one small interface:

* :class:`MemoryBackend` (default): plain dicts, for one process.
* :class:`RedisBackend`: a ``redis-server`` shared by many processes or hosts, so they
  share one quota, one breaker state and one L2 cache. Updates are atomic Lua scripts
  run with redis-py's asyncio client (``pip install lmux-plug[redis]``); time is the
  Redis server's clock, so hosts need not agree on theirs.

Buckets (see :class:`Bucket`): a ``"requests"`` bucket is a sliding window of at most
``limit`` calls per ``period``. A call holds a slot from admission; when it completes the
slot is re-stamped with the completion time, because the provider counted the call at
some moment before we saw its answer: re-using the slot ``period`` after the answer can
never overshoot the provider's window, whatever the network jitter. A ``"tokens"`` bucket
holds ``capacity`` tokens refilled at ``limit / period`` per second; a call takes its
estimate up front and is reconciled with the real usage afterwards.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Concatenate
from typing import Literal
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar
from typing import runtime_checkable

import attrs

from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import ProviderError
from lmux_plug.resilience.clock import SYSTEM_CLOCK
from lmux_plug.resilience.clock import Clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "Bucket",
    "CounterBackend",
    "MemoryBackend",
    "RedisBackend",
    "StateBackend",
    "StateBackendError",
]

_V = TypeVar("_V")  # a value kept with its expiry


class StateBackendError(ProviderError):
    """The shared state backend (Redis) failed or is unreachable.

    Not retryable: the upstream is not at fault. A router with
    ``on_state_error="degrade"`` (the default) never raises it: it falls back to local
    state while the backend is down.
    """

    default_retryable = False


@attrs.frozen
class Bucket:
    """One limit to admit a call against; ``key`` names it in the backend."""

    key: str
    kind: Literal["requests", "tokens"]
    limit: float
    period: float
    capacity: float = 0.0  # tokens buckets only; defaults to ``limit``
    burst: float = 0.0  # requests buckets: calls allowed back to back (0: the whole limit)

    @property
    def size(self) -> float:
        """Tokens the bucket holds when full."""
        return self.capacity or self.limit

    @property
    def paced(self) -> bool:
        """Whether calls are spaced out (``burst`` smaller than the limit)."""
        return 0 < self.burst < self.limit


@runtime_checkable
class StateBackend(Protocol):
    """What the router needs from a state store. Every method is atomic."""

    async def acquire(
        self, buckets: Sequence[Bucket], member: str, tokens: int, cooldown_key: str
    ) -> float:
        """Admit a call against every bucket at once, or none.

        Returns ``0.0`` when admitted (the call now holds a slot in each requests bucket
        and ``tokens`` from each tokens bucket), else the seconds to wait before trying
        again (a cooldown on ``cooldown_key`` counts as a wait too).
        """
        ...

    async def release(
        self, buckets: Sequence[Bucket], member: str, token_delta: int, *, used: bool = True
    ) -> None:
        """The call ended: re-stamp its slots now; charge ``token_delta`` more tokens.

        ``used=False`` gives the slots back unused (the call was never sent).
        """
        ...

    async def sync(self, bucket: Bucket, remaining: float, reset: float) -> None:
        """The provider says ``remaining`` are left, full again in ``reset`` seconds."""
        ...

    async def block(self, key: str, seconds: float) -> None:
        """Refuse admissions on ``key`` for ``seconds`` (never shortens a cooldown)."""
        ...

    async def get(self, key: str) -> str | None:
        """Read a small record (breaker, key health)."""
        ...

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        """Set ``key`` to ``value`` if it still holds ``expected``; return whether it did."""
        ...

    async def cache_get(self, key: str) -> bytes | None:
        """Read an L2 cache entry."""
        ...

    async def cache_set(self, key: str, value: bytes, ttl: float) -> None:
        """Write an L2 cache entry that expires after ``ttl`` seconds."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


_EPSILON = 1e-9


@runtime_checkable
class CounterBackend(Protocol):
    """Shared integer counters that never expire (the gateway's per-key spend).

    Both backends implement it; each method is atomic, so processes sharing a Redis
    backend can never both take the last of a budget.
    """

    async def counter_reserve(self, key: str, amount: int, limit: int) -> int | None:
        """Add ``amount`` to ``key`` if the total stays ``<= limit``.

        Returns the new total, or ``None`` (and changes nothing) when it would not.
        """
        ...

    async def counter_add(self, key: str, delta: int) -> int:
        """Add ``delta`` (which may be negative) to ``key``; return the new total."""
        ...

    async def counter_get(self, key: str) -> int:
        """The current total of ``key`` (0 when never set)."""
        ...


@attrs.define
class _Window:
    inflight: dict[str, float] = attrs.field(factory=dict)
    done: list[float] = attrs.field(factory=list)  # heap of completion stamps
    tat: float = 0.0  # pacing: when the next call is due (GCRA's theoretical arrival time)

    def count(self, now: float, period: float) -> int:
        done = self.done
        while done and done[0] <= now - period:
            heapq.heappop(done)
        return len(self.inflight) + len(done)


@attrs.define
class _Tokens:
    level: float
    stamp: float


class MemoryBackend:
    """The in-process backend (the default): dicts, ``self._clock.monotonic()`` and no I/O."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SYSTEM_CLOCK
        self._windows: dict[str, _Window] = {}
        self._tokens: dict[str, _Tokens] = {}
        self._cooldowns: dict[str, float] = {}
        self._records: dict[str, tuple[str, float]] = {}
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._counters: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"MemoryBackend(buckets={len(self._windows) + len(self._tokens)})"

    def _bucket_tokens(self, bucket: Bucket, now: float) -> _Tokens:
        state = self._tokens.get(bucket.key)
        if state is None:
            state = self._tokens[bucket.key] = _Tokens(bucket.size, now)
        else:
            rate = bucket.limit / bucket.period
            state.level = min(bucket.size, state.level + (now - state.stamp) * rate)
            state.stamp = now
        return state

    async def acquire(
        self, buckets: Sequence[Bucket], member: str, tokens: int, cooldown_key: str
    ) -> float:
        """See :meth:`StateBackend.acquire`."""
        return self.acquire_now(buckets, member, tokens, cooldown_key)

    def acquire_now(
        self, buckets: Sequence[Bucket], member: str, tokens: int, cooldown_key: str
    ) -> float:
        """:meth:`acquire` without a coroutine (this backend never waits for I/O)."""
        now = self._clock.monotonic()
        until = self._cooldowns.get(cooldown_key)
        if until is not None:
            if until > now:
                return until - now
            del self._cooldowns[cooldown_key]
        wait = 0.0
        for bucket in buckets:
            if bucket.kind == "requests":
                window = self._windows.get(bucket.key)
                if window is None:
                    window = self._windows[bucket.key] = _Window()
                if window.count(now, bucket.period) >= bucket.limit:
                    # The next slot frees when the oldest completed stamp expires; with
                    # every slot still in flight, not before a whole period from now.
                    free = window.done[0] + bucket.period - now if window.done else bucket.period
                    wait = max(wait, free, 1e-4)
                if bucket.paced:
                    spacing = bucket.period / bucket.limit
                    early = max(window.tat, now) - now - (bucket.burst - 1) * spacing
                    if early > _EPSILON:  # float noise must not ask for a 1e-14 s wait
                        wait = max(wait, early)
            else:
                state = self._bucket_tokens(bucket, now)
                need = min(float(tokens), bucket.size)
                if state.level < need:
                    wait = max(wait, (need - state.level) * bucket.period / bucket.limit)
        if wait:
            return wait
        for bucket in buckets:
            if bucket.kind == "requests":
                window = self._windows[bucket.key]
                window.inflight[member] = now
                if bucket.paced:
                    window.tat = max(window.tat, now) + bucket.period / bucket.limit
            else:
                self._tokens[bucket.key].level -= tokens
        return 0.0

    async def release(
        self, buckets: Sequence[Bucket], member: str, token_delta: int, *, used: bool = True
    ) -> None:
        """See :meth:`StateBackend.release`."""
        self.release_now(buckets, member, token_delta, used=used)

    def release_now(
        self, buckets: Sequence[Bucket], member: str, token_delta: int, *, used: bool = True
    ) -> None:
        """:meth:`release` without a coroutine."""
        now = self._clock.monotonic()
        for bucket in buckets:
            if bucket.kind == "requests":
                window = self._windows.get(bucket.key)
                if window is not None and window.inflight.pop(member, None) is not None and used:
                    heapq.heappush(window.done, now)
            elif token_delta:
                state = self._bucket_tokens(bucket, now)
                state.level = min(bucket.size, state.level - token_delta)

    async def sync(self, bucket: Bucket, remaining: float, reset: float) -> None:
        """See :meth:`StateBackend.sync`."""
        self.sync_now(bucket, remaining, reset)

    def sync_now(self, bucket: Bucket, remaining: float, reset: float) -> None:
        """:meth:`sync` without a coroutine."""
        now = self._clock.monotonic()
        if bucket.kind == "requests":
            window = self._windows.setdefault(bucket.key, _Window())
            missing = int(bucket.limit - remaining) - window.count(now, bucket.period)
            # Calls we did not make (other clients of the key) fill the window: stamp
            # them so that they expire when the provider says the window is full again.
            stamp = now + min(reset, bucket.period) - bucket.period
            for _ in range(max(missing, 0)):
                heapq.heappush(window.done, stamp)
        else:
            state = self._bucket_tokens(bucket, now)
            state.level = min(state.level, remaining)

    async def block(self, key: str, seconds: float) -> None:
        """See :meth:`StateBackend.block`."""
        until = self._clock.monotonic() + seconds
        if until > self._cooldowns.get(key, 0.0):
            self._cooldowns[key] = until

    async def get(self, key: str) -> str | None:
        """See :meth:`StateBackend.get`."""
        return self.get_now(key)

    def get_now(self, key: str) -> str | None:
        """:meth:`get` without a coroutine."""
        return self._unexpired(self._records, key)

    def _unexpired(self, store: dict[str, tuple[_V, float]], key: str) -> _V | None:
        """The value of ``key`` in ``store`` (value, expiry), dropped once it has expired."""
        entry = store.get(key)
        if entry is None:
            return None
        if entry[1] < self._clock.monotonic():
            del store[key]
            return None
        return entry[0]

    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        """See :meth:`StateBackend.cas`."""
        if await self.get(key) != expected:
            return False
        self._records[key] = (value, self._clock.monotonic() + ttl)
        return True

    async def cache_get(self, key: str) -> bytes | None:
        """See :meth:`StateBackend.cache_get`."""
        return self._unexpired(self._cache, key)

    async def cache_set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`StateBackend.cache_set`."""
        self._cache[key] = (value, self._clock.monotonic() + ttl)

    async def counter_reserve(self, key: str, amount: int, limit: int) -> int | None:
        """See :meth:`CounterBackend.counter_reserve`."""
        total = self._counters.get(key, 0) + amount
        if total > limit:
            return None
        self._counters[key] = total
        return total

    async def counter_add(self, key: str, delta: int) -> int:
        """See :meth:`CounterBackend.counter_add`."""
        total = self._counters[key] = self._counters.get(key, 0) + delta
        return total

    async def counter_get(self, key: str) -> int:
        """See :meth:`CounterBackend.counter_get`."""
        return self._counters.get(key, 0)

    async def aclose(self) -> None:
        """Nothing to release."""


# -- Redis -------------------------------------------------------------------------------

# Shared by the scripts: the server's clock in seconds.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS[1] cooldown, then per bucket three keys (requests: inflight zset, done zset,
# pacing time; tokens: hash + two unused). ARGV: member, tokens, lease, then per bucket
# kind, limit, period, size, burst.
_ACQUIRE = (
    _NOW
    + """
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then return tostring(ttl / 1000) end
local member, tokens, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 5
local wait = 0
for i = 0, n - 1 do
  local kind, limit = ARGV[4 + i * 5], tonumber(ARGV[5 + i * 5])
  local period, size = tonumber(ARGV[6 + i * 5]), tonumber(ARGV[7 + i * 5])
  local burst = tonumber(ARGV[8 + i * 5])
  local k1, k2, k3 = KEYS[2 + i * 3], KEYS[3 + i * 3], KEYS[4 + i * 3]
  if kind == 'requests' then
    redis.call('ZREMRANGEBYSCORE', k1, '-inf', now - lease)
    redis.call('ZREMRANGEBYSCORE', k2, '-inf', now - period)
    if redis.call('ZCARD', k1) + redis.call('ZCARD', k2) >= limit then
      local oldest = redis.call('ZRANGE', k2, 0, 0, 'WITHSCORES')
      local free = period
      if #oldest > 0 then free = tonumber(oldest[2]) + period - now end
      wait = math.max(wait, free, 0.0001)
    end
    if burst > 0 and burst < limit then
      local tat = math.max(tonumber(redis.call('GET', k3) or now), now)
      local early = tat - now - (burst - 1) * period / limit
      if early > 0 then wait = math.max(wait, early) end
    end
  else
    local level = tonumber(redis.call('HGET', k1, 'level') or size)
    local stamp = tonumber(redis.call('HGET', k1, 'stamp') or now)
    level = math.min(size, level + (now - stamp) * limit / period)
    local need = math.min(tokens, size)
    if level < need then wait = math.max(wait, (need - level) * period / limit) end
  end
end
if wait > 0 then return tostring(wait) end
for i = 0, n - 1 do
  local kind, limit = ARGV[4 + i * 5], tonumber(ARGV[5 + i * 5])
  local period, size = tonumber(ARGV[6 + i * 5]), tonumber(ARGV[7 + i * 5])
  local burst = tonumber(ARGV[8 + i * 5])
  local k1, k2, k3 = KEYS[2 + i * 3], KEYS[3 + i * 3], KEYS[4 + i * 3]
  local expire = math.ceil((period + lease) * 1000)
  if kind == 'requests' then
    redis.call('ZADD', k1, now, member)
    redis.call('PEXPIRE', k1, expire)
    if burst > 0 and burst < limit then
      local tat = math.max(tonumber(redis.call('GET', k3) or now), now)
      redis.call('SET', k3, tostring(tat + period / limit), 'PX', expire)
    end
  else
    local level = tonumber(redis.call('HGET', k1, 'level') or size)
    local stamp = tonumber(redis.call('HGET', k1, 'stamp') or now)
    level = math.min(size, level + (now - stamp) * limit / period)
    redis.call('HSET', k1, 'level', tostring(level - tokens), 'stamp', tostring(now))
    redis.call('PEXPIRE', k1, expire)
  end
end
return '0'
"""
)

# KEYS per bucket three keys; ARGV: member, delta, used, lease, then per bucket kind,
# limit, period, size.
_RELEASE = (
    _NOW
    + """
local member, delta, used = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local lease = tonumber(ARGV[4])
local n = (#ARGV - 4) / 5
for i = 0, n - 1 do
  local kind, limit = ARGV[5 + i * 5], tonumber(ARGV[6 + i * 5])
  local period, size = tonumber(ARGV[7 + i * 5]), tonumber(ARGV[8 + i * 5])
  local k1, k2 = KEYS[1 + i * 3], KEYS[2 + i * 3]
  local expire = math.ceil((period + lease) * 1000)
  if kind == 'requests' then
    if redis.call('ZREM', k1, member) == 1 and used then
      redis.call('ZADD', k2, now, member)
      redis.call('PEXPIRE', k2, expire)
    end
  elseif delta ~= 0 then
    local level = tonumber(redis.call('HGET', k1, 'level') or size)
    local stamp = tonumber(redis.call('HGET', k1, 'stamp') or now)
    level = math.min(size, level + (now - stamp) * limit / period - delta)
    redis.call('HSET', k1, 'level', tostring(level), 'stamp', tostring(now))
    redis.call('PEXPIRE', k1, expire)
  end
end
return 1
"""
)

# KEYS: the bucket's three keys; ARGV: kind, limit, period, size, remaining, reset, lease.
_SYNC = (
    _NOW
    + """
local kind, limit, period = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local size, remaining, reset = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local expire = math.ceil((period + tonumber(ARGV[7])) * 1000)
if kind == 'requests' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - period)
  local count = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
  local missing = math.floor(limit - remaining) - count
  local stamp = now + math.min(reset, period) - period
  for j = 1, missing do
    redis.call('ZADD', KEYS[2], stamp, 'sync:' .. now .. ':' .. j)
  end
  if missing > 0 then redis.call('PEXPIRE', KEYS[2], expire) end
else
  local level = tonumber(redis.call('HGET', KEYS[1], 'level') or size)
  local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp') or now)
  level = math.min(size, level + (now - stamp) * limit / period, remaining)
  redis.call('HSET', KEYS[1], 'level', tostring(level), 'stamp', tostring(now))
  redis.call('PEXPIRE', KEYS[1], expire)
end
return 1
"""
)

_BLOCK = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""

_CAS = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' else current = '\\0' .. current end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS[1] the counter; ARGV: amount, limit. Returns the new total, or -1 when refused
# (totals are never negative: reservations are settled down to what was spent).
_RESERVE = """
local total = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if total > tonumber(ARGV[2]) then return -1 end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


P = ParamSpec("P")
R = TypeVar("R")


def _mapped(
    method: Callable[Concatenate[RedisBackend, P], Awaitable[R]],
) -> Callable[Concatenate[RedisBackend, P], Awaitable[R]]:
    """Turn redis-py and socket errors into a typed :class:`ProviderError`."""

    @functools.wraps(method)
    async def wrapper(self: RedisBackend, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except (self._redis_error, OSError) as exc:
            msg = f"state backend (redis) failed: {type(exc).__name__}: {exc}"
            raise StateBackendError(msg, provider="redis") from exc

    return wrapper  # type: ignore[return-value]  # functools.wraps' type hides the signature


class RedisBackend:
    """A backend in ``redis-server`` (redis-py asyncio), shared by processes and hosts.

    Pass a URL (``redis://127.0.0.1:6379/0``) or a ``redis.asyncio.Redis`` client.
    ``prefix`` namespaces every key; ``lease`` bounds how long a crashed process's
    in-flight slot is held. Keys share one hash tag, so a Redis Cluster keeps them in
    one slot (scripts touch several at once).
    """

    def __init__(
        self,
        url: str | Redis = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "lmux",
        lease: float = 300.0,
        max_connections: int = 64,
    ) -> None:
        try:
            import redis.asyncio  # noqa: PLC0415 - optional dependency
        except ImportError as exc:  # pragma: no cover - depends on the environment
            msg = "RedisBackend needs redis-py: pip install 'lmux-plug[redis]'"
            raise ConfigurationError(msg) from exc
        if isinstance(url, str):
            # A blocking pool queues callers when every connection is busy, instead of
            # failing under a burst of concurrent calls.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=max_connections
            )
            self._client: Redis = redis.asyncio.Redis.from_pool(pool)  # owns the pool
        else:
            self._client = url
        self._redis_error: type[Exception] = redis.RedisError
        self._prefix = f"{{{prefix}}}:"
        self.lease = lease
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)
        self._sync = self._client.register_script(_SYNC)
        self._block = self._client.register_script(_BLOCK)
        self._cas = self._client.register_script(_CAS)
        self._reserve = self._client.register_script(_RESERVE)

    def __repr__(self) -> str:
        return f"RedisBackend(prefix={self._prefix!r})"

    def _keys(self, bucket: Bucket) -> list[str]:
        base = self._prefix + bucket.key
        return [base + ":a", base + ":b", base + ":c"]

    def _args(self, buckets: Sequence[Bucket]) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = []
        for bucket in buckets:
            keys.extend(self._keys(bucket))
            args.extend((bucket.kind, bucket.limit, bucket.period, bucket.size, bucket.burst))
        return keys, args

    @_mapped
    async def acquire(
        self, buckets: Sequence[Bucket], member: str, tokens: int, cooldown_key: str
    ) -> float:
        """See :meth:`StateBackend.acquire`."""
        keys, args = self._args(buckets)
        result = await self._acquire(
            keys=[self._prefix + "cool:" + cooldown_key, *keys],
            args=[member, tokens, self.lease, *args],
        )
        return float(result)

    @_mapped
    async def release(
        self, buckets: Sequence[Bucket], member: str, token_delta: int, *, used: bool = True
    ) -> None:
        """See :meth:`StateBackend.release`."""
        keys, args = self._args(buckets)
        await self._release(
            keys=keys, args=[member, token_delta, 1 if used else 0, self.lease, *args]
        )

    @_mapped
    async def sync(self, bucket: Bucket, remaining: float, reset: float) -> None:
        """See :meth:`StateBackend.sync`."""
        await self._sync(
            keys=self._keys(bucket),
            args=[
                bucket.kind,
                bucket.limit,
                bucket.period,
                bucket.size,
                remaining,
                reset,
                self.lease,
            ],
        )

    @_mapped
    async def block(self, key: str, seconds: float) -> None:
        """See :meth:`StateBackend.block`."""
        await self._block(keys=[self._prefix + "cool:" + key], args=[max(int(seconds * 1000), 1)])

    @_mapped
    async def get(self, key: str) -> str | None:
        """See :meth:`StateBackend.get`."""
        value = await self._client.get(self._prefix + "rec:" + key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    @_mapped
    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        """See :meth:`StateBackend.cas`."""
        # A NUL prefix tells "absent" ("") from a stored empty string.
        marker = "" if expected is None else "\0" + expected
        done = await self._cas(
            keys=[self._prefix + "rec:" + key], args=[marker, value, max(int(ttl * 1000), 1)]
        )
        return bool(done)

    @_mapped
    async def cache_get(self, key: str) -> bytes | None:
        """See :meth:`StateBackend.cache_get`."""
        value = await self._client.get(self._prefix + "cache:" + key)
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    @_mapped
    async def cache_set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`StateBackend.cache_set`."""
        await self._client.set(self._prefix + "cache:" + key, value, px=max(int(ttl * 1000), 1))

    @_mapped
    async def counter_reserve(self, key: str, amount: int, limit: int) -> int | None:
        """See :meth:`CounterBackend.counter_reserve`."""
        total = int(await self._reserve(keys=[self._prefix + "cnt:" + key], args=[amount, limit]))
        return None if total < 0 else total

    @_mapped
    async def counter_add(self, key: str, delta: int) -> int:
        """See :meth:`CounterBackend.counter_add`."""
        return int(await self._client.incrby(self._prefix + "cnt:" + key, delta))

    @_mapped
    async def counter_get(self, key: str) -> int:
        """See :meth:`CounterBackend.counter_get`."""
        value = await self._client.get(self._prefix + "cnt:" + key)
        return 0 if value is None else int(value)

    @_mapped
    async def prepare(self) -> None:
        """Connect and load the scripts now, so the first calls do not pay for it."""
        await self._client.ping()
        scripts = (self._acquire, self._release, self._sync, self._block, self._cas, self._reserve)
        for script in scripts:
            script.sha = await self._client.script_load(script.script)

    @_mapped
    async def flush(self) -> None:
        """Delete every key under this backend's prefix (tests, resets)."""
        async for key in self._client.scan_iter(match=self._prefix + "*", count=500):
            await self._client.delete(key)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
