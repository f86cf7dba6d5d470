"""A worker process for the shared-quota test: ``python redis_worker.py CONFIG_JSON``.

Uses the openai plugin with the fake server's provider spec, builds a Router on a RedisBackend, waits for the
common start time, keeps ``concurrency`` calls going for ``duration`` seconds and prints
one JSON line: wall-clock completion times, refusals, errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp  # noqa: F401 - imported before the clock starts
import lmux_plug_openai
from load import keep_calling  # this folder: the worker runs as a script

from lmux_plug.registry import Registry
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import RedisBackend
from lmux_plug.router import Router
from lmux_plug.testing.fake_openai import provider_spec


async def main(config: dict) -> None:
    registry = Registry(plugins=[lmux_plug_openai])
    registry.register("fake", provider_spec())
    backend = RedisBackend(config["redis"], prefix=config["prefix"])
    deployments = [
        Deployment(
            "fake/fake-model", base_url=url, limits=Limits(rpm=q, burst=1, minute=config["window"])
        )
        for url, q in zip(config["urls"], config["quotas"], strict=True)
    ]
    router = Router({"pool": LogicalModel("pool", deployments)}, registry=registry, backend=backend)
    await backend.prepare()
    # Tell the parent we are ready, then wait for the common start time on stdin.
    print("READY", flush=True)
    start_at = float(await asyncio.to_thread(sys.stdin.readline))
    await asyncio.sleep(max(start_at - time.time(), 0))
    stop_at = start_at + config["duration"]
    # Wall-clock times: the parent compares them across worker processes.
    load = await keep_calling(
        router,
        concurrency=config["concurrency"],
        stop_at=stop_at,
        now=time.time,
        prefix="p",
        retries=10,
    )
    await router.aclose()
    print(json.dumps({"done": load.answered, "refused": len(load.refused), "errors": load.errors}))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
