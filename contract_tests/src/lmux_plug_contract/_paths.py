"""The code paths a plugin declares, so that every clause family runs on each of them.

A *path* is one way an application calls a provider (``chat``, ``stream``, ``embed``). A
clause that is about a property of every call (its cost, its timeout, its handling of
odd JSON, the key never leaking) is parametrised over :data:`PATHS` and skips, saying so,
on the paths the provider does not declare. A new endpoint is one more :class:`CallPath`
appended to :data:`PATHS`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Literal

import attrs
from lmux_plug import Capability

from lmux_plug_contract import _canon as canon

__all__ = ["PATHS", "CallPath", "Kind", "path_named", "prompt"]

Kind = Literal["chat", "stream", "tools", "tools_chat", "embed"]
Invoke = Callable[[Any, str, Mapping[str, Any]], Awaitable[Any]]


def prompt() -> list[dict[str, str]]:
    """The canonical chat prompt."""
    return [{"role": "user", "content": canon.CHAT_PROMPT}]


async def _chat(registry: Any, ref: str, params: Mapping[str, Any]) -> Any:
    return await registry.achat(ref, prompt(), **params)


async def _stream(registry: Any, ref: str, params: Mapping[str, Any]) -> Any:
    return [chunk async for chunk in registry.achat_stream(ref, prompt(), **params)]


async def _embed(registry: Any, ref: str, params: Mapping[str, Any]) -> Any:
    # Chat parameters (max_tokens ...) mean nothing to an embeddings call; timeout does.
    passed = {k: v for k, v in params.items() if k in ("timeout", "extra_headers")}
    return await registry.aembed(ref, list(canon.EMBED_INPUTS), **passed)


@attrs.frozen
class CallPath:
    """One code path: what it needs declared, its canonical answer, and how to call it.

    ``invoke(registry, "provider/model", params)`` makes the canonical call and returns
    its result (a stream is drained into a list of chunks).
    """

    name: str
    capability: Capability
    kind: Kind
    streamed: bool
    invoke: Invoke
    uses_call_params: bool = True


CHAT = CallPath("chat", Capability.CHAT, "chat", streamed=False, invoke=_chat)
STREAM = CallPath("stream", Capability.STREAM, "stream", streamed=True, invoke=_stream)
EMBED = CallPath(
    "embed", Capability.EMBED, "embed", streamed=False, invoke=_embed, uses_call_params=False
)

#: Every path the suite knows, in report order. Append here when the core grows an endpoint.
PATHS: tuple[CallPath, ...] = (CHAT, STREAM, EMBED)
PATH_NAMES: tuple[str, ...] = tuple(p.name for p in PATHS)


def path_named(name: str) -> CallPath:
    """The :class:`CallPath` called ``name``."""
    for path in PATHS:
        if path.name == name:
            return path
    msg = f"no call path {name!r} (known: {', '.join(PATH_NAMES)})"
    raise LookupError(msg)
