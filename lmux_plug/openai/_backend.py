"""What the drop-in client calls: a router if there is one, else a registry.

The backend normalises model names (a bare ``"gpt-4o"`` is ``"openai/gpt-4o"``, a logical
name the router or registry knows stays as it is). A router (a
:class:`~lmux_plug.client.RoutingClient`) owns retries and fallbacks: ``fallback_models`` /
``retries`` are passed on. Over a bare registry the resilience engine's retry loop
(:func:`~lmux_plug.resilience.retrying.call_with_retries`) does them: each model is tried
``retries + 1`` times on retryable errors (honouring ``Retry-After``, capped at 30 s), then
the next model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from lmux_plug._aclose import aclose_if_any
from lmux_plug.errors import AuthenticationError
from lmux_plug.errors import LmuxError
from lmux_plug.errors import NotFoundError
from lmux_plug.errors import UnsupportedFeatureError
from lmux_plug.openai._wire import normalize_model
from lmux_plug.params import InvalidParameterError
from lmux_plug.params import check_routing_options
from lmux_plug.resilience.decision import RetryPolicy
from lmux_plug.resilience.retrying import call_with_retries

if TYPE_CHECKING:
    from lmux_plug.client import Client
    from lmux_plug.client import RoutingClient

__all__ = ["Backend", "PrimedStream"]

T = TypeVar("T")

# Over a bare registry: errors that say "this model/provider cannot serve the call" fall
# through to the next model; Retry-After is waited out (capped) before a retry.
_POLICY = RetryPolicy(
    retries=0,
    backoff_base=0.2,
    backoff_max=4.0,
    retry_after_cap=30.0,
    wait_retry_after=True,
    fall_through=(NotFoundError, UnsupportedFeatureError, AuthenticationError),
)


class PrimedStream:
    """An async chunk iterator whose first item is already fetched (errors surfaced early)."""

    def __init__(self, first: Any, rest: AsyncIterator[Any], model: str) -> None:
        self._first: list[Any] = [first]
        self._rest = rest
        self.model = model

    def __aiter__(self) -> PrimedStream:
        return self

    async def __anext__(self) -> Any:
        if self._first:
            return self._first.pop()
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        """Close the underlying stream (releases its connection)."""
        self._first.clear()
        await aclose_if_any(self._rest)


_EMPTY = object()


class Backend:
    """Routes calls of the drop-in client and the gateway to a router or registry."""

    def __init__(
        self,
        *,
        router: RoutingClient | None = None,
        registry: Client | None = None,
        default_provider: str = "openai",
    ) -> None:
        self.router = router
        self._registry = registry if registry is not None else getattr(router, "registry", None)
        self.default_provider = default_provider

    def __repr__(self) -> str:
        return f"Backend(target={self.target!r})"

    @property
    def registry(self) -> Client:
        """The registry: the one given, the router's, else the process-wide default."""
        if self._registry is not None:
            return self._registry
        import lmux_plug  # noqa: PLC0415 - looked up per call: tests swap the default

        return lmux_plug.default_registry()

    @property
    def target(self) -> Client:
        """What calls go to: the router if there is one, else the registry."""
        return self.router if self.router is not None else self.registry

    # -- names ---------------------------------------------------------------------------

    def logical_names(self) -> list[str]:
        """The router's logical model names (``[models.<name>]``), if there is a router."""
        config = getattr(self.router, "config", None)
        models = getattr(config, "models", None)
        return sorted(models) if models else []

    def _knows(self, name: str) -> bool:
        """Whether a name without ``/`` is a logical name of the router or registry."""
        if name in self.logical_names():
            return True
        resolve = getattr(self.registry, "resolve", None)
        if resolve is None:
            return False
        try:
            resolve(name)
        except LmuxError:
            return False
        return True

    def model_name(self, model: object) -> str:
        """The name to call: ``"gpt-4o"`` -> ``"openai/gpt-4o"``; logical names unchanged."""
        if isinstance(model, str) and "/" not in model and model and self._knows(model):
            return model
        return normalize_model(model, self.default_provider)

    def names(self, models: Sequence[object]) -> list[str]:
        """Normalise a fallback list (checked by :func:`check_routing_options`)."""
        return [self.model_name(m) for m in models]

    # -- calls ---------------------------------------------------------------------------

    async def _attempts(
        self, models: list[str], retries: int, call: Callable[[str], Awaitable[T]]
    ) -> tuple[T, str]:
        if len(models) == 1 and not retries:
            return await call(models[0]), models[0]  # a router, or no retries asked
        policy = _POLICY if retries == _POLICY.retries else _with_retries(retries)
        return await call_with_retries(models, call, policy=policy)

    def _plan(self, model: str, params: dict[str, Any]) -> tuple[list[str], int, dict[str, Any]]:
        """The models to try, the retries of each, and options for the router.

        ``fallback_models`` and ``retries`` are taken out of ``params`` (the rest are the
        call's own parameters): every call of this backend takes them the same way.
        """
        fallback_models: Sequence[object] | None = params.pop("fallback_models", None)
        retries: int | None = params.pop("retries", None)
        check_routing_options(model, fallback_models=fallback_models, retries=retries)
        fallbacks = self.names(fallback_models) if fallback_models is not None else []
        if self.router is not None:
            # The router owns retries and fallbacks: one attempt here, options passed on.
            options: dict[str, Any] = {}
            if fallbacks:
                options["fallback_models"] = fallbacks
            if retries is not None:
                options["retries"] = retries
            return [model], 0, options
        self._check_fallbacks(model, fallbacks)
        return [model, *fallbacks], retries or 0, {}

    def _check_fallbacks(self, model: str, fallbacks: list[str]) -> None:
        # As the router checks them: a fallback whose provider is not routable would be
        # met only when needed, as a not-found that moves on (a fallback that never works).
        resolve = getattr(self.registry, "resolve", None)
        if resolve is None:
            return
        for index, name in enumerate(fallbacks):
            try:
                resolve(name)
            except LmuxError as exc:
                message = f"{name!r}: {exc.message}"
                raise InvalidParameterError(
                    f"fallback_models[{index}]", message, model=model
                ) from None

    async def _through(
        self, method: str, model: str, subject: Any, params: dict[str, Any]
    ) -> tuple[Any, str]:
        """``target.<method>(model, subject, **params)`` with the retries and fallbacks asked.

        Returns the answer and the model that gave it.
        """
        models, tries, options = self._plan(model, params)
        call = getattr(self.target, method)
        return await self._attempts(models, tries, lambda m: call(m, subject, **params, **options))

    async def achat(self, model: str, messages: Any, **params: Any) -> tuple[Any, str]:
        """One chat through the target; returns the response and the model that answered."""
        return await self._through("achat", model, messages, params)

    async def achat_stream(self, model: str, messages: Any, **params: Any) -> PrimedStream:
        """Start a stream; retries and fallbacks apply until the first chunk arrives."""
        models, tries, options = self._plan(model, params)

        async def start(name: str) -> PrimedStream:
            iterator = self.target.achat_stream(name, messages, **params, **options)
            first: object
            try:
                first = await iterator.__anext__()
            except StopAsyncIteration:
                first = _EMPTY
            except BaseException:
                await aclose_if_any(iterator)
                raise
            return PrimedStream(first, iterator, name)

        stream, _ = await self._attempts(models, tries, start)
        return stream

    async def aembed(self, model: str, inputs: Any, **params: Any) -> tuple[Any, str]:
        """Embeddings through the target; returns the response and the model used."""
        return await self._through("aembed", model, inputs, params)

    # -- sync ----------------------------------------------------------------------------

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine factory on the target's managed loops (``run_sync``)."""
        return self.target.run_sync(make)

    def models(self) -> list[tuple[str, str]]:
        """Every callable model as ``(id, owned_by)``: declared models, then logical names."""
        out: list[tuple[str, str]] = []
        providers = getattr(self.registry, "providers", None)
        for spec in providers() if providers is not None else ():
            out.extend((f"{spec.name}/{m.id}", spec.name) for m in spec.models)
        out.extend((name, "lmux-plug") for name in self.logical_names())
        return out


def is_empty(item: object) -> bool:
    """Whether a primed stream's first item means "no chunks at all"."""
    return item is _EMPTY


def _with_retries(retries: int) -> RetryPolicy:
    import attrs  # noqa: PLC0415 - attrs is loaded already; keeps the imports above lean

    return attrs.evolve(_POLICY, retries=retries)
