"""The ``lmux-plug`` command line.

``plugins``  discovered plugins, their providers, capabilities, key status (broken ones too)
``models``   every declared model with capabilities and prices
``chat``     one chat call: ``lmux-plug chat echo/echo-1 "hello" [--stream] [--system ...]``

Other subcommands live in optional parts and are imported only when used: ``certify``
(contract suite), ``batch`` (batch engine), ``serve`` (gateway), ``stats`` (router).
``plugins``, ``models`` and ``chat`` print JSON with ``--json``.

Exit codes: 0 success, 1 the call failed (an ``LmuxError``), 2 bad usage (including a bad
parameter, an unknown model or a missing optional part).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple
from typing import TextIO

if TYPE_CHECKING:
    from lmux_plug._types import ChatChunk
    from lmux_plug._types import ChatResponse
    from lmux_plug._types import ProviderSpec
    from lmux_plug.registry import Registry

__all__ = ["main"]


class _External(NamedTuple):
    """A subcommand that lives in an optional part, and what it needs installed."""

    module: str
    function: str
    package: str
    needs: tuple[str, ...]
    summary: str
    clone: str = ""  # the install command in a clone of lmux-plug, where there is no index


_EXTERNAL: dict[str, _External] = {
    "certify": _External(
        "lmux_plug_contract.cli",
        "certify_main",
        "lmux-plug-contract",
        ("lmux_plug_contract",),
        "Certify a provider plugin with the contract test suite.",
        "pip install -e contract_tests",
    ),
    "batch": _External(
        "lmux_plug.batch.cli",
        "batch_main",
        "lmux-plug",
        (),
        "Run every line of a JSONL file through a model, resumably.",
    ),
    "serve": _External(
        "lmux_plug.gateway.serve",
        "serve_main",
        "'lmux-plug[gateway]'",
        ("starlette", "uvicorn"),
        "Serve an OpenAI-compatible HTTP gateway.",
        "pip install -e '.[gateway]'",
    ),
    "stats": _External(
        "lmux_plug.router.cli",
        "stats_main",
        "lmux-plug",
        (),
        "Show the router statistics of a running gateway.",
    ),
}
# Exit code of a process whose reader went away (128 + SIGPIPE), as shell tools report.
_EXIT_BROKEN_PIPE = 141


def _per_million(rate: Decimal | None) -> str:
    if rate is None:
        return "-"
    value = (rate * 1_000_000).normalize()
    return f"${value:f}"


def _per_million_json(rate: Decimal | None) -> str | None:
    return None if rate is None else f"{(rate * 1_000_000).normalize():f}"


def _key_status(spec: ProviderSpec) -> dict[str, Any]:
    """Whether the provider's key is set (never the key itself)."""
    env = list(spec.auth.env)
    if not env:
        return {"needed": False, "set": None, "env": []}
    found = next((name for name in env if os.environ.get(name)), None)
    return {
        "needed": not spec.auth.optional,
        "set": found is not None,
        "env": env,
        "from": found,
    }


def _key_text(status: dict[str, Any]) -> str:
    if not status["env"]:
        return "key: not needed"
    if status["set"]:
        return f"key: set ({status['from']})"
    names = " or ".join(status["env"])
    return f"key: optional ({names})" if not status["needed"] else f"key: MISSING (set {names})"


def _registry() -> Registry:
    from lmux_plug.registry import Registry  # noqa: PLC0415 - keeps `--help` fast

    return Registry.from_entry_points()


