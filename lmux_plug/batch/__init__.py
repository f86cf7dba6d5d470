"""Batch generation and embeddings with a bounded in-flight window, and the batch CLI.

>>> from lmux_plug.batch import generate_batch
>>> batch = generate_batch("echo/echo-1", ["a", "b"])
>>> [r.output_text for r in batch.results]
['a', 'b']

Not imported by ``import lmux_plug`` (import time matters); import it explicitly. See
``docs/batch.md``.
"""

from __future__ import annotations

from lmux_plug.batch import engine
from lmux_plug.batch import results
from lmux_plug.batch.engine import *  # noqa: F403 - the names engine.__all__ lists, kept there
from lmux_plug.batch.results import *  # noqa: F403 - likewise results.__all__
from lmux_plug.batch.structured import OutputParseError
from lmux_plug.batch.structured import StructuredOutput

# The engine's and the result types' own ``__all__`` are the one list of their public names
# (asyncio's package layout); of ``structured``, two names (the rest stays in the module).
__all__ = ["OutputParseError", "StructuredOutput"]
__all__ += engine.__all__
__all__ += results.__all__
