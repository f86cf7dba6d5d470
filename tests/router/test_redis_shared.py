"""Four worker processes share one pooled quota through a real redis-server."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from lmux_plug.testing.fake_openai import Quota

pytestmark = [pytest.mark.redis, pytest.mark.slow]

QUOTAS = (10, 15, 20)
WINDOW = 1.0
WORKERS = 4


async def test_four_processes_share_the_pooled_quota(redis_url):
    servers = [FakeOpenAIServer(FaultPlan(latency=0.002, quota=Quota(q, WINDOW))) for q in QUOTAS]
    for server in servers:
        server.record_requests = False
        await server.start()
    duration = 4.0
    config = {
        "redis": redis_url,
        "prefix": f"shared{time.monotonic_ns()}",
        "urls": [s.url for s in servers],
        "quotas": list(QUOTAS),
        "window": WINDOW,
        "duration": duration,
        "concurrency": 16,
    }
    script = Path(__file__).with_name("redis_worker.py")
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(script),
                json.dumps(config),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(WORKERS)
        ]
        for proc in procs:  # every worker imported, connected and loaded its scripts
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.strip() == b"READY", line
        start_at = time.time() + 0.3
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate(f"{start_at}\n".encode()) for p in procs)), 60
        )
    finally:
        for server in servers:
            await server.stop()
    results = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(not r["errors"] for r in results), [r["errors"] for r in results]
    done = sorted(t - start_at for r in results for t in r["done"])
    per_worker = [len(r["done"]) for r in results]
    pooled = sum(QUOTAS) * duration / WINDOW
    # One global quota: no N-times overshoot, and the servers never had to refuse.
    assert sum(s.stats["status_429"] for s in servers) == 0
    assert len([t for t in done if t < duration]) <= pooled + sum(QUOTAS)
    # And it is used. Four processes on the wall clock lose slots whenever the machine is
    # busy (a paced bucket cannot spend a slot late), so this floor only rules out a backend
    # that serialises or starves the workers; the exact share of the pooled quota a router
    # uses is asserted load-independently in test_quota.py, on virtual time.
    assert len(done) >= 0.5 * pooled, (len(done), pooled, per_worker)
    # Every worker got a share (the quota is pooled, not grabbed by one process).
    assert min(per_worker) > 0.1 * pooled / WORKERS, per_worker
    # No second in the run exceeded the pooled per-window quota.
    for second in range(int(duration)):
        in_window = sum(1 for t in done if second <= t < second + WINDOW)
        assert in_window <= sum(QUOTAS), (second, in_window)
