"""``ContractSession``: one provider under test, for one clause.

It owns a fresh :class:`~lmux_plug.Registry`, an event loop for the async calls, and
knows where the clause's traffic comes from: a cassette (replay, network blocked), the
local wire server (live synthesised answers, or recording them into a cassette), the real
API (record mode with a real key), or nothing at all for providers that do no HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import warnings
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import Literal
from typing import TypeVar

import attrs
import lmux_plug
import pytest
from lmux_plug import Capability
from lmux_plug import ProviderSpec
from lmux_plug import Registry

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._paths import CallPath
from lmux_plug_contract._paths import Kind
from lmux_plug_contract.cassettes import cassette_header
from lmux_plug_contract.cassettes import make_vcr
from lmux_plug_contract.cassettes import network_guard
from lmux_plug_contract.cassettes import write_header
from lmux_plug_contract.fixtures import FALLBACK_MODEL
from lmux_plug_contract.fixtures import ContractFixtures
from lmux_plug_contract.fixtures import resolve_fixtures
from lmux_plug_contract.server import WireServer
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import WireFormat

__all__ = ["CALL_LIMIT", "DEFAULT_SEED", "ContractSession", "Kind", "RecordMode", "Source"]

T = TypeVar("T")
# The core's public name once it exports one; any warning class until then.
_LOAD_WARNING: type[Warning] = getattr(lmux_plug, "PluginLoadWarning", Warning)
RecordMode = Literal["none", "once", "rewrite", "synthesise"]
RECORD_MODES: tuple[str, ...] = ("none", "once", "rewrite", "synthesise")
#: The Hypothesis seed of every property clause unless ``--lmux-seed`` says otherwise: a
#: verdict must not depend on luck, so certification is reproducible run after run.
DEFAULT_SEED = 20_261_202
CALL_LIMIT = 20.0  # no single contract call may take longer; a hang is a failure, not a stall


@attrs.frozen
class Source:
    """Where a clause's traffic came from; ``synthesised`` means the exact values are known."""

    mode: Literal["replay", "live", "record", "direct"]
    synthesised: bool
    path: Path | None = None


def _is_http(spec: ProviderSpec) -> bool:
    return spec.base_url.startswith(("http://", "https://"))


