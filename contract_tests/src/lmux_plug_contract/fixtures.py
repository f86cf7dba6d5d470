"""``ContractFixtures``: the one small, optional declaration a plugin may make.

A plugin module may expose ``CONTRACT = ContractFixtures(...)`` (or a mapping from
provider name to fixtures, for a plugin that declares several providers). Nothing is
needed for a plugin whose wire the suite knows (``openai``, ``anthropic``, ``gemini``,
``ollama``) and whose first declared model of each capability is a fine test model.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from lmux_plug import Capability
from lmux_plug import ProviderSpec

from lmux_plug_contract.wires import WireFormat
from lmux_plug_contract.wires import wire_for
from lmux_plug_contract.wires.openai_dialects import dialect_of

__all__ = ["ContractFixtures", "resolve_fixtures"]

FALLBACK_MODEL = "contract-model"


def _models(value: Mapping[Any, str] | None) -> Mapping[str, str]:
    if not value:
        return {}
    return {(k.value if isinstance(k, Capability) else str(k)): v for k, v in value.items()}


def _paths(value: str | Path | Sequence[str | Path] | None) -> tuple[str | Path, ...]:
    if not value:
        return ()
    if isinstance(value, (str, Path)):
        return (value,)
    return tuple(value)


@attrs.frozen
class ContractFixtures:
    """What the suite needs to know about a provider beyond its ``ProviderSpec``.

    A plugin module may declare them as ``CONTRACT = ContractFixtures(...)``, as a plain
    dict of these fields, or as a dict from provider name to either.

    :param wire: a :class:`~lmux_plug_contract.wires.WireFormat` (or the name of a built-in
        one) that renders answers, errors and faults in the provider's format. Default: the
        built-in format named by ``ProviderSpec.wire``, if the suite knows it.
    :param models: model id to use per capability (``{"chat": "gpt-4o-mini", "embed":
        "text-embedding-3-small"}``); default: the first declared model with it.
    :param call_params: extra keyword arguments for every call (``{"max_tokens": 64}``).
    :param cassette_dir: where ``<provider>/<clause>.yaml`` cassettes live (default: the
        ``--lmux-cassettes`` option, else ``cassettes/`` in the pytest root directory).
    :param recordings: files or folders of traffic recorded from the real API (vcrpy /
        pytest-recording YAML, HAR) that the ``recorded.*`` clauses replay to the plugin;
        added to those named by ``--lmux-recordings``.
    :param environment: settings, not secrets, that the plugin reads from the environment in
        real use and cannot run without (``{"GOOGLE_CLOUD_PROJECT": "contract-project"}``).
        Each is set while a clause runs unless the environment already has it, so ``certify``
        needs no setup while a recording run keeps the caller's real values.
    """

    wire: WireFormat | str | None = None
    models: Mapping[str, str] = attrs.field(factory=dict, converter=_models)
    call_params: Mapping[str, Any] = attrs.field(factory=dict)
    cassette_dir: str | Path | None = None
    recordings: tuple[str | Path, ...] = attrs.field(default=(), converter=_paths)
    environment: Mapping[str, str] = attrs.field(factory=dict)

    def wire_format(self, spec: ProviderSpec) -> WireFormat | None:
        """The wire format to render for ``spec``, if any is known."""
        if isinstance(self.wire, WireFormat):
            return self.wire
        # The suite's OpenAI wire speaks the dialect of the server spec.base_url names.
        return dialect_of(wire_for(self.wire or spec.wire), spec)

    def model_for(self, spec: ProviderSpec, capability: Capability) -> str | None:
        """A model of ``spec`` that declares ``capability`` (``None`` if there is none)."""
        chosen = self.models.get(capability.value)
        if chosen is not None:
            return chosen
        for model in spec.models:
            if capability in spec.capabilities_of(model.id):
                return model.id
        if capability in spec.capabilities:
            # The provider-level declaration covers undeclared model ids.
            undeclared = FALLBACK_MODEL
            return undeclared if spec.model(undeclared) is None else None
        return None


def resolve_fixtures(declared: object, owner: object, provider: str) -> ContractFixtures:
    """The fixtures in force: the test class's, else the plugin's ``CONTRACT``, else defaults."""
    for candidate in (declared, _module_contract(owner)):
        found = _as_fixtures(candidate, provider)
        if found is not None:
            return found
    return ContractFixtures()


_FIELDS = frozenset(a.name for a in attrs.fields(ContractFixtures))


def _as_fixtures(candidate: object, provider: str) -> ContractFixtures | None:
    """Accept fixtures, a plain dict of their fields, or a mapping of provider -> either.

    A plain dict lets a plugin declare ``CONTRACT = {"models": {"chat": "m"}}`` without
    importing this package (which its users need not install).
    """
    if isinstance(candidate, ContractFixtures):
        return candidate
    if isinstance(candidate, Mapping) and candidate:
        if provider in candidate:
            return _as_fixtures(candidate[provider], provider)
        if set(candidate) <= _FIELDS:
            return ContractFixtures(**dict(candidate))
    return None


def _module_contract(owner: object) -> object:
    found = getattr(owner, "CONTRACT", None)
    if found is not None:
        return found
    import sys  # noqa: PLC0415

    module = sys.modules.get(getattr(type(owner), "__module__", "") or "")
    return getattr(module, "CONTRACT", None)
