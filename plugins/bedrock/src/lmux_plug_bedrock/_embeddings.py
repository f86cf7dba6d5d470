"""InvokeModel bodies for Bedrock embedding models, by model family (sans-IO).

* Amazon Titan Text Embeddings (``amazon.titan-embed-text-v1`` / ``-v2:0``): one text per
  call, ``{"inputText", "dimensions", "normalize"}`` → ``{"embedding", "inputTextTokenCount"}``
  (``dimensions`` and ``normalize`` are v2 only);
* Cohere Embed (``cohere.embed-english-v3``, ``-multilingual-v3``, ``cohere.embed-v4:0``):
  up to 96 texts per call, ``{"texts", "input_type", "embedding_types"}`` →
  ``{"embeddings": {"float": [...]}}`` (or a plain list without ``embedding_types``); the
  token count is the ``x-amzn-bedrock-input-token-count`` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Literal

from lmux_plug import EmbeddingRequest
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug.wire import one_per_input
from lmux_plug_bedrock._spec import DEFAULT_INPUT_TYPE

__all__ = ["MAX_COHERE_TEXTS", "batch_size", "decode_vectors", "encode_batch", "family_of"]

Family = Literal["titan", "cohere"]
#: Cohere Embed's limit of texts per call.
MAX_COHERE_TEXTS = 96


def family_of(model: str) -> Family:
    """The body family of an embedding model id (inference-profile prefixes allowed)."""
    if "cohere.embed" in model:
        return "cohere"
    if "titan-embed" in model:
        return "titan"
    msg = (
        f"{model!r} is not a Bedrock embedding model lmux-plug knows the body of "
        "(amazon.titan-embed-* or cohere.embed-*)"
    )
    raise InvalidRequestError(msg, provider="bedrock", model=model)


def batch_size(model: str) -> int:
    """The most texts one call takes: one (Titan) or up to 96 (Cohere)."""
    return MAX_COHERE_TEXTS if family_of(model) == "cohere" else 1


def encode_batch(request: EmbeddingRequest, texts: tuple[str, ...]) -> dict[str, Any]:
    """The InvokeModel body for ``texts``; ``request.extra`` is merged last."""
    model = request.model
    if request.dimensions is not None and request.dimensions < 1:
        raise InvalidRequestError("dimensions must be >= 1", provider="bedrock", model=model)
    if request.encoding_format == "base64":
        msg = "Bedrock embeddings are returned as floats here; encoding_format='base64' is refused"
        raise InvalidRequestError(msg, provider="bedrock", model=model)
    extra = dict(request.extra)
    if family_of(model) == "cohere":
        body: dict[str, Any] = {
            "texts": list(texts),
            "input_type": extra.pop("input_type", DEFAULT_INPUT_TYPE),
            "embedding_types": ["float"],
        }
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
    else:
        extra.pop("input_type", None)  # Titan embeds every text the same way
        body = {"inputText": texts[0]}
        if request.dimensions is not None:
            if "text-v1" in model:
                msg = "amazon.titan-embed-text-v1 has a fixed size; dimensions is v2 only"
                raise InvalidRequestError(msg, provider="bedrock", model=model)
            body["dimensions"] = request.dimensions
    body.update(extra)
    return body


def _floats(values: Any, model: str) -> tuple[float, ...]:
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        msg = "Bedrock embedding is not a list of numbers"
        raise ProviderError(msg, provider="bedrock", model=model)
    return tuple(float(v) for v in values)


def decode_vectors(
    body: Any, headers: Mapping[str, str], *, model: str, expected: int
) -> tuple[list[tuple[float, ...]], int]:
    """The vectors of one InvokeModel answer and its input token count."""
    if not isinstance(body, Mapping):
        raise ProviderError("Bedrock embedding answer is not a JSON object", provider="bedrock")
    header = headers.get("x-amzn-bedrock-input-token-count", "")
    tokens = int(header) if header.isdigit() else 0
    if "embedding" in body:
        count = body.get("inputTextTokenCount")
        tokens = count if isinstance(count, int) and count >= 0 else tokens
        vectors = [_floats(body["embedding"], model)]
    else:
        raw = body.get("embeddings")
        if isinstance(raw, Mapping):
            raw = raw.get("float")
        if not isinstance(raw, list):
            msg = "Bedrock embedding answer has no float embeddings"
            raise ProviderError(msg, provider="bedrock", model=model)
        vectors = [_floats(v, model) for v in raw]
    one_per_input(vectors, expected, source="Bedrock", provider="bedrock", model=model)
    return vectors, tokens
