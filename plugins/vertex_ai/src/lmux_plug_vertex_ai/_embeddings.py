"""Vertex AI text embeddings through ``:predict`` (sans-IO).

Request: ``{"instances": [{"content", "task_type"?, "title"?}], "parameters":
{"outputDimensionality"?, "autoTruncate"?}}``; answer: ``{"predictions": [{"embeddings":
{"values", "statistics": {"token_count", "truncated"}}}]}``. ``gemini-embedding-001`` takes one
instance per request, the ``text-embedding-*`` models up to 250.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import Usage
from lmux_plug.wire import one_per_input

__all__ = ["batch_size", "decode_predictions", "encode_instances"]

_MAX_INSTANCES = 250
# The embed call's ``input_type`` (Cohere's names) as Vertex AI task types.
_TASK_TYPES = {
    "search_document": "RETRIEVAL_DOCUMENT",
    "search_query": "RETRIEVAL_QUERY",
    "classification": "CLASSIFICATION",
    "clustering": "CLUSTERING",
}
# Per-instance fields the caller may pass in ``extra_body``; everything else is a parameter.
_INSTANCE_FIELDS = ("task_type", "title")


def batch_size(model: str) -> int:
    """The most texts one ``predict`` call takes (gemini-embedding: one)."""
    return 1 if model.startswith("gemini-embedding") else _MAX_INSTANCES


def encode_instances(request: EmbeddingRequest, texts: tuple[str, ...]) -> dict[str, Any]:
    """The ``predict`` body for ``texts``.

    ``extra_body`` fields ``task_type`` / ``title`` go on every instance, the others into
    ``parameters``. The call's ``input_type`` becomes ``task_type`` (``search_query`` →
    ``RETRIEVAL_QUERY``, ``search_document`` → ``RETRIEVAL_DOCUMENT``, ...; other values are
    sent upper-cased, e.g. ``semantic_similarity``).
    """
    if request.dimensions is not None and request.dimensions < 1:
        raise InvalidRequestError(
            "dimensions must be >= 1", provider="vertex_ai", model=request.model
        )
    if request.encoding_format == "base64":
        msg = "Vertex AI embeddings are floats; encoding_format='base64' is refused"
        raise InvalidRequestError(msg, provider="vertex_ai", model=request.model)
    extra = dict(request.extra)
    input_type = extra.pop("input_type", None)
    if input_type is not None and "task_type" not in extra:
        task = _TASK_TYPES.get(str(input_type).lower(), str(input_type).upper())
        extra["task_type"] = task
    per_instance = {k: extra.pop(k) for k in _INSTANCE_FIELDS if k in extra}
    parameters: dict[str, Any] = {}
    if request.dimensions is not None:
        parameters["outputDimensionality"] = request.dimensions
    parameters.update(extra.pop("parameters", None) or {})
    parameters.update(extra)
    body: dict[str, Any] = {"instances": [{"content": t, **per_instance} for t in texts]}
    if parameters:
        body["parameters"] = parameters
    return body


def decode_predictions(
    body: Any, *, model: str, expected: int, provider: str = "vertex_ai"
) -> EmbeddingResponse:
    """The vectors of one ``predict`` answer and the tokens it counted."""
    predictions = body.get("predictions") if isinstance(body, Mapping) else None
    source, what = "Vertex AI", "predictions"
    predictions = one_per_input(
        predictions, expected, source=source, what=what, provider="vertex_ai", model=model
    )
    vectors: list[tuple[float, ...]] = []
    tokens = 0
    for prediction in predictions:
        embeddings = prediction.get("embeddings") if isinstance(prediction, Mapping) else None
        values = embeddings.get("values") if isinstance(embeddings, Mapping) else None
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            raise ProviderError(
                "Vertex AI prediction without embedding values", provider="vertex_ai", model=model
            )
        vectors.append(tuple(float(v) for v in values))
        statistics = embeddings.get("statistics") if isinstance(embeddings, Mapping) else None
        count = statistics.get("token_count") if isinstance(statistics, Mapping) else None
        if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 0:
            tokens += int(count)
    return EmbeddingResponse(
        embeddings=vectors, model=model, provider=provider, usage=Usage(input_tokens=tokens)
    )
