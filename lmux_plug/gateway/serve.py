"""``lmux-plug serve``: run the gateway on uvicorn.

::

    lmux-plug serve [--host 127.0.0.1] [--port 4000] [--config lmux.toml]

Without a config it serves every installed provider (``Registry.from_entry_points()``) with
no virtual keys, which is allowed on a loopback address only. The config's ``[gateway]``
table (see ``docs/gateway.md``)::

    [gateway]
    host = "127.0.0.1"
    port = 4000
    max_body_bytes = 1048576
    default_provider = "openai"
    aliases = { fast = "openai/gpt-4o-mini" }

    [gateway.providers.openai]        # provider overrides: key from env, base URL
    api_key_env = "OPENAI_API_KEY"
    base_url = "https://api.openai.com/v1"

    [[gateway.keys]]                  # virtual keys (see lmux_plug.gateway.keys)
    name = "team-a"
    key_env = "TEAM_A_KEY"
    rpm = 60
    budget_usd = "5"

When the file also configures the router (``[router]`` / ``[models.*]``) and
:mod:`lmux_plug.router` is installed, calls go through the router.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lmux_plug.errors import ConfigurationError, LmuxError

__all__ = ["build_app", "load_toml", "run_in_thread", "serve_main"]

_GATEWAY_FIELDS = {
    "host",
    "port",
    "max_body_bytes",
    "body_timeout",
    "default_provider",
    "aliases",
    "providers",
    "keys",
    "allow_open",
    "max_in_flight",
}


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
    unknown = set(table) - _GATEWAY_FIELDS
    if unknown:
        msg = f"[gateway] has unknown fields {sorted(unknown)}"
        raise ConfigurationError(msg)
    return table


def _router_for(config: Mapping[str, Any], registry: Any, path: str | None) -> Any:
    """A router over ``registry`` when the config has ``[router]`` or ``[models]``.

    The router reads the same file and re-reads it when it changes (hot reload).
    """
    if path is None or ("router" not in config and "models" not in config):
        return None
    from lmux_plug.router import Router  # noqa: PLC0415

    return Router(registry=registry, config_path=path)


def build_app(
    config: Mapping[str, Any] | None = None, *, registry: Any = None, path: str | None = None
) -> Any:
    """Build the gateway app for a parsed config (``None``: every provider, no keys).

    ``path`` is the file the config came from; the router (if configured) watches it.
    """
    from lmux_plug.gateway.app import create_app  # noqa: PLC0415 - needs starlette
    from lmux_plug.gateway.keys import KeyStore  # noqa: PLC0415
    from lmux_plug.registry import Registry  # noqa: PLC0415

    config = dict(config or {})
    table = _gateway_table(config)
    if registry is None:
        registry = Registry.from_entry_points()
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
    for name, model in (table.get("aliases") or {}).items():
        registry.alias(name, model)
    keys = KeyStore.from_config(table.get("keys") or ())
    return create_app(
        registry=registry,
        router=_router_for(config, registry, path),
        keys=keys,
        default_provider=str(table.get("default_provider", "openai")),
        max_body_bytes=int(table.get("max_body_bytes", 1 << 20)),
        body_timeout=float(table.get("body_timeout", 30.0)),
        max_in_flight=int(table["max_in_flight"]) if "max_in_flight" in table else None,
        secrets=secrets,
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


def _server(app: Any, log_level: str = "warning") -> Any:
    import uvicorn  # noqa: PLC0415 - optional extra "gateway"

    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="on", timeout_keep_alive=30
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def run_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` on uvicorn in a background thread; yields the base URL (``.../v1``)."""
    sock = _bind(host, port)
    server = _server(app)
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


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lmux-plug serve``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="lmux-plug serve", description="Serve OpenAI's HTTP API over lmux-plug."
    )
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 4000; 0: any)")
    parser.add_argument("--config", default=None, help="TOML config file (lmux.toml)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    parser.add_argument(
        "--allow-open",
        action="store_true",
        help="serve without virtual keys on a non-loopback address (not recommended)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_toml(args.config) if args.config else {}
        table = _gateway_table(config)
        host = args.host or str(table.get("host", "127.0.0.1"))
        port = args.port if args.port is not None else int(table.get("port", 4000))
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
    print(f"lmux-plug gateway on http://{host}:{bound}/v1 ({keys})", flush=True)  # noqa: T201
    server = _server(app, args.log_level)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m lmux_plug.gateway.serve
    raise SystemExit(serve_main())
