"""The Bedrock wire as one codec for the core driver (:mod:`lmux_plug.wire`).

Chat is ``POST /model/{modelId}/converse`` (streams: ``/converse-stream``, AWS event-stream
frames); embeddings ``POST /model/{modelId}/invoke`` with the model family's body, Titan
taking one text per call and Cohere up to 96 (the driver sends the calls of one request a
few at a time and joins the answers). A Bedrock API key rides as a bearer token (the spec's
auth); without one, :meth:`BedrockCodec.prepare` signs each call with SigV4.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import attrs

from lmux_plug import EmbeddingResponse
from lmux_plug import LmuxError
from lmux_plug import Usage
from lmux_plug.wire import BaseCodec
from lmux_plug.wire import WireRequest
from lmux_plug_bedrock import _auth
from lmux_plug_bedrock._codec import ConverseStreamDecoder
from lmux_plug_bedrock._codec import decode_converse
from lmux_plug_bedrock._codec import encode_converse
from lmux_plug_bedrock._codec import model_path
from lmux_plug_bedrock._embeddings import batch_size
from lmux_plug_bedrock._embeddings import decode_vectors
from lmux_plug_bedrock._embeddings import encode_batch
from lmux_plug_bedrock._errors import refine_error

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from lmux_plug import ChatRequest
    from lmux_plug import ChatResponse
    from lmux_plug import EmbeddingRequest
    from lmux_plug import ProviderContext
    from lmux_plug.wire import WireResponse

__all__ = ["CODEC", "BedrockCodec"]

_JSON = "application/json"
_EVENT_STREAM = "application/vnd.amazon.eventstream"
_REQUEST_ID = "x-amzn-requestid"


def _call(
    request: ChatRequest | EmbeddingRequest,
    provider: ProviderContext,
    action: str,
    body: Any,
    accept: str,
) -> WireRequest:
    """``POST {base}/model/{modelId}/{action}``, the region filled into the base URL."""
    base = provider.base_url
    if "{region}" in base:
        base = base.replace("{region}", _auth.region_for(provider.spec.options))
    url = f"{base.rstrip('/')}/model/{model_path(request.model)}/{action}"
    return WireRequest(url, body, headers={"content-type": _JSON, "accept": accept})


class BedrockCodec(BaseCodec):
    """Converse for chat and streams, InvokeModel for embeddings, SigV4 without a key."""

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """``converse``, or ``converse-stream`` answered in AWS event-stream frames."""
        if stream:
            return _call(
                request, provider, "converse-stream", encode_converse(request), _EVENT_STREAM
            )
        return _call(request, provider, "converse", encode_converse(request), _JSON)

    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        """The Converse answer; its request id is a header."""
        body = response.json(provider=provider.name, model=request.model)
        decoded = decode_converse(
            body, response.headers, model=request.model, provider=provider.name
        )
        return attrs.evolve(decoded, headers=response.headers)

    def stream_decoder(
        self, request: ChatRequest, provider: ProviderContext, headers: Mapping[str, str]
    ) -> ConverseStreamDecoder:
        """A frame decoder for one ``converse-stream`` answer."""
        return ConverseStreamDecoder(
            model=request.model, provider=provider.name, request_id=headers.get(_REQUEST_ID)
        )

    def embed_batch_size(self, request: EmbeddingRequest) -> int:
        """One text per call for Titan, up to 96 for Cohere."""
        return batch_size(request.model)

    def encode_embed(self, request: EmbeddingRequest, provider: ProviderContext) -> WireRequest:
        """One ``invoke`` call with the family's body for all of ``request.inputs``."""
        return _call(request, provider, "invoke", encode_batch(request, request.inputs), _JSON)

    def decode_embed(
        self, response: WireResponse, request: EmbeddingRequest, provider: ProviderContext
    ) -> EmbeddingResponse:
        """The vectors of one ``invoke`` answer, with its input token count."""
        vectors, tokens = decode_vectors(
            response.json(provider=provider.name, model=request.model),
            response.headers,
            model=request.model,
            expected=len(request.inputs),
        )
        return EmbeddingResponse(
            embeddings=vectors,
            model=request.model,
            provider=provider.name,
            usage=Usage(input_tokens=tokens),
            request_id=response.headers.get(_REQUEST_ID),
            headers=dict(response.headers),
        )

    async def prepare(
        self, call: WireRequest, request: ChatRequest | EmbeddingRequest, provider: ProviderContext
    ) -> WireRequest:
        """The call as is with a bearer key; else signed with SigV4 (the AWS credential chain).

        Signed over exactly the bytes the transport sends for the JSON body (``json.dumps``)
        and over the caller's ``extra_headers``, which the driver adds again unchanged.
        """
        if provider.credentials.api_key is not None:
            return call
        keys = await _auth.resolve_keys()
        region = _auth.region_for(provider.spec.options)
        headers = {**call.headers, **request.extra_headers}
        signed = _auth.sign(keys, region, call.url, json.dumps(call.body).encode(), headers)
        return attrs.evolve(call, headers=signed, secrets=keys.secrets())

    def refine_error(self, error: LmuxError) -> LmuxError:
        """Bedrock's validation messages name context overflows and unknown models."""
        return refine_error(error)


#: The codec instance the plugin's hooks drive.
CODEC = BedrockCodec()
