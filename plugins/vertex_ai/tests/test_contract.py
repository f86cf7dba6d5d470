"""Certify the vertex_ai plugin with the shared contract suite (lmux-plug-contract).

Vertex AI URLs name a Google Cloud project, which comes from the environment as in real
use; certification sets one (any id: the local wire server does not check it).
"""

from __future__ import annotations

import lmux_plug_vertex_ai
import pytest
from lmux_plug_contract import ProviderContract


@pytest.fixture(autouse=True)
def _project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "contract-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")


class TestVertexAIContract(ProviderContract):
    provider = "vertex_ai"
    plugin = lmux_plug_vertex_ai
