"""Gemini's GenerateContent wire format as public names, for every plugin that speaks it.

Google serves the same request and answer bodies from the Gemini API and from Vertex AI
(``publishers/google/models/*:generateContent``), so the Vertex AI plugin reuses this codec
instead of copying it. Sans-IO: nothing here does I/O.
"""

from __future__ import annotations

from lmux_plug_gemini._codec import GeminiCodec
from lmux_plug_gemini._codec import GeminiStreamDecoder
from lmux_plug_gemini._codec import decode_chat
from lmux_plug_gemini._codec import encode_chat
from lmux_plug_gemini._codec import error_from_body
from lmux_plug_gemini._codec import finish_reason_of
from lmux_plug_gemini._codec import model_path
from lmux_plug_gemini._codec import refine_error
from lmux_plug_gemini._codec import usage_of

__all__ = [
    "GeminiCodec",
    "GeminiStreamDecoder",
    "decode_chat",
    "encode_chat",
    "error_from_body",
    "finish_reason_of",
    "model_path",
    "refine_error",
    "usage_of",
]
