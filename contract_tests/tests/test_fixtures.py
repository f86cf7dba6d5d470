"""The optional CONTRACT declaration: defaults per wire, a plain dict, unknown wires."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from lmux_plug import Capability
from lmux_plug import ModelSpec
from lmux_plug import ProviderSpec

from lmux_plug_contract import ContractFixtures
from lmux_plug_contract.fixtures import FALLBACK_MODEL
from lmux_plug_contract.fixtures import resolve_fixtures
from lmux_plug_contract.wires import OpenAIWire

MODULE = """
import sys
import attrs
acme = sys.modules["lmux_contract_examples_acme"]  # loaded by the outer conftest

from lmux_plug_contract import ProviderContract


class OwnWire(acme.AcmePlugin):
    spec = attrs.evolve(acme.SPEC, name="acme2", wire="acme-wire")


class DeclaredWire(OwnWire):
    CONTRACT = {{"wire": "openai", "models": {{"chat": "acme-chat"}}}}


class TestUnknown(ProviderContract):
    provider = "acme2"
    plugin = OwnWire()


class TestDeclared(ProviderContract):
    provider = "acme2"
    plugin = DeclaredWire()
"""


def test_an_unknown_wire_skips_saying_what_to_declare_and_a_dict_declaration_fixes_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_wire=MODULE.format())
    result = pytester.runpytest("-k", "http_status and 429", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*no wire format known for wire 'acme-wire'*CONTRACT*"])


def test_resolution_order() -> None:
    spec = ProviderSpec(
        name="p",
        wire="openai",
        base_url="https://p.example/v1",
        capabilities=frozenset({Capability.CHAT}),
        models=(ModelSpec("e", capabilities=frozenset({Capability.EMBED})),),
    )

    class Owner:
        CONTRACT: ClassVar[dict[str, object]] = {"p": {"models": {"chat": "c"}}}

    assert resolve_fixtures(None, Owner(), "p").models == {"chat": "c"}
    declared = ContractFixtures(models={Capability.EMBED: "x"})
    assert resolve_fixtures(declared, Owner(), "p") is declared
    assert resolve_fixtures(None, object(), "p") == ContractFixtures()
    defaults = ContractFixtures()
    assert isinstance(defaults.wire_format(spec), OpenAIWire)
    assert defaults.model_for(spec, Capability.EMBED) == "e"
    assert defaults.model_for(spec, Capability.CHAT) == FALLBACK_MODEL
    assert defaults.model_for(spec, Capability.TOOLS) is None
    assert json.dumps(declared.models) == '{"embed": "x"}'
