"""Google Vertex AI wire: Gemini's GenerateContent bodies, embeddings through ``:predict``."""

from __future__ import annotations

from collections.abc import Sequence

from lmux_plug import Usage

from lmux_plug_contract.wires._base import CapturedRequest
from lmux_plug_contract.wires._base import Reply
from lmux_plug_contract.wires._base import json_bytes
from lmux_plug_contract.wires.gemini import GeminiWire

__all__ = ["VertexAIWire"]


class VertexAIWire(GeminiWire):
    """Gemini's ``generateContent`` bodies; ``:predict`` embeddings with token statistics.

    ``publishers/google/models/*:generateContent`` and ``:streamGenerateContent?alt=sse``
    answer as on the Gemini API.
    """

    name = "vertex_ai"
    embed_usage = True

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """``instances[].content``."""
        body = request.json() or {}
        return [str(item.get("content", "")) for item in body.get("instances") or []]

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """``predictions[].embeddings`` with ``statistics.token_count`` (one token a word)."""
        texts = self.embed_inputs(request)
        predictions = [
            {
                "embeddings": {
                    "values": list(vector),
                    "statistics": {"token_count": len(text.split()), "truncated": False},
                }
            }
            for vector, text in zip(vectors, texts, strict=True)
        ]
        body = {
            "predictions": predictions,
            "metadata": {"billableCharacterCount": sum(map(len, texts))},
        }
        return Reply(200, {"content-type": "application/json; charset=UTF-8"}, (json_bytes(body),))