def _cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    registry = _registry()
    specs = {spec.name: spec for spec in registry.providers()}
    if args.json:
        document = {
            "plugins": [
                {
                    "name": plugin.name,
                    "version": plugin.version,
                    "source": plugin.source,
                    "status": "ok",
                    "providers": [
                        {
                            "name": name,
                            "wire": specs[name].wire,
                            "capabilities": sorted(c.value for c in specs[name].capabilities),
                            "key": _key_status(specs[name]),
                        }
                        for name in plugin.providers
                        if name in specs
                    ],
                }
                for plugin in registry.plugins()
            ],
            "broken": [
                {"name": b.name, "reason": b.reason, "source": b.source} for b in registry.broken
            ],
        }
        out.write(json.dumps(document, indent=2) + "\n")
        return 1 if args.strict and registry.broken else 0
    for plugin in registry.plugins():
        version = f" {plugin.version}" if plugin.version else ""
        out.write(f"{plugin.name}{version}  ok  {plugin.source}\n")
        for name in plugin.providers:
            spec = specs.get(name)
            if spec is None:
                continue
            caps = ",".join(sorted(c.value for c in spec.capabilities))
            key = _key_text(_key_status(spec))
            out.write(f"  {name:<16} wire={spec.wire:<10} {caps}  {key}\n")
    out.writelines(f"{broken.name}  BROKEN  {broken.reason}\n" for broken in registry.broken)
    return 1 if args.strict and registry.broken else 0


def _cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    registry = _registry()
    specs = [s for s in registry.providers() if not args.provider or s.name == args.provider]
    if args.provider and not specs:
        sys.stderr.write(f"lmux-plug models: {_unknown_provider(registry, args.provider)}\n")
        return 2
    rows = [(spec, model) for spec in specs for model in spec.models]
    if args.json:
        document = [
            {
                "id": f"{spec.name}/{model.id}",
                "provider": spec.name,
                "capabilities": sorted(c.value for c in (model.capabilities or spec.capabilities)),
                "input_per_million": _per_million_json(
                    model.pricing.input if model.pricing else None
                ),
                "output_per_million": _per_million_json(
                    model.pricing.output if model.pricing else None
                ),
                "context_window": model.context_window,
                "aliases": list(model.aliases),
            }
            for spec, model in rows
        ]
        out.write(json.dumps(document, indent=2) + "\n")
        return 0
    out.write(f"{'model':<48} {'input/1M':>10} {'output/1M':>10}  capabilities\n")
    for spec, model in rows:
        caps = ",".join(sorted(c.value for c in (model.capabilities or spec.capabilities)))
        pricing = model.pricing
        out.write(
            f"{spec.name + '/' + model.id:<48} "
            f"{_per_million(pricing.input if pricing else None):>10} "
            f"{_per_million(pricing.output if pricing else None):>10}  {caps}\n"
        )
    return 0


def _unknown_provider(registry: Registry, prefix: str) -> str:
    from lmux_plug._cli_models import install_hint  # noqa: PLC0415

    hint = install_hint(prefix)
    if hint is not None:
        return hint
    from lmux_plug.params import did_you_mean  # noqa: PLC0415

    names = [spec.name for spec in registry.providers()]
    return f"unknown provider {prefix!r}{did_you_mean(prefix, names)} (known: {', '.join(names)})"


def _read_prompt(prompt: str | None) -> str | None:
    """The prompt argument, or stdin for ``-`` (or when no prompt is given and stdin is piped)."""
    if prompt == "-":
        return sys.stdin.read().removesuffix("\n") or None
    if prompt is None and sys.stdin is not None and not sys.stdin.isatty():
        return sys.stdin.read().removesuffix("\n") or None
    return prompt