class ContractSession:
    """Everything a clause needs about one provider; close it after the clause."""

    def __init__(
        self,
        provider: str,
        *,
        plugin: object | None,
        declared_fixtures: object,
        server: WireServer,
        record_mode: str,
        cassette_dir: Path,
        examples: int,
        reset_cassettes: set[Path],
        seed: int = DEFAULT_SEED,
        recordings: Sequence[str | Path] = (),
    ) -> None:
        self.provider = provider
        self._plugin = plugin
        self.server = server
        self.record_mode = record_mode
        self.examples = examples
        self.seed = seed
        self._reset = reset_cassettes
        self.loop = asyncio.new_event_loop()
        self._registries: list[Registry] = []
        self.registry = self.new_registry()
        route, _ = self.registry.resolve(f"{provider}/probe")
        self.spec: ProviderSpec = route.spec
        self.owner = route.owner
        self.fixtures: ContractFixtures = resolve_fixtures(declared_fixtures, self.owner, provider)
        self.wire: WireFormat | None = self.fixtures.wire_format(self.spec)
        self.http = _is_http(self.spec)
        self.cassette_dir = Path(self.fixtures.cassette_dir or cassette_dir)
        self.recordings: tuple[str | Path, ...] = (*self.fixtures.recordings, *recordings)
        self._endpoints: dict[str, str] | None = None
        self.key_in_use: str | None = None
        if self._uses_key() and record_mode in ("none", "synthesise"):
            self.key_in_use = canon.SENTINEL_KEY
            self.registry.configure(provider, api_key=canon.SENTINEL_KEY)

    # -- setup ----------------------------------------------------------------------------

    def new_registry(self) -> Registry:
        """A fresh registry holding the plugin under test (entry points unless one is given)."""
        with warnings.catch_warnings():
            # Other installed plugins may be broken; that is not this provider's clause.
            warnings.simplefilter("ignore", _LOAD_WARNING)
            if self._plugin is not None:
                registry = Registry(plugins=[self._plugin])
            else:
                registry = Registry.from_entry_points()
        known = {spec.name for spec in registry.providers()}
        if self.provider not in known:
            broken = "; ".join(f"{b.name}: {b.reason}" for b in registry.broken)
            registry.close()
            msg = (
                f"provider {self.provider!r} is not declared by any installed lmux_plug plugin "
                f"(known: {', '.join(sorted(known))}){'; broken: ' + broken if broken else ''}"
            )
            raise pytest.UsageError(msg)
        self._registries.append(registry)
        return registry

    def _uses_key(self) -> bool:
        return bool(self.spec.auth.env) or self.spec.auth.header is not None

    def close(self) -> None:
        """Release every connection and close the loop."""
        for registry in self._registries:
            self.loop.run_until_complete(registry.aclose())
            registry.close()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    # -- running --------------------------------------------------------------------------

    def run(self, awaitable: Awaitable[T], limit: float = CALL_LIMIT) -> T:
        """Run ``awaitable`` on the session loop, failing the clause if it outlives ``limit``."""

        async def bounded() -> T:
            # Not asyncio.wait_for: lmux_plug.TimeoutError is a builtin TimeoutError, so a
            # plugin's (correct) timeout error must not be mistaken for our own limit.
            task = asyncio.ensure_future(awaitable)
            done, _ = await asyncio.wait({task}, timeout=limit)
            if not done:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise _HangError
            return task.result()

        try:
            return self.loop.run_until_complete(bounded())
        except _HangError:
            pytest.fail(f"the call did not finish within {limit:.0f} s (a hang)")

    def invoke(
        self,
        path: CallPath,
        model: str,
        *,
        registry: Registry | None = None,
        limit: float = CALL_LIMIT,
        timeout: float | None = None,
    ) -> Any:
        """Make the canonical call of ``path`` on ``model`` (a stream comes back drained)."""
        extra = {} if timeout is None else {"timeout": timeout}
        params = self.params(**extra) if path.uses_call_params else extra
        return self.run(path.invoke(registry or self.registry, self.ref(model), params), limit)

    def collect(self, stream: AsyncIterator[T], limit: float = CALL_LIMIT) -> list[T]:
        """Drain an async iterator on the session loop."""

        async def drain() -> list[T]:
            return [item async for item in stream]

        return self.run(drain(), limit)

    def property_settings(self, test: Callable[..., None]) -> Callable[..., None]:
        """Decorate a property: the run's budget and seed, no example database, no shrinking.

        Seeded and database-free, a property explores the same examples on every run, so the
        same plugin gets the same verdict; shrinking is skipped to bound the run time (the
        failing example is still reported).
        """
        from hypothesis import HealthCheck  # noqa: PLC0415
        from hypothesis import Phase  # noqa: PLC0415
        from hypothesis import seed as fixed_seed  # noqa: PLC0415
        from hypothesis import settings  # noqa: PLC0415

        configured = settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            derandomize=False,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        return fixed_seed(self.seed)(configured(test))

    # -- requirements ---------------------------------------------------------------------

    def model(self, *capabilities: Capability) -> str:
        """A model declaring every one of ``capabilities``, or skip: they were not declared."""
        wanted = set(capabilities)
        candidates = [
            self.fixtures.models[c.value] for c in capabilities if c.value in self.fixtures.models
        ]
        candidates.extend(m.id for m in self.spec.models)
        if self.spec.model(FALLBACK_MODEL) is None:
            candidates.append(FALLBACK_MODEL)
        for candidate in candidates:
            if wanted <= self.spec.capabilities_of(candidate):
                return candidate
        missing = [
            c.value
            for c in capabilities
            if not any(c in self.spec.capabilities_of(m) for m in candidates)
        ] or [c.value for c in capabilities]
        pytest.skip(f"not declared: capability {' + '.join(missing)}")

    def ref(self, model: str) -> str:
        """``"provider/model"``."""
        return f"{self.provider}/{model}"

    def params(self, **extra: Any) -> dict[str, Any]:
        """The fixtures' call parameters plus ``extra``."""
        return {**self.fixtures.call_params, **extra}

    def require_http(self) -> None:
        """Skip clauses about HTTP behaviour for providers that do no HTTP."""
        if not self.http:
            pytest.skip(f"not declared: the provider does no HTTP (base_url {self.spec.base_url})")

    def require_wire(self) -> WireFormat:
        """The wire format, or skip: the suite cannot render this provider's traffic."""
        self.require_http()
        if self.wire is None:
            pytest.skip(
                f"no wire format known for wire {self.spec.wire!r}: declare "
                "CONTRACT = ContractFixtures(wire=...) in the plugin module"
            )
        return self.wire

    # -- the local server -----------------------------------------------------------------

    def use_server(
        self, scenario: Callable[[CapturedRequest], Reply], registry: Registry | None = None
    ) -> None:
        """Answer with ``scenario`` and point the provider (in ``registry``) at the server."""
        self.server.serve(scenario)
        (registry or self.registry).configure(
            self.provider, base_url=self.server.base_url_for(self.spec.base_url)
        )

    def canonical(self, kind: Kind) -> Callable[[CapturedRequest], Reply]:
        """The scenario that answers the canonical request of ``kind``."""
        wire = self.require_wire()

        def answer(request: CapturedRequest) -> Reply:
            if kind == "chat" and wire.asks_for_stream(request):
                # What the real API does with a chat call that asks for a stream.
                return wire.reply_stream(wire.stream(request, canon.TEXT_PIECES, canon.USAGE))
            if kind == "chat":
                return wire.chat(request, canon.TEXT, canon.USAGE)
            if kind in ("stream", "tools") and _asks_for_whole_answer(wire, request):
                # What the real API does with a streamed call that does not ask for a stream.
                return wire.chat(request, canon.TEXT, canon.USAGE)
            if kind == "stream":
                return wire.reply_stream(wire.stream(request, canon.TEXT_PIECES, canon.USAGE))
            if kind == "tools":
                rendering = wire.tool_stream(
                    request, canon.TOOL_CALL, canon.TOOL_ARGUMENT_PIECES, canon.USAGE
                )
                return wire.reply_stream(rendering)
            if kind == "tools_chat":
                return wire.tool_chat(request, canon.TOOL_CALL, canon.USAGE)
            inputs = wire.embed_inputs(request)
            vectors = [canon.expected_vector(text, i) for i, text in enumerate(inputs)]
            return wire.embed(request, vectors, embed_usage(inputs))

        return answer

    def endpoints(self) -> dict[str, str]:
        """Path name -> endpoint key the plugin posts to, learnt from one canonical call each."""
        from lmux_plug_contract._paths import PATHS  # noqa: PLC0415
        from lmux_plug_contract._recorded import endpoint_key  # noqa: PLC0415

        if self._endpoints is None:
            found: dict[str, str] = {}
            for path in PATHS:
                if (
                    not any(
                        path.capability in self.spec.capabilities_of(m.id) for m in self.spec.models
                    )
                    and path.capability not in self.spec.capabilities
                ):
                    continue
                self.use_server(self.canonical(path.kind))
                with contextlib.suppress(Exception):
                    self.invoke(path, self.model(path.capability))
                if self.server.requests:
                    found[path.name] = endpoint_key(self.server.requests[-1].path)
            self._endpoints = found
        return self._endpoints

    # -- traffic --------------------------------------------------------------------------

    def cassette(self, clause: str) -> Path:
        """``<cassette_dir>/<provider>/<clause>.yaml``."""
        return self.cassette_dir / self.provider / f"{clause}.yaml"

    @contextlib.contextmanager
    def traffic(self, clause: str, kind: Kind) -> Iterator[Source]:
        """Route the calls made inside to the clause's cassette, the wire server or the API."""
        if not self.http:
            yield Source("direct", synthesised=False)
            return
        path = self.cassette(clause)
        if self.record_mode == "synthesise":
            self.require_wire()
            self._reset_once(path)
            self.use_server(self.canonical(kind))
            with self._vcr().use_cassette(
                str(path), record_mode="new_episodes", allow_playback_repeats=True
            ):
                yield Source("record", synthesised=True, path=path)
            write_header(
                path, {"source": "synthesised", "wire": self.wire.name if self.wire else None}
            )
            return
        if self.record_mode in ("once", "rewrite"):
            present = [name for name in self.spec.auth.env if os.environ.get(name)]
            if self.spec.auth.env and not present and not self.spec.auth.optional:
                pytest.skip(f"record mode needs a real key in {' or '.join(self.spec.auth.env)}")
            if self.record_mode == "rewrite":
                self._reset_once(path)
            with self._vcr().use_cassette(
                str(path),
                record_mode="new_episodes" if self.record_mode == "rewrite" else "once",
                allow_playback_repeats=True,
            ):
                yield Source("record", synthesised=False, path=path)
            if path.exists():
                write_header(path, {"source": "recorded"})
            return
        if path.exists():
            synthesised = cassette_header(path).get("source") == "synthesised"
            with (
                network_guard(allow_loopback=False),
                self._vcr().use_cassette(
                    str(path), record_mode="none", allow_playback_repeats=True
                ),
            ):
                yield Source("replay", synthesised=synthesised, path=path)
            return
        self.use_server(self.canonical(kind))
        yield Source("live", synthesised=True)

    def _vcr(self) -> Any:
        secrets = [canon.SENTINEL_KEY]
        secrets.extend(os.environ.get(name, "") for name in self.spec.auth.env)
        return make_vcr(self.spec, secrets, local_origin=self.server.origin())

    def _reset_once(self, path: Path) -> None:
        if path not in self._reset:
            self._reset.add(path)
            path.unlink(missing_ok=True)
            path.parent.mkdir(parents=True, exist_ok=True)


def _asks_for_whole_answer(wire: WireFormat, request: CapturedRequest) -> bool:
    """Whether a streamed call's request asks, as the API reads it, for a whole answer.

    A built-in wire, or one that says how its API reads the request (``asks_for_stream``),
    decides; for a custom wire that does not, only an explicit ``"stream"`` member that is
    not ``true`` counts, so a custom wire whose streams go to another endpoint is never
    misread.
    """
    from lmux_plug_contract.wires import WIRES  # noqa: PLC0415

    built_in = any(type(wire) is type(known) for known in WIRES.values())
    if built_in or type(wire).asks_for_stream is not WireFormat.asks_for_stream:
        return not wire.asks_for_stream(request)
    body = request.json()
    return isinstance(body, dict) and "stream" in body and body["stream"] is not True


class _HangError(Exception):
    """A contract call outlived its limit."""


def embed_usage(inputs: list[str]) -> Any:
    """The usage synthesised for an embeddings request: one token per word."""
    from lmux_plug import Usage  # noqa: PLC0415

    return Usage(input_tokens=sum(len(text.split()) for text in inputs))
