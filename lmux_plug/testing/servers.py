"""Run an ``aiohttp.web`` application on 127.0.0.1 for end-to-end tests.

``serve_app`` starts an app you already have on a free port and cleans it up afterwards::

    async with serve_app(app) as base_url:  # "http://127.0.0.1:<port>"
        ...

To fake a provider, script :class:`lmux_plug.testing.wire_server.WireServer` instead: it is
the one fake server the project's tests and the contract suite use (recorded requests,
queued replies, faults no web framework sends).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["serve_app"]


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``app`` on ``host`` at a free port; yield its base URL, then shut it down."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