def _chat_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("max_tokens", "temperature", "top_p", "seed"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    return params


def _response_json(response: ChatResponse) -> dict[str, Any]:
    usage = response.usage
    return {
        "model": response.model,
        "provider": response.provider,
        "content": response.content,
        "tool_calls": [
            {"id": call.id, "name": call.name, "arguments": call.arguments}
            for call in response.tool_calls
        ],
        "finish_reason": response.finish_reason.value,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        "cost": None if response.cost is None else f"{response.cost.total:f}",
        "latency_s": getattr(response, "latency", None),
    }


def _chunk_json(chunk: ChatChunk) -> dict[str, Any]:
    document: dict[str, Any] = {"delta": chunk.delta}
    if chunk.finish_reason is not None:
        document["finish_reason"] = chunk.finish_reason.value
    if chunk.usage is not None:
        document["usage"] = {
            "input_tokens": chunk.usage.input_tokens,
            "output_tokens": chunk.usage.output_tokens,
        }
    if chunk.cost is not None:
        document["cost"] = f"{chunk.cost.total:f}"
    return document


def _logical_client(args: argparse.Namespace, registry: Registry) -> Any:
    """A router over the config when ``model`` names no provider and a config is found.

    So ``lmux-plug chat fast "..."`` calls the logical model of ``lmux.toml`` (with its
    preset), as ``lmux-plug batch -m fast`` does; else the registry itself.
    """
    from pathlib import Path  # noqa: PLC0415

    from lmux_plug.router.config import find_config_file  # noqa: PLC0415

    if "/" in args.model and not args.config:
        return registry
    config = Path(args.config) if args.config else find_config_file()
    if config is None:
        return registry
    from lmux_plug.router import ConfigValidationError  # noqa: PLC0415 - with a config
    from lmux_plug.router import Router  # noqa: PLC0415 - with a config

    try:
        return Router(registry=registry, config_path=config)
    except ConfigValidationError as exc:
        # A file found on the way up that declares no models (a gateway-only lmux.toml)
        # is not a router config: the model is then a plain name, with its did-you-mean.
        if args.config or not exc.declares_no_models:
            raise
        return registry


def _cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from lmux_plug._cli_models import model_problem  # noqa: PLC0415
    from lmux_plug._cli_models import model_suggestion  # noqa: PLC0415
    from lmux_plug._types import SystemMessage  # noqa: PLC0415
    from lmux_plug._types import UserMessage  # noqa: PLC0415
    from lmux_plug.errors import InvalidRequestError  # noqa: PLC0415
    from lmux_plug.errors import LmuxError  # noqa: PLC0415

    prompt = _read_prompt(args.prompt)
    if not prompt:  # none, or an empty one (an empty file on stdin): nothing to ask
        # Say which: "give a prompt" to someone who piped an empty file sends them astray.
        piped = args.prompt is None and sys.stdin is not None and not sys.stdin.isatty()
        if args.prompt == "-" or piped:
            why = "the prompt read from stdin is empty"
        else:
            why = "no prompt given" if args.prompt is None else "the prompt is empty"
        sys.stderr.write(f"lmux-plug chat: {why}; give a prompt, or '-' to read it from stdin\n")
        return 2
    messages: list[SystemMessage | UserMessage] = []
    if args.system:
        messages.append(SystemMessage(args.system))
    messages.append(UserMessage(prompt))
    params = _chat_params(args)
    with _registry() as registry:
        try:
            client = _logical_client(args, registry)
        except LmuxError as exc:  # the config file is invalid: every problem, file and path
            sys.stderr.write(f"lmux-plug chat: {exc}\n")
            return 2
        logical = set(client.config.models) if client is not registry else set()
        problem = model_problem(registry, args.model, logical)
        if problem is not None:
            sys.stderr.write(f"error: {problem}\n")
            return 2
        suggestion = model_suggestion(registry, args.model)
        if suggestion is not None:
            sys.stderr.write(f"note: {suggestion}\n")
        try:
            if args.stream:
                usage = cost = None
                for chunk in client.chat_stream(args.model, messages, **params):
                    if args.json:
                        out.write(json.dumps(_chunk_json(chunk)) + "\n")
                    else:
                        out.write(chunk.delta)
                    out.flush()
                    usage = chunk.usage or usage
                    cost = chunk.cost or cost
                if not args.json:
                    out.write("\n")
            else:
                response = client.chat(args.model, messages, **params)
                if args.json:
                    out.write(json.dumps(_response_json(response), indent=2) + "\n")
                else:
                    out.write((response.content or "") + "\n")
                    out.writelines(
                        f"[tool call] {call.name}({call.arguments})\n"
                        for call in response.tool_calls
                    )
                usage, cost = response.usage, response.cost
        except LmuxError as exc:
            sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
            checked_before_io = isinstance(exc, InvalidRequestError) and exc.status_code is None
            return 2 if checked_before_io else 1
    out.flush()
    if args.verbose and usage is not None:
        total = "unknown" if cost is None else f"${cost.total:f}"
        sys.stderr.write(
            f"[{usage.input_tokens} in / {usage.output_tokens} out tokens, cost {total}]\n"
        )
    return 0


def _version() -> str:
    import lmux_plug  # noqa: PLC0415

    return f"lmux-plug {lmux_plug.__version__}"


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` opens with the line the command list shows."""
    return sub.add_parser(name, help=summary, description=summary)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmux-plug",
        description="One API for every LLM provider: chat, list models and plugins, "
        "run batches, serve a gateway.",
        epilog="Exit codes: 0 success, 1 the call failed, 2 bad usage.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = _command(
        sub, "plugins", "List the discovered plugins, their providers and whether each key is set."
    )
    plugins.add_argument(
        "--strict", action="store_true", help="Exit with 1 if a plugin failed to load."
    )
    plugins.add_argument("--json", action="store_true", help="Print JSON instead of text.")
    models = _command(sub, "models", "List the declared models with their prices and capabilities.")
    models.add_argument("--provider", help="Only list the models of this provider.")
    models.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    chat = _command(sub, "chat", "Send one chat request and print the answer.")
    chat.add_argument(
        "model",
        help="The model to call, as provider/model (e.g. echo/echo-1), or a logical model of "
        "the router config (its deployments, retries and preset).",
    )
    chat.add_argument(
        "--config",
        metavar="lmux.toml",
        help="The router config of logical models (default: lmux.toml, or a pyproject.toml "
        "with [tool.lmux_plug], found from the working directory up).",
    )
    chat.add_argument(
        "prompt", nargs="?", help="The prompt; '-' (or a pipe and no prompt) reads stdin."
    )
    chat.add_argument("--system", help="A system prompt sent before the prompt.")
    chat.add_argument("--stream", action="store_true", help="Print tokens as they arrive.")
    chat.add_argument("--max-tokens", type=int, help="The most tokens the answer may have.")
    chat.add_argument("--temperature", type=float, help="Sampling temperature, 0 to 2.")
    chat.add_argument("--top-p", type=float, help="Nucleus sampling mass, 0 to 1.")
    chat.add_argument("--seed", type=int, help="A seed, for providers that support one.")
    chat.add_argument(
        "--json", action="store_true", help="Print the answer as JSON (JSON lines with --stream)."
    )
    chat.add_argument(
        "-v", "--verbose", action="store_true", help="Print token usage and cost on stderr."
    )
    for name, external in _EXTERNAL.items():
        sub.add_parser(
            name,
            help=f"{external.summary} See 'lmux-plug {name} --help'.",
            add_help=False,
        )
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "plugins": _cmd_plugins,
    "models": _cmd_models,
    "chat": _cmd_chat,
}


def _run_external(name: str, arguments: list[str]) -> int:
    external = _EXTERNAL[name]
    install = f"pip install {external.package}"
    if external.clone:  # as the provider plugins' hint says it (_cli_models.install_hint)
        install += f" (from a clone of lmux-plug: {external.clone})"
    missing = [m for m in external.needs if importlib.util.find_spec(m) is None]
    if missing and {"-h", "--help"} & set(arguments):
        # Help still answers (what the command does, and how to get it), as help does.
        sys.stdout.write(
            f"usage: lmux-plug {name} ...\n\n{external.summary}\n\n"
            f"Not installed: it needs {', '.join(missing)}: {install}\n"
        )
        return 0
    if missing:
        sys.stderr.write(f"lmux-plug {name} needs {', '.join(missing)}: {install}\n")
        return 2
    try:
        module = importlib.import_module(external.module)
    except ModuleNotFoundError as exc:
        sys.stderr.write(f"lmux-plug {name} needs {exc.name}: {install}\n")
        return 2
    return int(getattr(module, external.function)(arguments))


def _run(arguments: list[str]) -> int:
    if arguments and arguments[0] in _EXTERNAL:
        return _run_external(arguments[0], arguments[1:])
    parser = _build_parser()
    args, extra = parser.parse_known_args(arguments)
    # `chat MODEL --stream PROMPT`: argparse settles the optional prompt when it meets
    # MODEL, so a prompt after an option comes back unparsed; it is the prompt.
    loose = extra[0] if len(extra) == 1 else None
    if (
        args.command == "chat"
        and args.prompt is None
        and loose is not None
        and (loose == "-" or not loose.startswith("-"))
    ):
        args.prompt = extra.pop()
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return _COMMANDS[args.command](args, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _run(arguments)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly. Point stdout at devnull so the
        # interpreter's own flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
