"""Batch generation and embeddings with a bounded in-flight window, and the batch CLI.

>>> from lmux_plug.batch import generate_batch
>>> batch = generate_batch("echo/echo-1", ["a", "b"])
>>> [r.output_text for r in batch.results]
['a', 'b']

Not imported by ``import lmux_plug`` (import time matters); import it explicitly. See
``docs/batch.md``.
"""

from __future__ import annotations

from lmux_plug.batch.engine import BatchInterrupted
from lmux_plug.batch.engine import ChatClient
from lmux_plug.batch.engine import EmbedClient
from lmux_plug.batch.engine import aembed_batch
from lmux_plug.batch.engine import agenerate_batch
from lmux_plug.batch.engine import aiter_embed
from lmux_plug.batch.engine import aiter_generate
from lmux_plug.batch.engine import amap
from lmux_plug.batch.engine import embed_batch
from lmux_plug.batch.engine import generate_batch
from lmux_plug.batch.results import BatchResult
from lmux_plug.batch.results import EmbeddingResult
from lmux_plug.batch.results import GenerationResult
from lmux_plug.batch.results import Outcome
from lmux_plug.batch.structured import OutputParseError
from lmux_plug.batch.structured import StructuredOutput

__all__ = [
    "BatchInterrupted",
    "BatchResult",
    "ChatClient",
    "EmbedClient",
    "EmbeddingResult",
    "GenerationResult",
    "Outcome",
    "OutputParseError",
    "StructuredOutput",
    "aembed_batch",
    "agenerate_batch",
    "aiter_embed",
    "aiter_generate",
    "amap",
    "embed_batch",
    "generate_batch",
]
