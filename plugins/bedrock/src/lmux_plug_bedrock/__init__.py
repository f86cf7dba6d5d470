"""lmux-plug provider plugin for Amazon Bedrock (``bedrock/<modelId>``).

Chat goes through ``POST /model/{modelId}/converse`` and streams through
``/converse-stream`` (AWS event-stream frames); embeddings through
``/model/{modelId}/invoke`` with the model family's body (Titan, Cohere). Requests carry a
Bedrock API key as a bearer token when one is given (``AWS_BEARER_TOKEN_BEDROCK`` or
``api_key=``) and are signed with SigV4 otherwise. The codec
(:mod:`lmux_plug_bedrock._wire`) and botocore (signing, credential chain, event-stream
framing) are imported on the first call, so discovering the plugin stays cheap; the hooks
are the core driver's (:mod:`lmux_plug.wire`).
"""

from __future__ import annotations

from lmux_plug import wire
from lmux_plug_bedrock._spec import BEARER_ENV
from lmux_plug_bedrock._spec import DEFAULT_INPUT_TYPE
from lmux_plug_bedrock._spec import PRICING_DATE
from lmux_plug_bedrock._spec import SPEC

__all__ = [
    "BEARER_ENV",
    "CONTRACT",
    "DEFAULT_INPUT_TYPE",
    "PRICING_DATE",
    "SPEC",
]

#: For the contract suite: certify embeddings with a batching (Cohere-family) model.
CONTRACT = {"models": {"embed": "cohere.embed-english-v3"}}

# Serves its own spec only (no ``lmux_plug_wires``).
lmux_plug_providers = wire.spec_hooks(SPEC).providers
lmux_plug_chat, lmux_plug_stream, lmux_plug_embed = wire.codec_hooks("lmux_plug_bedrock._wire")
