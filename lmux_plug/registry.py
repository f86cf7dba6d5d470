"""The registry: ``"provider/model"`` strings to the plugin that serves them.

A request travels: ``Registry.achat`` → :meth:`Registry.resolve` (prefix → route) →
capability check (before any I/O) → credentials (``lmux_plug_auth``) → the owning plugin's
``lmux_plug_chat`` plus wrapper implementations → cost (``lmux_plug_pricing``).

A registry is an instance with its own plugin manager: tests and embedding apps build
their own (``Registry(plugins=[...])``); :meth:`Registry.from_entry_points` discovers the
installed plugins; :func:`lmux_plug.default_registry` backs the module-level functions.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import AsyncIterator
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import attrs

from lmux_plug._aclose import aclose_if_any
from lmux_plug._api_registry import ApiMethods
from lmux_plug._api_registry import _PluginErrors
from lmux_plug._api_registry import take_credentials
from lmux_plug._declarations import Capability
from lmux_plug._declarations import Credentials
from lmux_plug._declarations import ProviderSpec
from lmux_plug._declarations import Secret
from lmux_plug._defaults import CoreDefaults
from lmux_plug._evolve import evolve
from lmux_plug._plugins import BrokenPlugin
from lmux_plug._plugins import CallHooks
from lmux_plug._plugins import Hooks
from lmux_plug._plugins import LoadedPlugin
from lmux_plug._plugins import PluginLoadWarning
from lmux_plug._plugins import disabled_names
from lmux_plug._plugins import entry_point_plugins
from lmux_plug._plugins import make_plugin_manager
from lmux_plug._plugins import validate_specs
from lmux_plug._pricing import ModelPricing
from lmux_plug._pricing import calculate_cost
from lmux_plug._secrets import scrubbed_logger
from lmux_plug._sync import LoopRunner
from lmux_plug._wires import WireOwners
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import InvalidRequestError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import UnsupportedFeatureError
from lmux_plug.params import check_chat_params
from lmux_plug.params import check_embed_inputs
from lmux_plug.params import check_embed_params

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from lmux_plug import _context as _provider_context
    from lmux_plug import _types
    from lmux_plug import convert
    from lmux_plug._context import ProviderContext
    from lmux_plug._param_dicts import ChatCallParams
    from lmux_plug._param_dicts import ChatParams
    from lmux_plug._param_dicts import EmbedCallParams
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatRequest
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import EmbeddingRequest
    from lmux_plug._types import EmbeddingResponse
    from lmux_plug.convert import MessagesLike
    from lmux_plug.http import AsyncTransport
else:
    from lmux_plug.lazy import LazyModule

    # The call types, the provider context, the converters and the HTTP transport load on
    # the first call, not at import or plugin discovery (see lmux_plug.lazy).
    _types = LazyModule("lmux_plug._types")
    convert = LazyModule("lmux_plug.convert")
    _provider_context = LazyModule("lmux_plug._context")

__all__ = ["Registry", "Route", "split_model"]


_A = TypeVar("_A", bound=attrs.AttrsInstance)  # an answer type
_NO_CREDENTIALS = Credentials()  # frozen, so one instance serves every keyless call
_TRANSPORT_LOCK = threading.Lock()


def split_model(model: str) -> tuple[str, str]:
    """Split ``"prefix/model"`` at the first ``/``; the model id may contain more ``/``.

    Raises :class:`InvalidRequestError` for anything that is not a non-empty prefix and a
    non-empty model id.
    """
    value: object = model  # untyped callers may pass anything
    if not isinstance(value, str):
        msg = f"model must be a 'provider/model' string, got {type(value).__name__}"
        raise InvalidRequestError(msg)
    prefix, sep, model_id = model.partition("/")
    if not sep or not prefix or not model_id or prefix != prefix.strip():
        msg = f"model {model!r} is not of the form 'provider/model' (e.g. 'openai/gpt-4o')"
        raise InvalidRequestError(msg, model=model)
    return prefix, model_id


@attrs.define(eq=False)
class Route:
    """How calls for one prefix are served: the spec, its owning plugin and overrides."""

    spec: ProviderSpec
    owner: object
    api_key: Secret | None = None
    base_url: str | None = None
    # The plugin whose call hooks answer this route (the owner, or the owner of the
    # spec's wire for a data-only spec); found on first use, cleared when plugins change.
    server: object | None = None
    # Both per model id, filled on first use: a route's spec never changes (``register``
    # builds a new Route) and both are cleared whenever plugins change.
    pricing: dict[str, ModelPricing | None] = attrs.field(factory=dict)
    capabilities: dict[str, frozenset[Capability]] = attrs.field(factory=dict)
    # The credentials last built from an ``api_key=`` argument, reused while callers pass
    # the same key: they depend on that string alone and are immutable.
    given_credentials: Credentials | None = attrs.field(default=None, repr=False)


class Registry(ApiMethods):
    """Routes ``"prefix/model"`` calls to provider plugins; sync and async API.

    Chat, streaming and embeddings are defined here; the Responses API, text completions
    and transcription come from :class:`~lmux_plug._api_registry.ApiMethods`.

    ``plugins`` are registered in order. ``builtins=False`` leaves out the offline
    ``echo`` provider. Use as a context manager (``with`` or ``async with``) or call
    :meth:`close` / :meth:`aclose` to release connections.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        builtins: bool = True,
        transport: AsyncTransport | None = None,
    ) -> None:
        self._pm = make_plugin_manager()
        self._hooks = Hooks(self._pm)
        self._pm.register(CoreDefaults(), name="lmux_plug.core")
        self._routes: dict[str, Route] = {}
        self._aliases: dict[str, str] = {}
        self._wires = WireOwners()
        self._loaded: dict[str, LoadedPlugin] = {}
        self.broken: list[BrokenPlugin] = []
        self._transport: AsyncTransport | None = transport
        self._runner = LoopRunner()
        if builtins:
            from lmux_plug import echo  # noqa: PLC0415 - tiny module, only when wanted

            self.add_plugin(echo, name="echo", source="lmux_plug.echo (built in)")
        for plugin in plugins:
            self.add_plugin(plugin)

    @classmethod
    def from_entry_points(
        cls,
        *,
        disable: Iterable[str] = (),
        builtins: bool = True,
        transport: AsyncTransport | None = None,
    ) -> Registry:
        """A registry with every installed plugin of the ``lmux_plug`` entry-point group.

        Plugins named in ``disable`` or in ``LMUX_PLUG_DISABLE=a,b`` are not loaded.
        Broken plugins are listed in :attr:`broken` and do not stop the others.
        """
        registry = cls(builtins=builtins, transport=transport)
        found, broken = entry_point_plugins(disabled_names(disable))
        registry.broken.extend(broken)
        for name, plugin, source, version in found:
            registry.add_plugin(plugin, name=name, source=source, version=version)
        registry.check_pending()
        return registry

    def check_pending(self) -> None:
        """Report hook implementations no specification declares (``pm.check_pending()``).

        :meth:`add_plugin` already skips a plugin with a misspelt hook; this catches
        plugins registered on :attr:`plugin_manager` directly. Each offender is recorded in
        :attr:`broken` naming the hook, unregistered, and warned about.
        """
        import pluggy  # noqa: PLC0415 - already imported by the manager; only its error type

        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError:
            for plugin in list(self._pm.get_plugins()):
                unknown = self._hooks.unknown_hooks(plugin)
                if unknown:
                    name = self._pm.get_name(plugin) or repr(plugin)
                    self._pm.unregister(plugin)
                    self._broken(name, _unknown_hooks_reason(unknown), "")

    def __repr__(self) -> str:
        return f"Registry(providers={sorted(self._routes)})"

    @property
    def transport(self) -> AsyncTransport:
        """The HTTP transport every call goes through (the core ``Transport`` by default).

        The default one is built on first use: ``lmux_plug.http`` is not needed to import
        the package or discover plugins.
        """
        transport = self._transport
        if transport is None:
            from lmux_plug.http import Transport  # noqa: PLC0415 - once per registry

            with _TRANSPORT_LOCK:  # two threads' first calls must share one transport
                transport = self._transport
                if transport is None:
                    transport = self._transport = Transport()
        return transport

    @transport.setter
    def transport(self, transport: AsyncTransport) -> None:
        self._transport = transport

    # -- plugins and providers ----------------------------------------------------------

    def add_plugin(
        self,
        plugin: object,
        *,
        name: str | None = None,
        source: str = "",
        version: str | None = None,
    ) -> LoadedPlugin | None:
        """Register a plugin and the providers it declares.

        Returns ``None`` (and records a :class:`BrokenPlugin`, with a warning) if it
        cannot be registered or declares nonsense; the registry stays usable.
        """
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        try:
            self._pm.register(plugin, name=plugin_name)
        except Exception as exc:  # noqa: BLE001 - a bad plugin must not break the others
            self._broken(plugin_name, f"cannot register: {exc}", source)
            return None
        unknown = self._hooks.unknown_hooks(plugin)
        if unknown:
            self._pm.unregister(plugin)
            self._broken(plugin_name, _unknown_hooks_reason(unknown), source)
            return None
        try:
            declared = self._hooks.providers(plugin)
            wires = self._hooks.wires(plugin)
        except Exception as exc:  # noqa: BLE001
            self._pm.unregister(plugin)
            self._broken(plugin_name, f"bad declaration: {type(exc).__name__}: {exc}", source)
            return None
        conflicts = self._wires.conflicts(wires, plugin)
        if conflicts:
            self._pm.unregister(plugin)
            taken = ", ".join(f"{wire!r} (owned by plugin {owner!r})" for wire, owner in conflicts)
            reason = (
                f"wire conflict: plugin {plugin_name!r} declares wires already served: {taken}; "
                "disable one of the two plugins with LMUX_PLUG_DISABLE"
            )
            self._broken(plugin_name, reason, source)
            return None
        self._wires.declare(wires, plugin_name, plugin)
        self._infer_wires(plugin, plugin_name, declared, wires)
        for spec in declared:
            if spec.name in self._routes:
                warnings.warn(
                    f"plugin {plugin_name!r} declares provider {spec.name!r} again; "
                    "the first declaration is kept",
                    PluginLoadWarning,
                    stacklevel=2,
                )
                continue
            self._routes[spec.name] = Route(spec, plugin)
        self._invalidate()
        loaded = LoadedPlugin(plugin_name, tuple(s.name for s in declared), source, version)
        self._loaded[plugin_name] = loaded
        return loaded

    def _infer_wires(
        self,
        plugin: object,
        name: str,
        declared: Sequence[ProviderSpec],
        wires: tuple[str, ...],
    ) -> None:
        """A plugin that serves calls without declaring wires serves its specs' wires."""
        if not self._hooks.serves_calls(plugin):
            return
        for wire in dict.fromkeys(spec.wire for spec in declared):
            if wire in wires:
                continue
            # Several plugins may each serve their own specs of one wire (two mock
            # providers): only a data-only spec of that wire is then ambiguous, and
            # refused when registered (see WireOwners.owner).
            self._wires.infer(wire, name, plugin)

    def _broken(self, name: str, reason: str, source: str) -> None:
        self.broken.append(BrokenPlugin(name, reason, source))
        warnings.warn(
            f"lmux_plug plugin {name!r} skipped: {reason}", PluginLoadWarning, stacklevel=3
        )

    def register(
        self,
        prefix: str,
        provider: ProviderSpec | object,
        *,
        replace: bool = False,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> None:
        """Serve ``prefix/...`` with ``provider``.

        ``provider`` is a :class:`ProviderSpec` (data; served by the plugin that speaks its
        ``wire``), a plugin object that declares one provider (such as
        :class:`lmux_plug.testing.MockProvider`), or an lmux-style provider instance
        (implementing :mod:`lmux_plug.protocols`), which is wrapped as a plugin. Registering
        a taken prefix raises :class:`ConfigurationError` unless ``replace=True``.
        """
        if not prefix or "/" in prefix:
            msg = f"prefix {prefix!r} must be non-empty and contain no '/'"
            raise ConfigurationError(msg)
        if prefix in self._routes and not replace:
            msg = f"prefix {prefix!r} is already registered; pass replace=True to replace it"
            raise ConfigurationError(msg, provider=prefix)
        if isinstance(provider, ProviderSpec):
            spec = validate_specs(provider)[0]
            owner = self._wires.owner(provider.wire, provider=prefix)
            if owner is None:
                msg = (
                    f"no installed plugin speaks wire {provider.wire!r}; "
                    f"known wires: {self._wires.known()}"
                )
                raise ConfigurationError(msg, provider=prefix)
        else:
            from lmux_plug._lmux_adapter import LmuxProviderPlugin  # noqa: PLC0415 - rare; keeps import fast
            from lmux_plug._lmux_adapter import is_lmux_provider  # noqa: PLC0415 - rare; keeps import fast

            if is_lmux_provider(provider):
                # An lmux-style provider instance: wrapped, so it is served like a plugin.
                provider = LmuxProviderPlugin(prefix, provider)
            spec, owner = self._spec_of_plugin(provider)
        self._routes[prefix] = Route(
            attrs.evolve(spec, name=prefix),
            owner,
            api_key=Secret(api_key) if api_key else None,
            base_url=base_url,
        )
        self._invalidate()

    def _spec_of_plugin(self, plugin: object) -> tuple[ProviderSpec, object]:
        if not self._pm.is_registered(plugin):
            self._pm.register(plugin)
        specs = self._hooks.providers(plugin)
        if len(specs) != 1:
            msg = f"{plugin!r} must declare exactly one provider to be registered under a prefix"
            raise ConfigurationError(msg)
        name = self._pm.get_name(plugin) or repr(plugin)
        self._infer_wires(plugin, name, specs, self._hooks.wires(plugin))
        return specs[0], plugin

    def configure(
        self, prefix: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> None:
        """Set the key and/or base URL used for every call to ``prefix``."""
        route = self._route(prefix, prefix)
        if api_key is not None:
            route.api_key = Secret(api_key)
        if base_url is not None:
            route.base_url = base_url

    def alias(self, name: str, model: str) -> None:
        """Let ``name`` (without ``/``) stand for ``"prefix/model"``."""
        split_model(model)
        self._aliases[name] = model

    def providers(self) -> list[ProviderSpec]:
        """Every registered provider spec, sorted by prefix."""
        return [self._routes[name].spec for name in sorted(self._routes)]

    def plugins(self) -> list[LoadedPlugin]:
        """The plugins that loaded, in load order."""
        return list(self._loaded.values())

    def provider(self, prefix: str) -> ProviderSpec:
        """The spec registered under ``prefix`` (``NotFoundError`` if none)."""
        return self._route(prefix, prefix).spec

    def secrets_to_scrub(self) -> tuple[str, ...]:
        """Every key this registry may send: configured per prefix or read from declared env vars.

        For components that must keep keys out of what they show (the gateway's error
        bodies, logs); never print what this returns.
        """
        import os  # noqa: PLC0415

        found: list[str] = []
        for route in self._routes.values():
            if route.api_key is not None:
                found.append(route.api_key.reveal())
            found.extend(v for name in route.spec.auth.env if (v := os.environ.get(name)))
        return tuple(dict.fromkeys(s for s in found if s))

    def pricing(self, model: str) -> ModelPricing | None:
        """The price of ``"provider/model"`` (or an alias): declared or from a pricing plugin.

        ``None`` when no price is known; an unknown provider prefix raises
        :class:`~lmux_plug.errors.NotFoundError`.
        """
        route, model_id = self.resolve(model)
        return self._pricing(route, model_id)

    @property
    def plugin_manager(self) -> Any:
        """The underlying ``pluggy.PluginManager`` (for wrapper plugins and tracing)."""
        return self._pm

    def _invalidate(self) -> None:
        for route in self._routes.values():
            route.server = None
            route.pricing.clear()
            route.capabilities.clear()

    # -- resolution ---------------------------------------------------------------------

    def _route(self, prefix: str, model: str) -> Route:
        route = self._routes.get(prefix)
        if route is None:
            known = sorted(self._routes)
            import difflib  # noqa: PLC0415 - only for this error's hint; keeps import fast

            from lmux_plug._cli_models import install_hint  # noqa: PLC0415 - error path only

            close = difflib.get_close_matches(prefix, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            # A known plugin that is not installed: the command that installs it, as the
            # CLI says it, rather than a did-you-mean towards another provider.
            missing = install_hint(prefix)
            hint = f": {missing}" if missing else hint
            msg = (
                f"unknown provider prefix {prefix!r} in {model!r}{hint} (known: {', '.join(known)})"
            )
            raise NotFoundError(msg, provider=prefix, model=model)
        return route

    def resolve(self, model: str) -> tuple[Route, str]:
        """Return the route and the provider's model id for ``model`` (or an alias)."""
        if "/" not in model and model in self._aliases:
            model = self._aliases[model]
        try:
            prefix, model_id = split_model(model)
        except InvalidRequestError as exc:
            given: object = model  # untyped callers may pass anything
            if isinstance(given, str) and "/" not in given:  # a bare 'gpt-4o-mini'
                from lmux_plug._cli_models import model_problem  # noqa: PLC0415 - error path

                problem = model_problem(self, model, set())
                if problem is not None and "did you mean" in problem:
                    hint = problem.partition("; ")[2]
                    raise InvalidRequestError(f"{exc.message}; {hint}", model=model) from None
            raise
        return self._route(prefix, model), model_id

    def check(
        self, model: str, needs: Collection[Capability] = (), *, credentials: bool = True
    ) -> None:
        """Raise the typed error a call to ``model`` would meet before any I/O.

        Checks that ``model`` resolves, that its declaration has every capability in
        ``needs``, and (with ``credentials``) that a key is available: what a batch run or
        a deployment check asks before its first call, without sending one.
        """
        route, model_id = self.resolve(model)
        self._check(route, model_id, needs)
        if credentials:
            self._credentials(route, None)

    def _calls(self, route: Route) -> CallHooks:
        """The call hooks that answer ``route``: its server's plus every wrapper."""
        server = route.server
        if server is None:
            server = route.owner
            if not self._hooks.serves_calls(server):
                # A data-only declaration: the plugin that owns its wire serves it.
                server = self._wires.owner(route.spec.wire, provider=route.spec.name) or server
            route.server = server
        return self._hooks.calls_of(server)

    def _check(self, route: Route, model_id: str, needed: Collection[Capability]) -> None:
        capabilities = route.capabilities.get(model_id)
        if capabilities is None:
            # Remembered per model: finding it scans every declared model and alias.
            capabilities = route.capabilities[model_id] = route.spec.capabilities_of(model_id)
        if capabilities.issuperset(needed):  # every call asks this: no list when all is there
            return
        missing = [c.value for c in needed if c not in capabilities]
        if missing:
            msg = (
                f"{route.spec.name}/{model_id} does not support {', '.join(missing)} "
                f"(declared: {', '.join(sorted(c.value for c in capabilities))})"
            )
            raise UnsupportedFeatureError(msg, provider=route.spec.name, model=model_id)

    def _credentials(self, route: Route, api_key: str | None) -> Credentials:
        if api_key is not None:
            last = route.given_credentials
            if last is None or last.api_key is None or last.api_key.reveal() != api_key:
                last = route.given_credentials = Credentials(api_key=Secret(api_key))
            return last
        if route.api_key is not None:
            return Credentials(api_key=route.api_key)
        credentials = self._hooks.auth(route.spec)
        if credentials is not None:
            return credentials
        auth = route.spec.auth
        if auth.optional or not auth.env:
            return _NO_CREDENTIALS
        names = " or ".join(auth.env)
        msg = f"no API key for {route.spec.name!r}: set {names}, or pass api_key="
        raise AuthenticationError(msg, provider=route.spec.name)

    def _context(self, route: Route, api_key: str | None, base_url: str | None) -> ProviderContext:
        spec = route.spec
        if base_url is None:
            base_url = route.base_url
        if base_url is None and spec.base_url_env:
            import os  # noqa: PLC0415

            base_url = os.environ.get(spec.base_url_env) or None
        return _provider_context.ProviderContext(
            spec, base_url or spec.base_url, self.transport, self._credentials(route, api_key)
        )

    def _pricing(self, route: Route, model_id: str) -> ModelPricing | None:
        try:
            return route.pricing[model_id]
        except KeyError:
            pass
        found: ModelPricing | None
        try:
            found = self._hooks.pricing(route.spec, model_id)
        except Exception:  # noqa: BLE001 - a pricing plugin bug must not fail the call; logged
            scrubbed_logger("lmux_plug").warning(
                "pricing hook failed for %s/%s", route.spec.name, model_id, exc_info=True
            )
            found = None
        route.pricing[model_id] = found
        return found

    async def _answer(
        self,
        route: Route,
        model_id: str,
        hook: Any,
        request: ChatRequest | EmbeddingRequest,
        context: ProviderContext,
    ) -> tuple[Any, float]:
        """Await ``hook`` (``Hooks.chat`` or ``Hooks.embed``), map foreign errors, price the answer.

        Returns the answer and its latency apart (see :func:`_timed`): the answer is frozen,
        so the latency is set in the last copy the caller makes, not in one of its own.
        """
        started = time.perf_counter()
        with _PluginErrors(route.spec.name, model_id):
            response = await hook(self._calls(route), request, context)
        if response.cost is None:
            pricing = self._pricing(route, model_id)
            if pricing is not None:
                response = evolve(response, cost=calculate_cost(response.usage, pricing))
        return response, time.perf_counter() - started

    # -- requests -----------------------------------------------------------------------

    def _chat_request(
        self,
        model_id: str,
        messages: MessagesLike,
        params: Mapping[str, Any],
    ) -> tuple[ChatRequest, list[Capability]]:
        typed = convert.to_messages(messages)
        # A call without parameters (the common case) has nothing to parse.
        fields, needed = (
            _chat_fields(check_chat_params(params, model=model_id)) if params else ({}, [])
        )
        for message in typed:
            if isinstance(message, _types.UserMessage) and not isinstance(message.content, str):
                for part in message.content:
                    if isinstance(part, _types.ImageContent):
                        needed.append(Capability.VISION)
                    elif isinstance(part, _types.AudioContent):
                        needed.append(Capability.AUDIO)
                    elif isinstance(part, _types.FileContent):
                        needed.append(Capability.FILES)
        try:
            request = _types.ChatRequest(model=model_id, messages=typed, **fields)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(str(exc), model=model_id) from exc
        return request, needed

    def chat_request(self, model: str, messages: MessagesLike, **params: Any) -> ChatRequest:
        """The :class:`ChatRequest` a chat call with these arguments would send (no I/O).

        ``model`` is used as given (not resolved); bad input raises as the call would.
        """
        request, _ = self._chat_request(model, messages, dict(params))
        return request

    async def achat(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> ChatResponse:
        """Send a chat request and return the answer.

        ``params``: ``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``seed``,
        ``tools``, ``tool_choice``, ``response_format``, ``reasoning_effort``, ``user``,
        ``timeout``, ``extra_headers``, ``extra_body``; other keywords are sent to the
        provider as body fields. A class as ``response_format`` (dataclass, attrs, Pydantic)
        sends its JSON schema and puts the parsed instance on ``response.parsed``.
        """
        api_key, base_url = take_credentials(params)
        response, latency = await self._achat(model, messages, api_key, base_url, params)
        return _timed(response, latency)

    async def achat_timed(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> tuple[ChatResponse, float]:
        """:meth:`achat`, returning the answer's latency beside the answer, not on it.

        For a caller that copies the answer anyway (the router adds its attempts): it sets
        ``latency`` in that copy, so the frozen answer is copied once instead of twice.
        The latency is the answer's own if its plugin set one.
        """
        api_key, base_url = take_credentials(params)
        response, latency = await self._achat(model, messages, api_key, base_url, params)
        return response, latency if response.latency is None else response.latency

    async def _achat(
        self,
        model: str,
        messages: MessagesLike,
        api_key: str | None,
        base_url: str | None,
        params: ChatParams,
    ) -> tuple[ChatResponse, float]:
        """The chat call of :meth:`achat` and :meth:`achat_timed`: the answer, its latency."""
        route, model_id = self.resolve(model)
        structured = None
        if "response_format" in params:
            from lmux_plug._parsed import take_typed_format  # noqa: PLC0415 - rare

            # A dataclass / attrs / Pydantic class: its schema is sent, the answer parsed.
            structured = take_typed_format(params)  # type: ignore[arg-type]
        request, needed = self._chat_request(model_id, messages, params)
        needed.append(Capability.CHAT)
        self._check(route, model_id, needed)
        context = self._context(route, api_key, base_url)
        request, emulated = _emulate_json(route.spec, request)
        response: ChatResponse
        response, latency = await self._answer(route, model_id, Hooks.chat, request, context)
        if emulated is not None:
            from lmux_plug._json_emulation import settle  # noqa: PLC0415

            response = settle(response, emulated)
        if structured is not None:
            from lmux_plug._parsed import with_parsed  # noqa: PLC0415

            response = with_parsed(response, structured)
        return response, latency

    async def achat_stream(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> AsyncIterator[ChatChunk]:
        """Stream a chat answer as :class:`ChatChunk` items.

        Errors before the first chunk (bad input, capability, credentials) are raised when
        the iteration starts. Cost is added to the chunk that carries usage.
        """
        api_key, base_url = take_credentials(params)
        route, model_id = self.resolve(model)
        request, needed = self._chat_request(model_id, messages, params)
        needed.append(Capability.STREAM)
        self._check(route, model_id, needed)
        context = self._context(route, api_key, base_url)
        request, emulated = _emulate_json(route.spec, request)
        pricing = self._pricing(route, model_id)
        started = time.perf_counter()
        first: float | None = None
        with _PluginErrors(route.spec.name, model_id):
            iterator = Hooks.stream(self._calls(route), request, context)
            if emulated is not None:
                iterator = _json_stream(iterator, emulated, route.spec.name, model_id)
            try:
                async for chunk in iterator:
                    if first is None and (
                        chunk.delta or chunk.tool_call_deltas or chunk.thinking_delta
                    ):
                        first = time.perf_counter() - started
                    if chunk.usage is not None and chunk.cost is None and pricing is not None:
                        chunk = evolve(chunk, cost=calculate_cost(chunk.usage, pricing))  # noqa: PLW2901
                    if chunk.finish_reason is not None or chunk.usage is not None:
                        chunk = evolve(  # noqa: PLW2901 - the terminal chunk, timed
                            chunk, latency=time.perf_counter() - started, time_to_first_token=first
                        )
                    yield chunk
            finally:
                await aclose_if_any(iterator)

    async def aembed(
        self,
        model: str,
        inputs: str | Sequence[str],
        **params: Unpack[EmbedCallParams],
    ) -> EmbeddingResponse:
        """Embed one text or a list of texts; one vector per input, in order.

        ``params``: ``dimensions``, ``encoding_format``, ``input_type``, ``timeout``,
        ``extra_headers``, ``extra_body`` (checked before any I/O, see :mod:`lmux_plug.params`).
        ``input_type`` travels as the ``input_type`` body field (an ``extra_body`` one wins).
        """
        api_key, base_url = take_credentials(params)
        route, model_id = self.resolve(model)
        texts = check_embed_inputs(inputs, model=model_id)
        checked = check_embed_params(params, model=model_id) if params else {}
        self._check(route, model_id, (Capability.EMBED,))
        request = _types.EmbeddingRequest(
            model=model_id,
            inputs=texts,
            dimensions=checked.get("dimensions"),
            encoding_format=checked.get("encoding_format"),
            timeout=checked.get("timeout"),
            extra=_embed_extra(checked),
            extra_headers=checked.get("extra_headers") or {},
        )
        context = self._context(route, api_key, base_url)
        from lmux_plug._embed_split import embed_in_parts  # noqa: PLC0415
        from lmux_plug._embed_split import max_embed_inputs  # noqa: PLC0415

        async def answer(sent: _types.EmbeddingRequest) -> EmbeddingResponse:
            response: EmbeddingResponse
            response, latency = await self._answer(route, model_id, Hooks.embed, sent, context)
            return _timed(response, latency)

        limit = max_embed_inputs(route.spec, model_id)
        if limit is not None and len(texts) > limit:
            # More texts than one request may carry: sent in parts, answers joined in order.
            return await embed_in_parts(
                lambda part: answer(attrs.evolve(request, inputs=part)), texts, limit
            )
        return await answer(request)

    # -- sync twins ---------------------------------------------------------------------

    def chat(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> ChatResponse:
        """Sync :meth:`achat`; works in scripts, threads and under a running loop."""
        return self._runner.run(lambda: self.achat(model, messages, **params))

    def chat_stream(
        self, model: str, messages: MessagesLike, **params: Unpack[ChatCallParams]
    ) -> Iterator[ChatChunk]:
        """Sync :meth:`achat_stream`; leaving the loop early releases the connection."""
        return self._runner.iterate(lambda: self.achat_stream(model, messages, **params))

    def embed(
        self, model: str, inputs: str | Sequence[str], **params: Unpack[EmbedCallParams]
    ) -> EmbeddingResponse:
        """Sync :meth:`aembed`."""
        return self._runner.run(lambda: self.aembed(model, inputs, **params))

    def run_sync(self, make: Any) -> Any:
        """Run ``make()`` (a coroutine factory) on this registry's sync loops."""
        return self._runner.run(make)

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the connections opened on the running loop."""
        if self._transport is not None:  # none was made: nothing was opened
            await self._transport.aclose()

    def close(self) -> None:
        """Release every connection the sync API opened (and close its loops)."""
        self._runner.close(self.aclose)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Registry:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


_CHAT_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "tool_choice",
    "reasoning_effort",
    "user",
    "timeout",
    "extra_headers",
)


def _chat_fields(params: dict[str, Any]) -> tuple[dict[str, Any], list[Capability]]:
    """The :class:`ChatRequest` fields for the keywords of a chat call (``params`` is consumed).

    Also returns the capabilities the parameters need (tools, JSON output, reasoning).
    """
    needed: list[Capability] = []
    tools = params.pop("tools", None)
    if tools:
        tools = tuple(convert.to_tool(t) for t in tools)
        needed.append(Capability.TOOLS)
    response_format = convert.to_response_format(params.pop("response_format", None))
    if isinstance(response_format, _types.JsonObjectResponseFormat):
        needed.append(Capability.JSON_OBJECT)
    elif isinstance(response_format, _types.JsonSchemaResponseFormat):
        needed.append(Capability.JSON_SCHEMA)
    if params.get("reasoning_effort") is not None:
        needed.append(Capability.REASONING)
    stop = params.pop("stop", None)
    if isinstance(stop, str):
        stop = (stop,)
    elif stop is not None:
        stop = tuple(stop)
    extra = dict(params.pop("extra_body", None) or {})
    extra.update(params.pop("extra", None) or {})
    known = {k: params.pop(k) for k in _CHAT_PARAMS if k in params}
    extra.update(params)  # anything else is a provider-specific body field
    fields = {
        "stop": stop,
        "tools": tools or None,
        "tool_choice": convert.to_tool_choice(known.pop("tool_choice", None)),
        "response_format": response_format,
        "extra": extra,
        **known,
    }
    return fields, needed


def _timed(answer: _A, latency: float) -> _A:
    """``answer`` with its ``latency`` (a copy: answers are frozen), unless it has one."""
    if getattr(answer, "latency", 0) is None:
        return evolve(answer, latency=latency)
    return answer


def _emulate_json(spec: ProviderSpec, request: ChatRequest) -> tuple[ChatRequest, Any]:
    """The request to send, and the JSON format the core emulates for it (None: native)."""
    if request.response_format is None or not spec.options.get("emulate_json"):
        return request, None
    from lmux_plug import _json_emulation  # noqa: PLC0415 - only for providers that opt in

    emulated = _json_emulation.emulated_format(spec, request)
    if emulated is None:
        return request, None
    return _json_emulation.prepare(request, emulated), emulated


async def _json_stream(
    chunks: AsyncIterator[ChatChunk], fmt: Any, provider: str, model: str
) -> AsyncIterator[ChatChunk]:
    """``chunks`` with their text cut down to the emulated JSON answer, checked at the end."""
    from lmux_plug._json_emulation import JsonStreamFilter  # noqa: PLC0415

    text = JsonStreamFilter(fmt, provider=provider, model=model)
    tool_called = False
    try:
        async for chunk in chunks:
            tool_called = tool_called or bool(chunk.tool_call_deltas)
            delta = text.feed(chunk.delta) if chunk.delta else ""
            if chunk.finish_reason is not None:
                delta += text.finish(tool_called=tool_called)
            if delta != chunk.delta:
                chunk = evolve(chunk, delta=delta)  # noqa: PLW2901 - the filtered text
            yield chunk
    finally:
        await aclose_if_any(chunks)


def _unknown_hooks_reason(names: list[str]) -> str:
    return (
        f"implements unknown hook(s) {', '.join(names)} (misspelt? known hooks start "
        "with 'lmux_plug_' and are listed in lmux_plug.hookspecs)"
    )


def _embed_extra(checked: Mapping[str, Any]) -> Mapping[str, Any]:
    """The body fields of an embedding call: ``extra_body`` plus ``input_type``."""
    extra = checked.get("extra_body") or {}
    input_type = checked.get("input_type")
    if input_type is None:
        return extra
    return {"input_type": input_type, **extra}
