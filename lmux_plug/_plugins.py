"""Plugin loading: the pluggy manager, entry-point discovery, blocking, broken plugins.

A plugin that fails to import, implements a hook no specification knows (a misspelt
``lmux_plug_caht``), raises from ``lmux_plug_providers``, declares something that is not a
valid ``ProviderSpec`` or claims a wire another plugin owns is recorded as a
:class:`BrokenPlugin` (and a warning is issued); it never prevents other plugins from loading.

:class:`Hooks` is the typed facade the registry calls the hooks through (one typed method
per hook, as tox 4 does), so no caller depends on pluggy's untyped ``pm.hook.<name>``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Iterable
from collections.abc import Sequence
from types import FunctionType
from types import MethodType
from types import ModuleType
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Generic
from typing import TypeVar
from typing import cast

import attrs
import pluggy

from lmux_plug import hookspecs
from lmux_plug._declarations import Credentials
from lmux_plug._declarations import ProviderSpec
from lmux_plug._entry_points import FoundEntryPoint
from lmux_plug._entry_points import UnsupportedPathError
from lmux_plug._entry_points import scan_group
from lmux_plug._pricing import ModelPricing

if TYPE_CHECKING:
    from lmux_plug._context import ProviderContext
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatRequest
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingRequest
    from lmux_plug._types import EmbeddingResponse

_RequestT = TypeVar("_RequestT")
_ResultT = TypeVar("_ResultT")

__all__ = [
    "CALL_HOOKS",
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "CallHook",
    "CallHooks",
    "Hooks",
    "LoadedPlugin",
    "PluginLoadWarning",
    "PluginManager",
    "disabled_names",
    "entry_point_plugins",
    "make_plugin_manager",
    "validate_specs",
    "validate_wires",
]

#: The hooks that answer calls; the owner of a provider implements them.
CALL_HOOKS = (
    "lmux_plug_chat",
    "lmux_plug_stream",
    "lmux_plug_embed",
    # The APIs beyond chat and embeddings (see lmux_plug._api_registry).
    "lmux_plug_create_response",
    "lmux_plug_create_response_stream",
    "lmux_plug_complete",
    "lmux_plug_complete_stream",
    "lmux_plug_transcribe",
    "lmux_plug_transcribe_stream",
)

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


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, counting changes so cached hook callers know when to rebuild.

    :attr:`generation` grows on every ``register`` / ``unregister`` (also when a user
    registers a wrapper plugin on :attr:`lmux_plug.Registry.plugin_manager` directly).
    """

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.generation = 0
        self._impl_attribute = project_name + "_impl"
        self._spec_attribute = project_name + "_spec"

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """Pluggy's answer, without its static attribute lookup for the names of a module.

        pluggy reads every name of a plugin with ``inspect.getattr_static`` and only takes
        functions, static and class methods and bound methods, whose marker attribute
        (``lmux_plug_impl``, set by :data:`~lmux_plug.hookimpl`) holds the options. For a
        module the value is its ``__dict__`` entry, so :func:`_module_marker` answers for
        most names at the cost of a dict lookup. This halves the cost of registering the
        installed plugins.
        """
        found = _module_marker(plugin, name, self._impl_attribute)
        if found is not _ASK_PLUGGY:
            return cast("pluggy.HookimplOpts | None", found)
        return super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> pluggy.HookspecOpts | None:
        """Pluggy's answer, looked up as :meth:`parse_hookimpl_opts` does."""
        found = _module_marker(module_or_class, name, self._spec_attribute)
        if found is not _ASK_PLUGGY:
            return cast("pluggy.HookspecOpts | None", found)
        return super().parse_hookspec_opts(module_or_class, name)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` (see :meth:`pluggy.PluginManager.register`)."""
        try:
            return super().register(plugin, name)
        finally:
            self.generation += 1

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """Unregister ``plugin`` (see :meth:`pluggy.PluginManager.unregister`)."""
        try:
            return super().unregister(plugin, name)
        finally:
            self.generation += 1


_ASK_PLUGGY = object()


def _module_marker(namespace: object, name: str, attribute: str) -> object:
    """The marker options of ``namespace.name`` when ``namespace`` is a module.

    ``None`` for a value pluggy would not take (anything but a function, a static or class
    method or a bound method); :data:`_ASK_PLUGGY` for what pluggy must look at itself
    (those three, and every name of a non-module plugin).
    """
    if type(namespace) is not ModuleType:
        return _ASK_PLUGGY
    value = namespace.__dict__.get(name)
    if isinstance(value, FunctionType):
        opts = getattr(value, attribute, None)
        return opts if isinstance(opts, dict) else None
    if isinstance(value, (MethodType, staticmethod, classmethod)):
        return _ASK_PLUGGY
    return None


def make_plugin_manager() -> PluginManager:
    """A plugin manager with the lmux_plug hook specification."""
    pm = PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


class CallHooks:
    """The call hooks of one owner plugin plus every wrapper, ready to call.

    Built once per owner and plugin set (``pm.subset_hook_caller``: no per-call scan of
    every plugin); a hook the owner does not implement is absent from ``callers``.
    """

    # A plain class, not attrs: each attrs class costs ~3M instructions (about 0.75 ms) to
    # create at `import lmux_plug`, and this one is internal and never compared or printed.
    __slots__ = ("callers", "generation")

    def __init__(self, callers: dict[str, Any], generation: int) -> None:
        self.callers = callers
        self.generation = generation


def _is_wrapper(impl: Any) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


class CallHook(Generic[_RequestT, _ResultT]):
    """One call hook of an owner plugin, typed: ``hook(calls, request, provider)``.

    What :meth:`Hooks.call` does for the named hook, with the request and result types of
    its specification, so the registry's calls stay typed without one method per hook.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, calls: CallHooks, request: _RequestT, provider: ProviderContext) -> _ResultT:
        """Call the hook of the owner in ``calls`` (and its wrappers) with ``request``."""
        result: _ResultT = Hooks.call(calls, self.name, request, provider)
        return result


class Hooks:
    """Typed access to every hook of a plugin manager (tox 4's ``Plugin`` facade).

    One method (or :class:`CallHook`) per hook, each with the hook's real types; the
    registry calls nothing else.
    """

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm
        self._calls: dict[int, CallHooks] = {}

    # -- declarations ---------------------------------------------------------------------

    def _own_results(self, hook_name: str, plugin: object) -> list[Any]:
        caller = getattr(self.pm.hook, hook_name)
        return [impl.function() for impl in caller.get_hookimpls() if impl.plugin is plugin]

    def providers(self, plugin: object) -> tuple[ProviderSpec, ...]:
        """The checked specs ``plugin`` declares (``ValueError`` saying what is wrong)."""
        found: list[ProviderSpec] = []
        for declared in self._own_results("lmux_plug_providers", plugin):
            found.extend(validate_specs(declared))
        return tuple(found)

    def wires(self, plugin: object) -> tuple[str, ...]:
        """The wires ``plugin`` declares it serves (``ValueError`` saying what is wrong)."""
        found: list[str] = []
        for declared in self._own_results("lmux_plug_wires", plugin):
            found.extend(validate_wires(declared))
        return tuple(dict.fromkeys(found))

    def serves_calls(self, plugin: object) -> bool:
        """Whether ``plugin`` answers calls itself (else it only declares data)."""
        return any(
            impl.plugin is plugin and not _is_wrapper(impl)
            for hook_name in CALL_HOOKS
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
        )

    def unknown_hooks(self, plugin: object) -> list[str]:
        """Hooks ``plugin`` implements that no specification declares (misspelt names).

        ``optionalhook=True`` implementations are not counted, as in ``check_pending``.
        """
        unknown: list[str] = []
        for caller in self.pm.get_hookcallers(plugin) or ():
            if caller.has_spec():
                continue
            if any(
                impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()
            ):
                unknown.append(caller.name)
        return sorted(unknown)

    # -- policy hooks ---------------------------------------------------------------------

    def auth(self, provider: ProviderSpec) -> Credentials | None:
        """``lmux_plug_auth``: the first implementation's credentials, or ``None``."""
        found: object = self.pm.hook.lmux_plug_auth(provider=provider)
        return found if isinstance(found, Credentials) else None

    def pricing(self, provider: ProviderSpec, model: str) -> ModelPricing | None:
        """``lmux_plug_pricing``: the first implementation's price, or ``None``."""
        found: object = self.pm.hook.lmux_plug_pricing(provider=provider, model=model)
        return found if isinstance(found, ModelPricing) else None

    # -- call hooks -----------------------------------------------------------------------

    def calls_of(self, owner: object) -> CallHooks:
        """The call hooks of ``owner`` (plus wrappers), rebuilt when plugins changed."""
        calls = self._calls.get(id(owner))
        if calls is None or calls.generation != self.pm.generation:
            callers = {name: self._subset(name, owner) for name in CALL_HOOKS}
            calls = self._calls[id(owner)] = CallHooks(
                {name: caller for name, caller in callers.items() if caller is not None},
                self.pm.generation,
            )
        return calls

    def _subset(self, hook_name: str, owner: object) -> Any:
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        if not any(impl.plugin is owner and not _is_wrapper(impl) for impl in impls):
            return None
        others = {
            impl.plugin for impl in impls if impl.plugin is not owner and not _is_wrapper(impl)
        }
        return self.pm.subset_hook_caller(hook_name, others)

    @staticmethod
    def call(calls: CallHooks, hook_name: str, request: object, provider: ProviderContext) -> Any:
        """Call hook ``hook_name`` of one owner (and its wrappers) with ``request``.

        Returns what the hook returns (an awaitable or an async iterator); raises
        :class:`~lmux_plug.errors.UnsupportedFeatureError` when the owner lacks the hook.
        """
        caller = calls.callers.get(hook_name)
        if caller is None:
            from lmux_plug.errors import UnsupportedFeatureError  # noqa: PLC0415 - rare path

            msg = f"plugin serving {provider.name!r} does not implement {hook_name}"
            raise UnsupportedFeatureError(msg, provider=provider.name)
        return caller(request=request, provider=provider)

    # The card's three call hooks, each typed with its specification's request and result.
    chat: ClassVar[CallHook[ChatRequest, Awaitable[ChatResponse]]] = CallHook("lmux_plug_chat")
    stream: ClassVar[CallHook[ChatRequest, AsyncIterator[ChatChunk]]] = CallHook("lmux_plug_stream")
    embed: ClassVar[CallHook[EmbeddingRequest, Awaitable[EmbeddingResponse]]] = CallHook(
        "lmux_plug_embed"
    )


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
            from lmux_plug._secrets import without_userinfo  # noqa: PLC0415 - error path

            shown = without_userinfo(spec.base_url)
            msg = f"provider {spec.name!r} has base_url {shown!r}, not an http(s) URL"
            raise ValueError(msg)
        specs.append(spec)
    return tuple(specs)


def validate_wires(declared: Any) -> tuple[str, ...]:
    """Check what ``lmux_plug_wires`` returned; raise ``ValueError`` saying what is wrong."""
    if declared is None:
        return ()
    if isinstance(declared, str):
        declared = [declared]
    if not isinstance(declared, Sequence):
        msg = f"lmux_plug_wires must return a list of wire names, got {type(declared).__name__}"
        raise ValueError(msg)  # noqa: TRY004 - reported as a broken plugin, not raised to users
    for wire in declared:
        if not isinstance(wire, str) or not wire or wire != wire.strip():
            msg = f"wire name {wire!r} must be a non-empty string without spaces"
            raise ValueError(msg)
    return tuple(declared)
