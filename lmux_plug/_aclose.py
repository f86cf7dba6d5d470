"""Close what may hold a connection: async iterators and clients that have ``aclose``."""

from __future__ import annotations

__all__ = ["aclose_if_any"]


async def aclose_if_any(resource: object) -> None:
    """Await ``resource.aclose()`` if it has one, else do nothing.

    An ``AsyncIterator`` need not be closable, but the streams behind this library's are
    (async generators, primed streams) and keep their connection until closed; clients
    (a registry, a router) release their pools the same way.
    """
    aclose = getattr(resource, "aclose", None)
    if aclose is not None:
        await aclose()
