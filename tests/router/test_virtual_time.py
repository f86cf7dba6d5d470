"""The virtual-time loop the throughput tests run on: time moves only while it is idle."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.router.virtual_time import LoopClock
from tests.router.virtual_time import VirtualTimeLoop
from tests.router.virtual_time import run_in_virtual_time


def test_sleeps_are_jumped_over_and_work_takes_no_virtual_time():
    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        start = loop.time()
        await asyncio.gather(asyncio.sleep(100.0), asyncio.sleep(40.0))
        slept = loop.time() - start
        before = loop.time()
        sum(range(200_000))  # CPU work: the loop is busy, so its clock stands still
        return slept, loop.time() - before, loop.selector.jumps

    slept, worked, jumps = run_in_virtual_time(main())
    assert slept == 100.0
    assert worked == 0.0
    # Time reached each timer by a jump (at 40 s, then at 100 s), not by waiting for it.
    assert jumps == 2


def test_sockets_are_read_before_time_moves_on():
    async def main() -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        start = loop.time()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        echoed = await asyncio.wait_for(reader.readline(), timeout=50.0)
        elapsed = loop.time() - start
        writer.close()
        server.close()
        await server.wait_closed()
        return echoed, elapsed

    echoed, elapsed = run_in_virtual_time(main())
    assert echoed == b"ping\n"
    # Virtual seconds: the answer was read before the timeout's timer was jumped to.
    assert elapsed < 50.0


def test_loop_clock_reads_the_loop_and_anchors_wall_time():
    async def main() -> tuple[float, float, float]:
        clock = LoopClock()
        wall = clock.time()
        mono = clock.monotonic()
        await clock.sleep(30.0)
        return clock.monotonic() - mono, clock.time() - wall, wall

    moved, wall_moved, wall = run_in_virtual_time(main())
    assert moved == 30.0
    assert wall_moved == pytest.approx(30.0, abs=1e-6)
    assert abs(wall - time.time()) < 30.0
