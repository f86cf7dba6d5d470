"""Plugin loading: the pluggy manager, entry-point discovery, blocking, broken plugins.

A plugin that fails to import, raises from ``lmux_plug_providers`` or declares something
that is not a valid ``ProviderSpec`` is recorded as a :class:`BrokenPlugin` (and a
warning is issued); it never prevents other plugins from loading.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import pluggy

from lmux_plug import hookspecs
from lmux_plug._entry_points import FoundEntryPoint, UnsupportedPathError, scan_group
from lmux_plug._types import ProviderSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "LoadedPlugin",
    "PluginLoadWarning",
    "disabled_names",
    "entry_point_plugins",
    "make_plugin_manager",
    "validate_specs",
]

ENTRY_POINT_GROUP = "lmux_plug"
DISABLE_ENV = "LMUX_PLUG_DISABLE"


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the others still work."""


@attrs.frozen
class BrokenPlugin:
    """A plugin that was skipped, and why."""

    name: str
    reason: str
    source: str = ""


@attrs.frozen
class LoadedPlugin:
    """A plugin that loaded, with the providers it declared."""

    name: str
    providers: tuple[str, ...]
    source: str = ""
    version: str | None = None


def make_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the lmux_plug hook specification."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def disabled_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """Plugin names blocked by ``LMUX_PLUG_DISABLE=a,b`` plus ``extra``."""
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    return frozenset(names | set(extra))


def entry_point_plugins(
    disabled: frozenset[str],
) -> tuple[list[tuple[str, object, str, str | None]], list[BrokenPlugin]]:
    """Import every ``lmux_plug`` entry point not in ``disabled``.

    Returns ``(name, plugin object, source, version)`` for each import that worked, and
    the broken ones. Duplicate names (the same distribution seen twice on ``sys.path``)
    load once.
    """
    loaded: list[tuple[str, object, str, str | None]] = []
    broken: list[BrokenPlugin] = []
    seen: set[str] = set()
    for entry_point in _group_entry_points():
        if entry_point.name in seen or entry_point.name in disabled:
            continue
        seen.add(entry_point.name)
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure must be contained
            reason = f"import failed: {type(exc).__name__}: {exc}"
            broken.append(BrokenPlugin(entry_point.name, reason, entry_point.value))
            warnings.warn(
                f"lmux_plug plugin {entry_point.name!r} skipped: {reason}",
                PluginLoadWarning,
                stacklevel=3,
            )
            continue
        loaded.append((entry_point.name, plugin, entry_point.value, entry_point.version))
    return loaded, broken


def _group_entry_points() -> list[FoundEntryPoint]:
    """The group's entry points: a fast scan, or ``importlib.metadata`` where it cannot."""
    try:
        return scan_group(ENTRY_POINT_GROUP)
    except UnsupportedPathError:
        from importlib.metadata import entry_points  # noqa: PLC0415 - the slow, general way

        return [
            FoundEntryPoint(
                ep.name,
                ep.value,
                ep.dist.name if ep.dist is not None else "",
                ep.dist.version if ep.dist is not None else None,
            )
            for ep in entry_points(group=ENTRY_POINT_GROUP)
        ]


def validate_specs(declared: Any) -> tuple[ProviderSpec, ...]:
    """Check what ``lmux_plug_providers`` returned; raise ``ValueError`` saying what is wrong."""
    if declared is None:
        return ()
    if isinstance(declared, ProviderSpec):
        declared = [declared]
    if not isinstance(declared, Sequence) or isinstance(declared, (str, bytes)):
        msg = (
            f"lmux_plug_providers must return a list of ProviderSpec, got {type(declared).__name__}"
        )
        raise ValueError(msg)  # noqa: TRY004 - reported as a broken plugin, not raised to users
    specs: list[ProviderSpec] = []
    for spec in declared:
        if not isinstance(spec, ProviderSpec):
            msg = f"declared {type(spec).__name__} where a ProviderSpec was expected"
            raise ValueError(msg)  # noqa: TRY004
        if not spec.name or "/" in spec.name or spec.name != spec.name.strip():
            msg = f"provider name {spec.name!r} must be non-empty, without '/' or spaces"
            raise ValueError(msg)
        if not spec.wire:
            msg = f"provider {spec.name!r} declares no wire"
            raise ValueError(msg)
        if not spec.base_url.startswith(("http://", "https://", "mock:", "memory:")):
            msg = f"provider {spec.name!r} has base_url {spec.base_url!r}, not an http(s) URL"
            raise ValueError(msg)
        specs.append(spec)
    return tuple(specs)
