"""The Vertex AI wire as one codec for the core driver (:mod:`lmux_plug.wire`).

Chat and streams are Gemini's GenerateContent bodies (the gemini plugin's public
:mod:`lmux_plug_gemini.codec`) on ``:generateContent`` and ``:streamGenerateContent?alt=sse``;
embeddings are ``:predict``, one call per 250 texts (or per text for gemini-embedding),
sent a few at a time by the driver and joined. The codec's calls name the model's method
only: :meth:`VertexCodec.prepare` makes the URL, which may need the project of the
default credentials, and adds the access token when no key was given; both need I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from lmux_plug_gemini.codec import GeminiCodec

from lmux_plug import LmuxError
from lmux_plug.wire import WireRequest
from lmux_plug_vertex_ai import _auth
from lmux_plug_vertex_ai import _urls
from lmux_plug_vertex_ai._embeddings import batch_size
from lmux_plug_vertex_ai._embeddings import decode_predictions
from lmux_plug_vertex_ai._embeddings import encode_instances

if TYPE_CHECKING:
    from lmux_plug import ChatRequest
    from lmux_plug import EmbeddingRequest
    from lmux_plug import ProviderContext

__all__ = ["CODEC", "VertexCodec"]


class VertexCodec(GeminiCodec):
    """Gemini's bodies on Vertex AI's URLs, with a Google access token."""

    embed_decoder = staticmethod(decode_predictions)

    def model_url(
        self,
        provider: ProviderContext,  # noqa: ARG002 - GeminiCodec's signature
        model: str,  # noqa: ARG002 - GeminiCodec's signature
        method: str,
    ) -> str:
        """The method alone: :meth:`prepare` makes the URL (the project may need I/O)."""
        return method

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> WireRequest:
        """Gemini's call, the errors naming this provider; a stream accepts only SSE."""
        try:
            call = super().encode_chat(request, provider, stream=stream)
        except LmuxError as exc:
            # The shared Gemini codec does not know the provider: the error names this one.
            if exc.provider in (None, "gemini"):
                exc.provider = provider.name
            raise
        if stream:
            return attrs.evolve(call, headers={"accept": "text/event-stream"})
        return call

    def embed_batch_size(self, request: EmbeddingRequest) -> int:
        """One text per call for gemini-embedding, else up to 250."""
        return batch_size(request.model)

    def encode_embed(
        self,
        request: EmbeddingRequest,
        provider: ProviderContext,  # noqa: ARG002 - the Codec protocol's signature
    ) -> WireRequest:
        """One ``:predict`` call for all of ``request.inputs``."""
        return WireRequest("predict", encode_instances(request, request.inputs))

    async def prepare(
        self, call: WireRequest, request: ChatRequest | EmbeddingRequest, provider: ProviderContext
    ) -> WireRequest:
        """The URL of the call's method for the model, and the token unless a key was given."""
        project = None
        if _urls.needs_project(provider.base_url, request.model):
            project = _urls.project_from_env()
            if project is None and provider.credentials.api_key is None:
                project = await _auth.default_project()
        url = _urls.model_url(
            provider.base_url,
            request.model,
            call.url,
            project=project,
            location=_urls.location_from_env(),
            options=provider.spec.options,
        )
        if provider.credentials.api_key is not None:  # sent by the driver as the spec says
            return attrs.evolve(call, url=url)
        token = await _auth.access_token()
        headers = {**call.headers, "authorization": f"Bearer {token}"}
        return attrs.evolve(call, url=url, headers=headers, secrets=(token,))


#: The codec instance the plugin's hooks drive.
CODEC = VertexCodec()
