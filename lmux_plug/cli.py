"""The ``lmux-plug`` command line.

``plugins``  discovered plugins, their providers, capabilities and status (broken ones too)
``models``   every declared model with capabilities and prices
``chat``     one chat call: ``lmux-plug chat echo/echo-1 "hello" [--stream] [--system ...]``

Other subcommands live in optional parts and are imported only when used: ``certify``
(contract suite), ``batch`` (batch engine), ``serve`` (gateway), ``stats`` (router).

Exit codes: 0 success, 1 the call failed (an ``LmuxError``), 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TextIO

__all__ = ["main"]

# name -> (module, function, what to install if missing)
_EXTERNAL: dict[str, tuple[str, str, str]] = {
    "certify": ("lmux_plug_contract.cli", "certify_main", "lmux-plug-contract"),
    "batch": ("lmux_plug.batch.cli", "batch_main", "lmux-plug"),
    "serve": ("lmux_plug.gateway.serve", "serve_main", "lmux-plug[gateway]"),
    "stats": ("lmux_plug.router.cli", "stats_main", "lmux-plug"),
}


def _per_million(rate: Decimal | None) -> str:
    if rate is None:
        return "-"
    value = (rate * 1_000_000).normalize()
    return f"${value:f}"


def _cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    from lmux_plug.registry import Registry  # noqa: PLC0415

    registry = Registry.from_entry_points()
    specs = {spec.name: spec for spec in registry.providers()}
    for plugin in registry.plugins():
        version = f" {plugin.version}" if plugin.version else ""
        out.write(f"{plugin.name}{version}  ok  {plugin.source}\n")
        for name in plugin.providers:
            spec = specs.get(name)
            if spec is None:
                continue
            caps = ",".join(sorted(c.value for c in spec.capabilities))
            out.write(f"  {name:<16} wire={spec.wire:<10} {caps}\n")
    out.writelines(f"{broken.name}  BROKEN  {broken.reason}\n" for broken in registry.broken)
    return 1 if args.strict and registry.broken else 0


def _cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    from lmux_plug.registry import Registry  # noqa: PLC0415

    registry = Registry.from_entry_points()
    out.write(f"{'model':<48} {'input/1M':>10} {'output/1M':>10}  capabilities\n")
    for spec in registry.providers():
        if args.provider and spec.name != args.provider:
            continue
        for model in spec.models:
            caps = ",".join(sorted(c.value for c in (model.capabilities or spec.capabilities)))
            pricing = model.pricing
            out.write(
                f"{spec.name + '/' + model.id:<48} "
                f"{_per_million(pricing.input if pricing else None):>10} "
                f"{_per_million(pricing.output if pricing else None):>10}  {caps}\n"
            )
    return 0


def _cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from lmux_plug._types import SystemMessage, UserMessage  # noqa: PLC0415
    from lmux_plug.errors import LmuxError  # noqa: PLC0415
    from lmux_plug.registry import Registry  # noqa: PLC0415

    messages: list[SystemMessage | UserMessage] = []
    if args.system:
        messages.append(SystemMessage(args.system))
    messages.append(UserMessage(args.prompt))
    params: dict[str, object] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    with Registry.from_entry_points() as registry:
        try:
            if args.stream:
                usage = cost = None
                for chunk in registry.chat_stream(args.model, messages, **params):
                    out.write(chunk.delta)
                    out.flush()
                    usage = chunk.usage or usage
                    cost = chunk.cost or cost
                out.write("\n")
            else:
                response = registry.chat(args.model, messages, **params)
                out.write((response.content or "") + "\n")
                out.writelines(
                    f"[tool call] {call.name}({call.arguments})\n" for call in response.tool_calls
                )
                usage, cost = response.usage, response.cost
        except LmuxError as exc:
            sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
            return 1
    out.flush()
    if args.verbose and usage is not None:
        total = "unknown" if cost is None else f"${cost.total:f}"
        sys.stderr.write(
            f"[{usage.input_tokens} in / {usage.output_tokens} out tokens, cost {total}]\n"
        )
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmux-plug", description="One API for every LLM provider."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    plugins = sub.add_parser("plugins", help="list discovered plugins and providers")
    plugins.add_argument("--strict", action="store_true", help="exit 1 if a plugin is broken")
    models = sub.add_parser("models", help="list declared models with prices")
    models.add_argument("--provider", help="only this provider")
    chat = sub.add_parser("chat", help="send one chat request")
    chat.add_argument("model", help="provider/model, e.g. echo/echo-1")
    chat.add_argument("prompt")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--stream", action="store_true", help="print tokens as they arrive")
    chat.add_argument("--max-tokens", type=int)
    chat.add_argument("--temperature", type=float)
    chat.add_argument("-v", "--verbose", action="store_true", help="print usage and cost")
    for name in _EXTERNAL:
        sub.add_parser(name, help=f"see `lmux-plug {name} --help`", add_help=False)
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "plugins": _cmd_plugins,
    "models": _cmd_models,
    "chat": _cmd_chat,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _EXTERNAL:
        module_name, function, package = _EXTERNAL[arguments[0]]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            sys.stderr.write(f"lmux-plug {arguments[0]}: needs {package} ({exc})\n")
            return 2
        return int(getattr(module, function)(arguments[1:]))
    args = _build_parser().parse_args(arguments)
    return _COMMANDS[args.command](args, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
