"""The declarations (data only) and the cost of importing the plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import lmux_plug_openai
import pytest

from lmux_plug import ApiKeyAuth
from lmux_plug import Capability
from lmux_plug import Registry
from lmux_plug._plugins import validate_specs

HOSTED = {
    "openai",
    "groq",
    "together",
    "deepseek",
    "mistral",
    "openrouter",
    "fireworks",
    "deepinfra",
    "perplexity",
    "cerebras",
    "xai",
}
LOCAL = {"vllm", "llamacpp", "lmstudio", "ollama_openai"}


def test_every_provider_is_valid_data_on_the_openai_wire() -> None:
    specs = validate_specs(lmux_plug_openai.lmux_plug_providers())
    names = {spec.name for spec in specs}
    assert names == HOSTED | LOCAL | {"azure"}
    assert all(spec.wire == "openai" for spec in specs)
    assert len(names) == len(specs)


@pytest.mark.parametrize("spec", lmux_plug_openai.PROVIDERS, ids=lambda s: s.name)
def test_declarations(spec: object) -> None:
    from lmux_plug import ProviderSpec

    assert isinstance(spec, ProviderSpec)
    assert isinstance(spec.auth, ApiKeyAuth)
    assert spec.auth.env, "every provider names the env var of its key"
    assert Capability.CHAT in spec.capabilities
    if spec.name in HOSTED:
        assert spec.base_url.startswith("https://")
        assert not spec.auth.optional
        priced = [m for m in spec.models if m.pricing is not None]
        assert priced, "hosted providers price a few current models"
        assert spec.pricing_date is not None
    if spec.name in LOCAL:
        assert spec.base_url.startswith("http://127.0.0.1:")
        assert spec.auth.optional
        assert spec.base_url_env == f"{spec.name.upper()}_BASE_URL"
    for model in spec.models:
        assert model.capabilities is not None
        if model.pricing is not None:
            assert model.pricing.input >= 0
            assert model.pricing.output >= 0
    # Options are only the documented switches.
    from lmux_plug_openai._providers import OPTIONS

    assert set(spec.options) <= set(OPTIONS)


def test_capabilities_narrow_per_model() -> None:
    registry = Registry(plugins=[lmux_plug_openai])
    openai = registry.provider("openai")
    assert Capability.CHAT not in openai.capabilities_of("text-embedding-3-small")
    assert Capability.REASONING in openai.capabilities_of("o3")
    assert Capability.REASONING not in openai.capabilities_of("gpt-4o")
    assert Capability.EMBED in openai.capabilities_of("some-future-model")


def test_import_does_not_load_the_codec_or_aiohttp() -> None:
    code = (
        "import json, sys, lmux_plug_openai; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'lmux_plug_openai', 'cattrs')))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == ["lmux_plug_openai", "lmux_plug_openai._providers"]
