"""An OpenAI-compatible client over lmux-plug: the ``openai`` package's API, any provider.

>>> from lmux_plug.openai import OpenAI
>>> client = OpenAI()
>>> reply = client.chat.completions.create(
...     model="echo/echo-1", messages=[{"role": "user", "content": "hi"}]
... )
>>> reply.choices[0].message.content
'hi'

``model="anthropic/claude-..."`` routes through the registry; a bare ``"gpt-4o"`` means
``"openai/gpt-4o"``; logical names of the registry (aliases) or a router are used as they
are. muxi-llm's short forms work too: ``ChatCompletion.create(...)``,
``ChatCompletion.acreate(...)``, ``Embedding.create(...)``. Errors carry the ``openai``
package's names (``RateLimitError``, ``BadRequestError`` ...), exported here; each is also
the matching :mod:`lmux_plug.errors` class and, when ``openai`` is installed, the
``openai`` class, so ``except openai.RateLimitError`` works unchanged. The ``openai``
package is not needed.

This package is not imported by ``import lmux_plug``.
"""

from __future__ import annotations

import threading
from typing import Any

from lmux_plug.openai import types
from lmux_plug.openai._client import AsyncOpenAI
from lmux_plug.openai._client import AsyncStream
from lmux_plug.openai._client import OpenAI
from lmux_plug.openai._client import Stream
from lmux_plug.openai._errors import APIConnectionError
from lmux_plug.openai._errors import APIError
from lmux_plug.openai._errors import APIStatusError
from lmux_plug.openai._errors import APITimeoutError
from lmux_plug.openai._errors import AuthenticationError
from lmux_plug.openai._errors import BadRequestError
from lmux_plug.openai._errors import ConflictError
from lmux_plug.openai._errors import InternalServerError
from lmux_plug.openai._errors import NotFoundError
from lmux_plug.openai._errors import OpenAIError
from lmux_plug.openai._errors import PermissionDeniedError
from lmux_plug.openai._errors import RateLimitError
from lmux_plug.openai._errors import UnprocessableEntityError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncOpenAI",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletion",
    "ConflictError",
    "Embedding",
    "InternalServerError",
    "NotFoundError",
    "OpenAI",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "Stream",
    "UnprocessableEntityError",
    "types",
]

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def _client(kind: str) -> Any:
    # One client per kind over the default registry, built on first use.
    client = _clients.get(kind)
    if client is None:
        with _lock:
            client = _clients.get(kind)
            if client is None:
                client = OpenAI() if kind == "sync" else AsyncOpenAI()
                _clients[kind] = client
    return client


class ChatCompletion:
    """muxi-llm's short form: ``ChatCompletion.create(model=..., messages=[...])``."""

    @staticmethod
    def create(**arguments: Any) -> Any:
        """Sync :meth:`OpenAI.chat.completions.create` on the default registry."""
        return _client("sync").chat.completions.create(**arguments)

    @staticmethod
    async def acreate(**arguments: Any) -> Any:
        """Async :meth:`AsyncOpenAI.chat.completions.create` on the default registry."""
        return await _client("async").chat.completions.create(**arguments)


class Embedding:
    """muxi-llm's short form: ``Embedding.create(model=..., input=[...])``."""

    @staticmethod
    def create(**arguments: Any) -> types.CreateEmbeddingResponse:
        """Sync :meth:`OpenAI.embeddings.create` on the default registry."""
        return _client("sync").embeddings.create(**arguments)  # type: ignore[no-any-return]

    @staticmethod
    async def acreate(**arguments: Any) -> types.CreateEmbeddingResponse:
        """Async :meth:`AsyncOpenAI.embeddings.create` on the default registry."""
        return await _client("async").embeddings.create(**arguments)  # type: ignore[no-any-return]
