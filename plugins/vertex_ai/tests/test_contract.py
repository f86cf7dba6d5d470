"""Certify the vertex_ai plugin with the shared contract suite (lmux-plug-contract).

Vertex AI URLs name a Google Cloud project, which comes from the environment as in real
use; the plugin's ``CONTRACT`` fixtures give certification a placeholder project.
"""

from __future__ import annotations

import lmux_plug_vertex_ai
from lmux_plug_contract import ProviderContract


class TestVertexAIContract(ProviderContract):
    provider = "vertex_ai"
    plugin = lmux_plug_vertex_ai
