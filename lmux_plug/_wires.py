"""Which plugin serves the provider specs of each wire.

A plugin declares the wires it serves with ``lmux_plug_wires``; that declaration is the
ownership. Two plugins declaring one wire is a conflict the registry reports (the second
is skipped, naming both), never a matter of load order. A plugin that implements the call
hooks without declaring wires is taken to serve the wires of the specs it declares; if two
such plugins infer the same wire, a spec of that wire declared as data alone is refused
with a :class:`ConfigurationError` naming both, instead of going to whichever loaded first.
"""

from __future__ import annotations

from lmux_plug.errors import ConfigurationError

__all__ = ["WireOwners"]

# Plain classes, not attrs: each attrs class costs ~3M instructions (about 0.75 ms) to
# create at `import lmux_plug`, and these are internal and never compared or printed.


class _Owner:
    __slots__ = ("name", "plugin")

    def __init__(self, name: str, plugin: object) -> None:
        self.name = name
        self.plugin = plugin


class WireOwners:
    """The owner of each wire: declared ones, else a single inferred one."""

    __slots__ = ("_declared", "_inferred")

    def __init__(self) -> None:
        self._declared: dict[str, _Owner] = {}
        self._inferred: dict[str, list[_Owner]] = {}

    def conflicts(self, wires: tuple[str, ...], plugin: object) -> list[tuple[str, str]]:
        """``(wire, owner name)`` for each of ``wires`` another plugin already declared."""
        return [
            (wire, owner.name)
            for wire in wires
            if (owner := self._declared.get(wire)) is not None and owner.plugin is not plugin
        ]

    def declare(self, wires: tuple[str, ...], name: str, plugin: object) -> None:
        """Record ``plugin`` as the owner of ``wires`` (check :meth:`conflicts` first)."""
        for wire in wires:
            self._declared[wire] = _Owner(name, plugin)

    def infer(self, wire: str, name: str, plugin: object) -> None:
        """Note that ``plugin`` serves specs of ``wire`` without declaring it."""
        owners = self._inferred.setdefault(wire, [])
        if not any(owner.plugin is plugin for owner in owners):
            owners.append(_Owner(name, plugin))

    def owner(self, wire: str, *, provider: str | None = None) -> object | None:
        """The plugin serving data-only specs of ``wire``, or ``None`` if no plugin does.

        Raises :class:`ConfigurationError` when two plugins serve ``wire`` without either
        declaring it.
        """
        declared = self._declared.get(wire)
        if declared is not None:
            return declared.plugin
        inferred = self._inferred.get(wire, [])
        if len(inferred) > 1:
            names = " and ".join(repr(owner.name) for owner in inferred)
            msg = (
                f"plugins {names} both serve wire {wire!r} and neither declares it "
                "(lmux_plug_wires); disable one with LMUX_PLUG_DISABLE"
            )
            raise ConfigurationError(msg, provider=provider)
        return inferred[0].plugin if inferred else None

    def known(self) -> list[str]:
        """Every wire some plugin serves, sorted."""
        return sorted({*self._declared, *self._inferred})
