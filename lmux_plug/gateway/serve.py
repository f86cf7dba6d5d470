"""``lmux-plug serve``: run the gateway on uvicorn.

::

    lmux-plug serve [--host 127.0.0.1] [--port 4000] [--config lmux.toml] [--workers N]

Without a config it serves every installed provider (``Registry.from_entry_points()``) with
no virtual keys, which is allowed on a loopback address only. The config's ``[gateway]``
table (see ``docs/gateway.md``)::

    [gateway]
    host = "127.0.0.1"
    port = 4000
    max_body_bytes = 1048576
    default_provider = "openai"
    aliases = { fast = "openai/gpt-4o-mini" }
    state = "redis://127.0.0.1:6379/0"   # shared limits and budgets (default: in memory)
    unpriced_price = { input = "5", output = "15" }   # USD per 1M tokens; default: refuse
    budget_max_tokens = 4096          # output reserved when a budgeted call sets no max
    header_timeout = 10               # seconds to send request headers
    workers = 1                       # processes (more than one needs a redis state)
    metrics_auth = "key"              # /metrics needs a virtual key; "open": no key

    [gateway.providers.openai]        # provider overrides: key from env, base URL
    api_key_env = "OPENAI_API_KEY"
    base_url = "https://api.openai.com/v1"

    [[gateway.keys]]                  # virtual keys (see lmux_plug.gateway.keys)
    name = "team-a"
    key_env = "TEAM_A_KEY"
    rpm = 60
    budget_usd = "5"

When the file also configures the router (``[router]`` / ``[models.*]``) and
:mod:`lmux_plug.router` is installed, calls go through the router, which keeps its limits
and breakers in the same ``state`` backend as the keys.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmux_plug._secrets import without_userinfo
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import LmuxError
from lmux_plug.gateway.config import GATEWAY_FIELDS
from lmux_plug.gateway.config import check_gateway_config
from lmux_plug.gateway.config import check_gateway_references
from lmux_plug.router.config import source_name

__all__ = ["build_app", "load_toml", "run_in_thread", "serve_main"]

_CONFIG_ENV = "LMUX_PLUG_GATEWAY_CONFIG"
_PROTOCOL = "lmux_plug.gateway.protocol:HeaderDeadlineProtocol"


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a :class:`ConfigurationError`."""
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # noqa: PLC0415
    try:
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        msg = f"cannot read config {os.fspath(path)!r}: {exc.strerror}"
        raise ConfigurationError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"config {os.fspath(path)!r} is not valid TOML: {exc}"
        raise ConfigurationError(msg) from exc
    if Path(path).name == "pyproject.toml":  # the config lives under [tool.lmux_plug]
        data = data.get("tool", {}).get("lmux_plug", {})
    return data


def _gateway_table(config: Mapping[str, Any]) -> dict[str, Any]:
    table = config.get("gateway", {})
    if not isinstance(table, dict):
        msg = "[gateway] must be a table"
        raise ConfigurationError(msg)
    unknown = set(table) - GATEWAY_FIELDS
    if unknown:
        msg = f"[gateway] has unknown fields {sorted(unknown)}"
        raise ConfigurationError(msg)
    return table


def _router_for(config: Mapping[str, Any], registry: Any, path: str | None, state: Any) -> Any:
    """A router over ``registry`` when the config has ``[router]`` or ``[models]``.

    The router reads the same file and re-reads it when it changes (hot reload).
    """
    if path is None or ("router" not in config and "models" not in config):
        return None
    from lmux_plug.router import Router  # noqa: PLC0415

    return Router(registry=registry, config_path=path, backend=state)


def _state_for(table: Mapping[str, Any]) -> Any:
    """The state backend of ``[gateway] state``: ``"memory"`` (default) or a Redis URL."""
    from lmux_plug.router.state import MemoryBackend  # noqa: PLC0415
    from lmux_plug.router.state import RedisBackend  # noqa: PLC0415

    url = table.get("state", "memory")
    if url == "memory":
        return MemoryBackend()
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        shown = without_userinfo(url) if isinstance(url, str) else url
        msg = f"[gateway] state must be 'memory' or a redis:// URL, got {shown!r}"
        raise ConfigurationError(msg)
    return RedisBackend(url, prefix=str(table.get("state_prefix", "lmux")))


