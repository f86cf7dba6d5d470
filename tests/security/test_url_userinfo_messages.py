"""A URL's user info (a password) never shows in a message that names a bad URL."""

from __future__ import annotations

import pytest

from lmux_plug import ProviderSpec
from lmux_plug._http1 import Target
from lmux_plug._plugins import validate_specs

PASSWORD = "hunter2-not-a-key"


def test_a_plugin_declaring_a_bad_base_url_is_named_without_the_password() -> None:
    spec = ProviderSpec(name="p", wire="openai", base_url=f"ftp://admin:{PASSWORD}@host.example")
    with pytest.raises(ValueError, match="not an http") as info:
        validate_specs([spec])
    assert PASSWORD not in str(info.value)
    assert "host.example" in str(info.value)


def test_the_transport_names_a_bad_url_without_the_password() -> None:
    with pytest.raises(ValueError, match="not an http") as info:
        Target(f"gopher://admin:{PASSWORD}@host.example/v1")
    assert PASSWORD not in str(info.value)
    assert "host.example" in str(info.value)
