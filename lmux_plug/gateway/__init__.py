"""The lmux-plug gateway: OpenAI's HTTP API in front of the registry or router.

Chat (JSON and streaming), embeddings and models, with virtual keys, per-key limits and
budgets, ``/health`` and Prometheus ``/metrics``.

Needs the ``gateway`` extra (Starlette and uvicorn): ``pip install 'lmux-plug[gateway]'``.
Run it with ``lmux-plug serve`` (:func:`lmux_plug.gateway.serve.serve_main`) or build the
ASGI app with :func:`lmux_plug.gateway.app.create_app`. Not imported by ``import lmux_plug``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmux_plug.lazy import lazy_exports

if TYPE_CHECKING:
    from lmux_plug.gateway.app import create_app
    from lmux_plug.gateway.serve import serve_main

__all__ = ["create_app", "serve_main"]


# Lazy, so importing the package (e.g. for the CLI's --help) does not need starlette.
__getattr__, __dir__ = lazy_exports(__name__, {"create_app": ".app", "serve_main": ".serve"})