def _aliases(table: Mapping[str, Any], router: Any) -> dict[str, str]:
    aliases = table.get("aliases") or {}
    if not isinstance(aliases, dict):
        msg = "[gateway] aliases must be a table of name = model"
        raise ConfigurationError(msg)
    logical = set(getattr(getattr(router, "config", None), "models", None) or ())
    for name, model in aliases.items():
        if not isinstance(model, str) or ("/" not in model and model not in logical):
            msg = (
                f"[gateway] aliases.{name} must name a 'provider/model' or a router model, "
                f"got {model!r}"
            )
            raise ConfigurationError(msg)
    return dict(aliases)


def build_app(
    config: Mapping[str, Any] | None = None, *, registry: Any = None, path: str | None = None
) -> Any:
    """Build the gateway app for a parsed config (``None``: every provider, no keys).

    ``path`` is the file the config came from; the router (if configured) watches it.
    """
    from lmux_plug.gateway.app import create_app  # noqa: PLC0415 - needs starlette
    from lmux_plug.gateway.budget import BudgetPolicy  # noqa: PLC0415
    from lmux_plug.gateway.keys import KeyStore  # noqa: PLC0415
    from lmux_plug.registry import Registry  # noqa: PLC0415

    config = dict(config or {})
    source = source_name(path)
    check_gateway_config(config, source)
    table = _gateway_table(config)
    if registry is None:
        registry = Registry.from_entry_points()
    check_gateway_references(config, registry, source)
    secrets: list[str] = []
    providers = table.get("providers", {})
    for prefix, options in providers.items():
        if not isinstance(options, dict) or set(options) - {"api_key_env", "base_url"}:
            msg = f"[gateway.providers.{prefix}] takes api_key_env and base_url"
            raise ConfigurationError(msg)
        api_key = None
        if "api_key_env" in options:
            api_key = os.environ.get(str(options["api_key_env"]))
            if not api_key:
                msg = f"[gateway.providers.{prefix}]: {options['api_key_env']} is not set"
                raise ConfigurationError(msg)
            secrets.append(api_key)
        registry.configure(prefix, api_key=api_key, base_url=options.get("base_url"))
    keys = KeyStore.from_config(table.get("keys") or ())
    policy = BudgetPolicy.from_config(table)
    state = _state_for(table)
    router = _router_for(config, registry, path, state)
    return create_app(
        registry=registry,
        router=router,
        keys=keys,
        state=state,
        policy=policy,
        aliases=_aliases(table, router),
        default_provider=str(table.get("default_provider", "openai")),
        max_body_bytes=int(table.get("max_body_bytes", 1 << 20)),
        body_timeout=float(table.get("body_timeout", 30.0)),
        max_in_flight=int(table["max_in_flight"]) if "max_in_flight" in table else None,
        secrets=secrets,
        metrics_auth=str(table.get("metrics_auth", "key")),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they
    # are TCP, and without it small responses wait ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(
    app: Any, log_level: str, header_timeout: float, protocol: Any = None, **options: Any
) -> Any:
    import uvicorn  # noqa: PLC0415 - optional extra "gateway"

    from lmux_plug.gateway.protocol import protocol_class  # noqa: PLC0415

    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        # Idle keep-alive connections close after this; slow request heads after
        # header_timeout (uvicorn alone never closes a connection that sends nothing).
        timeout_keep_alive=30,
        http=protocol or (_PROTOCOL if "workers" in options else protocol_class(header_timeout)),
        **options,
    )


def _server(
    app: Any, log_level: str = "warning", header_timeout: float = 10.0, protocol: Any = None
) -> Any:
    import uvicorn  # noqa: PLC0415 - optional extra "gateway"

    return uvicorn.Server(_uvicorn_config(app, log_level, header_timeout, protocol))


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn's factory; config from the parent)."""
    path = os.environ.get(_CONFIG_ENV) or None
    config = load_toml(path) if path else {}
    return build_app(config, path=path)


