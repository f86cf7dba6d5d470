"""lmux-plug provider plugin for Google Vertex AI (``vertex_ai/<model>``).

Chat calls ``POST {root}/v1/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent``, streams ``:streamGenerateContent?alt=sse``, and embeddings call
``:predict``. The bodies are Gemini's GenerateContent format, encoded and decoded by the
gemini plugin's public codec (:mod:`lmux_plug_gemini.codec`). The token is
``VERTEX_ACCESS_TOKEN`` (or ``api_key=``) or comes from google-auth default credentials;
project and location from ``GOOGLE_CLOUD_PROJECT`` / ``GOOGLE_CLOUD_LOCATION`` or the base
URL. The codec (:mod:`lmux_plug_vertex_ai._wire`) and google-auth are imported on the first
call, so discovery stays cheap; the hooks are the core driver's (:mod:`lmux_plug.wire`).
"""

from __future__ import annotations

from lmux_plug import wire
from lmux_plug_vertex_ai._spec import PRICING_DATE
from lmux_plug_vertex_ai._spec import SPEC
from lmux_plug_vertex_ai._spec import TOKEN_ENV

__all__ = [
    "CONTRACT",
    "PRICING_DATE",
    "SPEC",
    "TOKEN_ENV",
]

#: For the contract suite: the wire is Gemini's, the embed model batches many inputs.
# Vertex AI URLs name a Google Cloud project and location, which real use reads from the
# environment; certification against the local wire server sets placeholders for them.
CONTRACT = {
    "models": {"embed": "text-embedding-005"},
    "environment": {
        "GOOGLE_CLOUD_PROJECT": "contract-project",
        "GOOGLE_CLOUD_LOCATION": "us-central1",
    },
}

# Serves its own spec only (no ``lmux_plug_wires``: the ``gemini`` wire is the gemini plugin's).
lmux_plug_providers = wire.spec_hooks(SPEC).providers
lmux_plug_chat, lmux_plug_stream, lmux_plug_embed = wire.codec_hooks("lmux_plug_vertex_ai._wire")