@contextlib.contextmanager
def run_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    header_timeout: float = 10.0,
    protocol: Any = None,
) -> Iterator[str]:
    """Serve ``app`` on uvicorn in a background thread; yields the base URL (``.../v1``).

    ``protocol`` is uvicorn's ``http`` (default: the header-deadline protocol, e.g.
    ``protocol_class(timeout, h11=True)`` for the h11 one).
    """
    sock = _bind(host, port)
    server = _server(app, header_timeout=header_timeout, protocol=protocol)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="lmux-gateway", daemon=True
    )
    thread.start()
    try:
        for _ in range(1000):  # up to 10 s for startup
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not server.started:
            msg = "the gateway did not start"
            raise RuntimeError(msg)
        yield f"http://{host}:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _port(text: str) -> int:
    # Checked here: a port out of range was an OverflowError traceback from bind().
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:  # the TCP port range
        msg = f"expected a port from 0 to 65535, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return port


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lmux-plug serve``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="lmux-plug serve", description="Serve OpenAI's HTTP API over lmux-plug."
    )
    parser.add_argument("--host", default=None, help="The address to bind (default 127.0.0.1).")
    parser.add_argument(
        "--port", type=_port, default=None, help="The port (default 4000; 0: any free one)."
    )
    parser.add_argument("--config", default=None, help="The TOML config file (lmux.toml).")
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=_LOG_LEVELS,
        default="info",
        help="The log level (default info).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Gateway processes sharing the port (default 1; more need a Redis state).",
    )
    parser.add_argument(
        "--allow-open",
        action="store_true",
        help="Serve without virtual keys on a non-loopback address (not recommended).",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_toml(args.config) if args.config else {}
        check_gateway_config(config, source_name(args.config))
        table = _gateway_table(config)
        host = args.host or str(table.get("host", "127.0.0.1"))
        port = args.port if args.port is not None else int(table.get("port", 4000))
        workers = args.workers if args.workers is not None else int(table.get("workers", 1))
        header_timeout = float(table.get("header_timeout", 10.0))
        if workers < 1 or not header_timeout > 0:
            msg = "--workers must be >= 1 and header_timeout > 0"
            raise ConfigurationError(msg)
        app = build_app(config, path=args.config)
    except (LmuxError, ValueError) as exc:
        print(f"lmux-plug serve: {exc}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    gateway = app.state.gateway
    allow_open = args.allow_open or table.get("allow_open")
    if not gateway.keys.enabled and not _is_loopback(host) and not allow_open:
        print(  # noqa: T201
            f"lmux-plug serve: refusing to serve {host} without virtual keys; "
            "configure [[gateway.keys]] or pass --allow-open",
            file=sys.stderr,
        )
        return 2
    limited = any(key.rpm is not None or key.budget is not None for key in gateway.keys)
    if workers > 1 and limited and table.get("state", "memory") == "memory":
        print(  # noqa: T201
            f"lmux-plug serve: {workers} workers with keys' limits or budgets need a shared "
            "state: set [gateway] state = 'redis://...'",
            file=sys.stderr,
        )
        return 2
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"lmux-plug serve: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 1
    bound = sock.getsockname()[1]
    keys = (
        "no virtual keys (open)"
        if not gateway.keys.enabled
        else f"{len(gateway.keys)} virtual keys"
    )
    processes = f", {workers} workers" if workers > 1 else ""
    print(f"lmux-plug gateway on http://{host}:{bound}/v1 ({keys}{processes})", flush=True)  # noqa: T201
    try:
        if workers > 1:
            _run_workers(args, workers, header_timeout, sock)
        else:
            _server(app, args.log_level, header_timeout).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _run_workers(args: argparse.Namespace, workers: int, header_timeout: float, sock: Any) -> None:
    """Serve ``sock`` from ``workers`` processes (uvicorn's supervisor; each builds its app)."""
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    from lmux_plug.gateway.protocol import HEADER_TIMEOUT_ENV  # noqa: PLC0415

    os.environ[_CONFIG_ENV] = str(Path(args.config).resolve()) if args.config else ""
    os.environ.setdefault(HEADER_TIMEOUT_ENV, str(header_timeout))
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its samples here; /metrics in any worker sums them all.
        metrics_dir = tempfile.mkdtemp(prefix="lmux-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    config = _uvicorn_config(
        f"{__name__}:worker_app", args.log_level, header_timeout, factory=True, workers=workers
    )
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - python -m lmux_plug.gateway.serve
    raise SystemExit(serve_main())
