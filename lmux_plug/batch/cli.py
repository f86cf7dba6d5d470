"""``lmux-plug batch IN.jsonl -o OUT.jsonl -m MODEL``: a resumable batch run from the shell.

Each input line becomes one output line (see :mod:`lmux_plug.batch.jsonl` for both
formats). Output is in completion order by default, each line carrying the input's
``line`` number and ``id``; ``--ordered`` writes in input order instead (a reorder buffer
bounded by ``--concurrency``). Either way a run killed at any moment, even with
``kill -9``, is resumed by running the same command again: lines already in the output are
skipped, a torn last line is cut, and the output ends with exactly one line per input.

``--retry-failed`` runs again only the lines whose outcome so far is an error (a success
is never run twice). ``--shard K/N`` takes every N-th line starting at the K-th, so N
processes or hosts (each with its own output file) share one input; with
``--state redis://...`` their ``--rpm`` / ``--tpm`` limits are one shared budget.

Before the first call the run checks the model's route, its capabilities (chat, embed,
structured output) and its credentials: a run that cannot succeed stops with exit 2
instead of writing one error line per input.

Also ``python -m lmux_plug.batch.cli ...``. Exit codes: 0 every item succeeded (or
``--allow-failures``), 1 some items failed, 2 bad usage or configuration, 3 the output
could not be written (disk full: the file stays consistent and resumable), 130 / 143
interrupted by SIGINT / SIGTERM (the output stays resumable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from array import array
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO

import attrs

from lmux_plug._aclose import aclose_if_any
from lmux_plug._secrets import without_userinfo
from lmux_plug.errors import LmuxError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from collections.abc import Callable
    from collections.abc import Iterator
    from collections.abc import Sequence

    from lmux_plug.batch.jsonl import OutputFile
    from lmux_plug.batch.progress import Progress
    from lmux_plug.batch.structured import StructuredOutput
    from lmux_plug.registry import Registry

__all__ = ["batch_main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OUTPUT = 0, 1, 2, 3
_EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def build_parser() -> argparse.ArgumentParser:
    """Build the ``batch`` argument parser (documented in ``docs/batch.md``)."""
    parser = argparse.ArgumentParser(
        prog="lmux-plug batch",
        description="Run every line of a JSONL file through a model; resumable.",
    )
    parser.add_argument(
        "input",
        type=Path,
        help="The input JSONL file: one prompt, message list or object per line.",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="The output JSONL file (appended to; a rerun resumes it).",
    )
    parser.add_argument(
        "-m",
        "--model",
        required=True,
        help="The model: 'provider/model', or a logical model of --config.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="lmux.toml",
        help="A router config (logical models, retries, fallbacks); found from the working "
        "directory up when -m names no provider.",
    )
    parser.add_argument(
        "-c", "--concurrency", type=int, default=64, help="The most calls in flight (default 64)."
    )
    parser.add_argument("--rpm", type=float, help="The most requests per minute (client side).")
    parser.add_argument("--tpm", type=float, help="The most tokens per minute (client side).")
    parser.add_argument("--system", help="A system message put before every item's messages.")
    parser.add_argument(
        "--response-format",
        type=Path,
        metavar="SCHEMA.json",
        help="A JSON schema file; parsed answers go to 'output_parsed'.",
    )
    parser.add_argument("--embed", action="store_true", help="Embed the texts instead of chatting.")
    parser.add_argument(
        "--endpoint",
        choices=("chat", "responses", "completions", "transcription"),
        default="chat",
        help="The API each line goes to (default chat; docs/batch.md describes the others).",
    )
    parser.add_argument(
        "--micro-batch-size", type=int, default=64, help="Texts per embedding call (default 64)."
    )
    parser.add_argument("--temperature", type=float, help="Sampling temperature, 0 to 2.")
    parser.add_argument("--max-tokens", type=int, help="The most tokens an answer may have.")
    parser.add_argument("--top-p", type=float, help="Nucleus sampling mass, 0 to 1.")
    parser.add_argument("--seed", type=int, help="A seed, for providers that support one.")
    parser.add_argument(
        "--ordered",
        action="store_true",
        help="Write the output in input order (default: completion order).",
    )
    parser.add_argument(
        "--allow-failures", action="store_true", help="Exit with 0 even when items failed."
    )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="Declare an OpenAI-compatible endpoint as prefix NAME (repeatable).",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="The environment variable holding the key of --provider endpoints.",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="Seconds between plain progress lines when stderr is not a terminal (default 10).",
    )
    parser.add_argument("--no-progress", action="store_true", help="Show no progress.")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="Run again the lines whose outcome in the output is an error (successes are kept).",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="Process only every N-th line from line K (1 <= K <= N), for N workers.",
    )
    parser.add_argument(
        "--state",
        metavar="redis://HOST:PORT/DB",
        help="Share the --rpm / --tpm budget with other processes through this Redis.",
    )
    parser.add_argument(
        "--fsync-interval",
        type=float,
        default=1.0,
        help="Seconds between fsyncs of the output (default 1).",
    )
    return parser


# --------------------------------------------------------------------------- set-up


class UsageError(Exception):
    """Bad arguments or configuration: reported in one line, exit code 2."""


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n)) if sep else (0, 0)
    except ValueError:
        shard = (0, 0)
    if not 1 <= shard[0] <= shard[1]:
        msg = f"--shard wants K/N with 1 <= K <= N (e.g. 2/4), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return shard


def _registry(args: argparse.Namespace) -> Registry:
    from lmux_plug._types import ApiKeyAuth  # noqa: PLC0415
    from lmux_plug._types import Capability  # noqa: PLC0415
    from lmux_plug._types import NoAuth  # noqa: PLC0415
    from lmux_plug._types import ProviderSpec  # noqa: PLC0415
    from lmux_plug.registry import Registry  # noqa: PLC0415

    registry = Registry.from_entry_points()
    # A local endpoint serves whatever model it loaded: declare what the wire can carry,
    # which is every capability but audio input and file parts.
    capabilities = frozenset(Capability) - {Capability.AUDIO, Capability.FILES}
    for declaration in args.provider:
        name, sep, url = declaration.partition("=")
        if not sep or not name or not url:
            msg = f"--provider wants NAME=URL, got {declaration!r}"
            raise UsageError(msg)
        auth = ApiKeyAuth(env=(args.api_key_env,)) if args.api_key_env else NoAuth()
        spec = ProviderSpec(
            name=name,
            wire="openai",
            base_url=url,
            auth=auth,
            capabilities=capabilities,
            description="declared on the batch command line",
        )
        try:
            registry.register(name, spec, replace=True)
        except LmuxError as exc:
            msg = f"--provider {name}: {exc}"
            raise UsageError(msg) from None
    return registry


def _client(args: argparse.Namespace, registry: Registry) -> Any:
    """The registry, or a router over it when a router config is given or found."""
    config = args.config
    if config is None and "/" not in args.model:
        from lmux_plug.router import find_config_file  # noqa: PLC0415 - only for logical names

        config = find_config_file()
    if args.state is not None:
        return _shared_client(args, registry, config)
    if config is None:
        _check_model(registry, args.model)
        return registry
    from lmux_plug.router import ConfigValidationError  # noqa: PLC0415
    from lmux_plug.router import Router  # noqa: PLC0415

    try:
        router = Router(registry=registry, config_path=config)
    except LmuxError as exc:
        found = args.config is None  # found on the way up, not named: a gateway-only file
        if found and isinstance(exc, ConfigValidationError) and exc.declares_no_models:
            _check_model(registry, args.model)
            return registry
        msg = f"router config {str(config)!r}: {exc}"
        raise UsageError(msg) from None
    if "/" in args.model:
        _check_model(registry, args.model)
    elif args.model not in router.config.models:
        known = ", ".join(sorted(router.config.models)) or "none"
        msg = f"model {args.model!r} is not a logical model of {str(config)!r} (known: {known})"
        raise UsageError(msg)
    return router


def _check_model(registry: Registry, model: str) -> None:
    """``model`` is a ``provider/model`` the registry routes, else a did-you-mean or hint."""
    from lmux_plug._cli_models import model_problem  # noqa: PLC0415

    problem = model_problem(registry, model, set())  # names the model itself
    if problem is not None:
        raise UsageError(problem)
    try:
        registry.resolve(model)
    except LmuxError as exc:
        msg = f"model {model!r}: {exc}"
        raise UsageError(msg) from None


def _shared_client(args: argparse.Namespace, registry: Registry, config: Path | None) -> Any:
    """A router whose limits live in Redis (``--state``), shared by every shard."""
    from lmux_plug.router import Deployment  # noqa: PLC0415
    from lmux_plug.router import LogicalModel  # noqa: PLC0415
    from lmux_plug.router import Router  # noqa: PLC0415
    from lmux_plug.router.state import RedisBackend  # noqa: PLC0415

    if not str(args.state).startswith(("redis://", "rediss://", "unix://")):
        msg = f"--state wants a redis:// URL, got {without_userinfo(args.state)!r}"
        raise UsageError(msg)
    if config is None or "/" in args.model:
        _check_model(registry, args.model)
    _ping_state(args.state)
    try:
        # Any: RedisBackend satisfies the router's StateBackend protocol at run time.
        backend: Any = RedisBackend(args.state, prefix="lmux-batch")
        if config is not None and "/" not in args.model:
            router = Router(registry=registry, config_path=config, backend=backend)
            if args.model not in router.config.models:
                msg = f"model {args.model!r} is not a logical model of {str(config)!r}"
                raise UsageError(msg)
            return router
        registry.resolve(args.model)
        # One deployment named after the model; --rpm / --tpm are applied by the batch's
        # RateLimitedClient over this router's backend (see _run), so not again here.
        model = LogicalModel(args.model, [Deployment(args.model)])
        return Router({args.model: model}, registry=registry, backend=backend)
    except LmuxError as exc:
        msg = f"--state {without_userinfo(args.state)}: {exc}"
        raise UsageError(msg) from None


def _ping_state(url: str) -> None:
    """Reach the ``--state`` Redis once before the run.

    The router degrades to per-process limits when its backend fails mid-run (a call is
    not lost for a Redis hiccup), so an address that is wrong from the start would go
    unnoticed while every shard spends the whole budget on its own. Refused here instead.
    """
    try:
        import redis  # noqa: PLC0415 - optional dependency, only with --state
    except ImportError:
        msg = "--state needs redis-py: pip install 'lmux-plug[redis]'"
        raise UsageError(msg) from None
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        msg = f"--state {without_userinfo(url)}: cannot reach Redis ({type(exc).__name__}: {exc})"
        raise UsageError(msg) from None
    finally:
        client.close()


def _preflight(args: argparse.Namespace, registry: Registry, client: Any) -> None:
    """Check parameters, route, capabilities and credentials before the first call."""
    from lmux_plug._types import Capability  # noqa: PLC0415
    from lmux_plug.params import InvalidParameterError  # noqa: PLC0415
    from lmux_plug.params import check_chat_params  # noqa: PLC0415

    if not args.embed:
        # A bad --temperature fails the run here (exit 2), not every line one by one.
        try:
            check_chat_params(_params(args))
        except InvalidParameterError as exc:
            msg = f"cannot run: --{exc.param.replace('_', '-')}: {exc.message.partition(': ')[2]}"
            raise UsageError(msg) from None

    by_endpoint = {
        "responses": Capability.RESPONSES,
        "completions": Capability.COMPLETIONS,
        "transcription": Capability.TRANSCRIPTION,
    }
    endpoint = getattr(args, "endpoint", "chat")
    needed = [Capability.EMBED] if args.embed else [by_endpoint.get(endpoint, Capability.CHAT)]
    if args.response_format is not None:
        needed.append(Capability.JSON_SCHEMA)
    targets = [args.model]
    config = getattr(client, "config", None)
    if config is not None and args.model in config.models:
        targets = [d.model for d in config.models[args.model].deployments]
        keyed = {d.model for d in config.models[args.model].deployments if d.api_keys}
    else:
        keyed = set()
    problems = []
    for target in targets:
        try:
            registry.check(target, needed, credentials=target not in keyed)
        except LmuxError as exc:
            problems.append(f"{target}: {exc}")
        else:
            return  # one usable deployment is enough: the router routes around the rest
    msg = "cannot run: " + "; ".join(problems)
    raise UsageError(msg)


def _structured(path: Path | None) -> StructuredOutput | None:
    if path is None:
        return None
    from lmux_plug.batch.structured import StructuredOutput  # noqa: PLC0415

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"--response-format {str(path)!r}: {exc}"
        raise UsageError(msg) from None
    try:
        return StructuredOutput.from_spec(schema)
    except LmuxError as exc:
        msg = f"--response-format {str(path)!r}: {exc}"
        raise UsageError(msg) from None


def _params(args: argparse.Namespace) -> dict[str, Any]:
    values = {
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "top_p": args.top_p,
        "seed": args.seed,
    }
    return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------- bookkeeping


@attrs.frozen
class _Done:
    """One finished input line, encoded and ready to append."""

    data: bytes
    ok: bool = attrs.field(kw_only=True)
    key: str = attrs.field(kw_only=True)
    latency: float = attrs.field(kw_only=True)
    tokens: int = attrs.field(default=0, kw_only=True)
    cost: Decimal | None = attrs.field(default=None, kw_only=True)


class _Stats:
    """Counts, cost, latencies and the per-provider split of this run."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.tokens = 0
        self.cost = Decimal(0)
        self.latencies = array("d")  # 8 bytes per item: 8 MB for a million
        self.split: dict[str, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])

    def add(self, done: _Done) -> None:
        entry = self.split[done.key]
        if done.ok:
            self.ok += 1
            entry[0] += 1
        else:
            self.failed += 1
            entry[1] += 1
        self.tokens += done.tokens
        if done.cost is not None:
            self.cost += done.cost
            entry[2] += done.cost
        self.latencies.append(done.latency)

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def _error_key(exc: BaseException, fallback: str) -> str:
    provider = getattr(exc, "provider", None)
    model = getattr(exc, "model", None)
    return f"{provider}/{model}" if provider and model else fallback


# --------------------------------------------------------------------------- the work


def _chat_worker(
    client: Any,
    args: argparse.Namespace,
    structured: StructuredOutput | None,
) -> Callable[[int, tuple[int, bytes]], Any]:
    from lmux_plug.batch.engine import _as_messages  # noqa: PLC0415
    from lmux_plug.batch.jsonl import encode_record  # noqa: PLC0415
    from lmux_plug.batch.jsonl import error_record  # noqa: PLC0415
    from lmux_plug.batch.jsonl import parse_chat_input  # noqa: PLC0415
    from lmux_plug.batch.jsonl import peek_id  # noqa: PLC0415

    params = _params(args)
    if structured is not None:
        params["response_format"] = structured.response_format
    model, system, achat, clock = args.model, args.system, client.achat, time.perf_counter

    async def one(_index: int, entry: tuple[int, bytes]) -> _Done:
        line, raw = entry
        item_id: Any = None
        start = clock()
        try:
            item_id, prompt = parse_chat_input(raw, line)
            response = await achat(model, _as_messages(prompt, system), **params)
            latency = clock() - start
            fields: dict[str, Any] = {"id": item_id, "output": response.content}
            if structured is not None:
                fields["output_parsed"] = structured.parse(
                    response.content,
                    provider=response.provider,
                    model=response.model,
                    request_id=response.request_id,
                )
        except Exception as exc:  # noqa: BLE001 - every failure becomes that line's error
            latency = clock() - start
            if item_id is None:  # the line itself was unusable: keep its id as given
                item_id = peek_id(raw, line)
            data = encode_record(line, error_record(exc), {"id": item_id, "output": None})
            return _Done(data, ok=False, key=_error_key(exc, model), latency=latency)
        usage = response.usage
        cost = response.cost.total if response.cost is not None else None
        fields["finish_reason"] = response.finish_reason.value
        fields["provider"] = response.provider
        fields["model"] = response.model
        fields["usage"] = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        fields["cost"] = float(cost) if cost is not None else None
        fields["latency_ms"] = round(latency * 1000, 3)
        return _Done(
            encode_record(line, None, fields),
            ok=True,
            key=f"{response.provider}/{response.model}",
            latency=latency,
            tokens=usage.total_tokens,
            cost=cost,
        )

    return one


def _endpoint_worker(client: Any, args: argparse.Namespace) -> Callable[[int, Any], Any]:
    """The worker of ``--endpoint responses|completions|transcription``.

    ``client`` is the registry, a router (these APIs go to its registry) or either behind
    ``--rpm`` / ``--tpm`` (a :class:`RateLimitedClient`, whose limiter each line goes through).
    """
    from lmux_plug.batch.endpoints import endpoint_call  # noqa: PLC0415
    from lmux_plug.batch.endpoints import parse_endpoint_input  # noqa: PLC0415
    from lmux_plug.batch.jsonl import encode_record  # noqa: PLC0415
    from lmux_plug.batch.jsonl import error_record  # noqa: PLC0415
    from lmux_plug.batch.jsonl import peek_id  # noqa: PLC0415
    from lmux_plug.batch.limits import RateLimitedClient  # noqa: PLC0415
    from lmux_plug.resilience.tokens import estimate_tokens  # noqa: PLC0415

    limiter = client.limiter if isinstance(client, RateLimitedClient) else None
    inner = client.client if isinstance(client, RateLimitedClient) else client
    registry = getattr(inner, "registry", inner)
    endpoint, model, clock = args.endpoint, args.model, time.perf_counter
    params = _params(args) if endpoint == "completions" else {}
    if endpoint == "responses" and args.max_tokens is not None:
        params["max_output_tokens"] = args.max_tokens
    if endpoint == "responses" and args.temperature is not None:
        params["temperature"] = args.temperature
    call = endpoint_call(registry, endpoint, model, params, args.input.resolve().parent)

    async def one(_index: int, entry: tuple[int, bytes]) -> _Done:
        line, raw = entry
        item_id: Any = peek_id(raw, line)  # as given, even when the line is unusable
        start = clock()
        try:
            item_id, value, options = parse_endpoint_input(endpoint, raw, line)
            if limiter is None:
                fields = {"id": item_id, **await call(value, options)}
            else:
                # Audio has no token estimate before the call; its usage settles the bucket.
                text = value if endpoint != "transcription" else ""
                estimate = estimate_tokens(text, args.max_tokens) if limiter.counts_tokens else 0
                async with limiter.slot(estimate) as permit:
                    fields = {"id": item_id, **await call(value, options)}
                    used = fields["usage"]
                    permit.used_tokens = used["input_tokens"] + used["output_tokens"]
        except Exception as exc:  # noqa: BLE001 - every failure becomes that line's error
            data = encode_record(line, error_record(exc), {"id": item_id, "output": None})
            return _Done(data, ok=False, key=_error_key(exc, model), latency=clock() - start)
        cost = fields["cost"]
        usage = fields["usage"]
        return _Done(
            encode_record(line, None, fields),
            ok=True,
            key=f"{fields['provider']}/{fields['model']}",
            latency=clock() - start,
            tokens=usage["input_tokens"] + usage["output_tokens"],
            cost=Decimal(str(cost)) if cost is not None else None,
        )

    return one


def _embed_worker(client: Any, args: argparse.Namespace) -> Callable[[int, list[Any]], Any]:
    from lmux_plug.batch.jsonl import encode_record  # noqa: PLC0415
    from lmux_plug.batch.jsonl import error_record  # noqa: PLC0415
    from lmux_plug.batch.jsonl import parse_embed_input  # noqa: PLC0415
    from lmux_plug.batch.jsonl import peek_id  # noqa: PLC0415

    model, aembed, clock = args.model, client.aembed, time.perf_counter

    async def chunk(_index: int, entries: list[tuple[int, bytes]]) -> list[_Done]:
        out: list[_Done] = []
        good: list[tuple[int, Any, str]] = []
        for line, raw in entries:
            try:
                item_id, text = parse_embed_input(raw, line)
            except LmuxError as exc:
                unusable = {"id": peek_id(raw, line), "embedding": None}
                data = encode_record(line, error_record(exc), unusable)
                out.append(_Done(data, ok=False, key=model, latency=0.0))
            else:
                good.append((line, item_id, text))
        if not good:
            return out
        start = clock()
        try:
            response = await aembed(model, [text for _, _, text in good])
            if len(response.embeddings) != len(good):
                msg = f"{len(good)} texts sent but {len(response.embeddings)} vectors returned"
                raise LmuxError(msg, provider=response.provider, model=response.model)  # noqa: TRY301
        except Exception as exc:  # noqa: BLE001 - the whole micro-batch failed
            latency = clock() - start
            for line, item_id, _ in good:
                data = encode_record(line, error_record(exc), {"id": item_id, "embedding": None})
                out.append(_Done(data, ok=False, key=_error_key(exc, model), latency=latency))
            return out
        latency = clock() - start
        cost = response.cost.total if response.cost is not None else None
        key = f"{response.provider}/{response.model}"
        for position, ((line, item_id, _), vector) in enumerate(
            zip(good, response.embeddings, strict=True)
        ):
            fields: dict[str, Any] = {
                "id": item_id,
                "embedding": list(vector),
                "provider": response.provider,
                "model": response.model,
                "latency_ms": round(latency * 1000, 3),
            }
            first = position == 0  # the call's usage and cost go on its first line
            if first:
                fields["usage"] = {"input_tokens": response.usage.input_tokens}
                fields["cost"] = float(cost) if cost is not None else None
            out.append(
                _Done(
                    encode_record(line, None, fields),
                    ok=True,
                    key=key,
                    latency=latency,
                    tokens=response.usage.total_tokens if first else 0,
                    cost=cost if first else None,
                )
            )
        return out

    return chunk


async def _process(
    *,
    args: argparse.Namespace,
    client: Any,
    structured: StructuredOutput | None,
    entries: Iterator[tuple[int, bytes]],
    output: OutputFile,
    stats: _Stats,
    progress: Progress,
) -> None:
    from lmux_plug.batch.engine import _batched  # noqa: PLC0415
    from lmux_plug.batch.engine import amap  # noqa: PLC0415

    stream: AsyncIterator[Any]
    if args.embed:
        stream = amap(
            _embed_worker(client, args),
            _batched(entries, args.micro_batch_size),
            max_parallel_requests=args.concurrency,
            ordered=args.ordered,
        )
    elif args.endpoint != "chat":
        stream = amap(
            _endpoint_worker(client, args),
            entries,
            max_parallel_requests=args.concurrency,
            ordered=args.ordered,
        )
    else:
        stream = amap(
            _chat_worker(client, args, structured),
            entries,
            max_parallel_requests=args.concurrency,
            ordered=args.ordered,
        )
    next_sync = time.monotonic() + args.fsync_interval
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        async for outcome in stream:
            finished = outcome.result if args.embed else [outcome.result]
            for done in finished:
                output.write(done.data)
                stats.add(done)
                progress.update(ok=done.ok, tokens=done.tokens, cost=done.cost)
            if time.monotonic() >= next_sync:
                output.sync()
                next_sync = time.monotonic() + args.fsync_interval


async def _drive(work: Callable[[], Any]) -> str | None:
    """Run ``work()``; SIGINT / SIGTERM cancel it cleanly. Return the signal's name, if any."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work())
    received: list[str] = []

    def on_signal(name: str) -> None:
        received.append(name)
        task.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return received[0] if received else None


# --------------------------------------------------------------------------- reporting


def _done_before(skipped: int, failed: int, *, retry_failed: bool) -> str:
    # With --retry-failed the earlier failures are not among the lines skipped (they were
    # run again), so "4 done (1 of them failed)" would count a failure that is not there.
    if retry_failed:
        return f"  already done before this run: {skipped}; earlier failures run again: {failed}"
    return f"  already done before this run: {skipped} ({failed} of them failed)"


def _summary(
    out: TextIO,
    stats: _Stats,
    output: OutputFile,
    *,
    skipped: int,
    elapsed: float,
    interrupted: str | None,
    retry_failed: bool,
) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f} ms"

    head = f"interrupted by {interrupted}" if interrupted else "done"
    lines = [
        (
            f"batch {head}: {stats.ok + stats.failed} items this run "
            f"({stats.ok} ok, {stats.failed} failed) in {elapsed:.1f} s"
        ),
        _done_before(skipped, output.failed, retry_failed=retry_failed),
        f"  tokens {stats.tokens:,}  cost ${stats.cost:.6f}",
        f"  latency p50 {ms(stats.percentile(0.5))}  p95 {ms(stats.percentile(0.95))}",
    ]
    if output.truncated_bytes:
        lines.append(f"  cut a torn last line of {output.truncated_bytes} bytes from the output")
    if output.duplicates:
        lines.append(f"  warning: {output.duplicates} duplicate lines found in the output")
    if stats.split:
        lines.append("  by provider/model:")
        lines.extend(
            f"    {key:<40} ok {ok:<8} failed {failed:<8} ${cost:.6f}"
            for key, (ok, failed, cost) in sorted(stats.split.items())
        )
    out.write("\n".join(lines) + "\n")
    out.flush()


# --------------------------------------------------------------------------- entry point


def batch_main(argv: Sequence[str] | None = None) -> int:
    """Run ``lmux-plug batch``; return the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    err = sys.stderr
    try:
        return _run(args, err)
    except UsageError as exc:
        err.write(f"lmux-plug batch: {exc}\n")
        return EXIT_USAGE


def _run(args: argparse.Namespace, err: TextIO) -> int:
    from lmux_plug.batch.jsonl import OutputFile  # noqa: PLC0415
    from lmux_plug.batch.jsonl import OutputWriteError  # noqa: PLC0415
    from lmux_plug.batch.jsonl import count_input_lines  # noqa: PLC0415
    from lmux_plug.batch.jsonl import iter_input_lines  # noqa: PLC0415
    from lmux_plug.batch.limits import RateLimitedClient  # noqa: PLC0415
    from lmux_plug.batch.progress import Progress  # noqa: PLC0415

    if args.concurrency < 1 or args.micro_batch_size < 1:
        msg = "--concurrency and --micro-batch-size must be at least 1"
        raise UsageError(msg)
    # Checked with the other usage errors: a negative --rpm was a ConfigurationError
    # traceback, and a negative interval or a zero --rpm was taken without a word.
    for option, value, positive in (
        ("--rpm", args.rpm, True),
        ("--tpm", args.tpm, True),
        ("--progress-interval", args.progress_interval, False),  # 0: at every update
        ("--fsync-interval", args.fsync_interval, False),  # 0: after every line
    ):
        if value is not None and not (value > 0 if positive else value >= 0):  # nan fails too
            msg = f"{option} must be a number {'>' if positive else '>='} 0, got {value:g}"
            raise UsageError(msg)
    if args.embed and (args.response_format or args.system):
        msg = "--embed cannot be combined with --response-format or --system"
        raise UsageError(msg)
    if args.endpoint != "chat" and (args.embed or args.response_format or args.system):
        msg = (
            f"--endpoint {args.endpoint} cannot be combined with --embed, --response-format "
            "or --system"
        )
        raise UsageError(msg)
    if args.endpoint != "chat" and "/" not in args.model:
        msg = f"--endpoint {args.endpoint} needs a 'provider/model' name, got {args.model!r}"
        raise UsageError(msg)
    if not args.input.is_file():
        msg = f"input {str(args.input)!r} is not a file"
        raise UsageError(msg)
    if args.output.resolve() == args.input.resolve():
        msg = "the output must not be the input file"
        raise UsageError(msg)
    structured = _structured(args.response_format)
    registry = _registry(args)
    try:
        base = _client(args, registry)
        _preflight(args, registry, base)
    except UsageError:
        registry.close()
        raise

    try:
        output = OutputFile(args.output).open()
    except LmuxError as exc:
        raise UsageError(str(exc)) from None
    interrupted: str | None = None
    write_error: OutputWriteError | None = None
    try:
        done = output.scan(retry_failed=args.retry_failed)
        total = count_input_lines(args.input, args.shard)
        pending = max(total - done.count, 0)
        client: Any = base
        if args.rpm or args.tpm:
            # With --state the buckets live in the router's shared backend (Redis), under a
            # name every shard of this model uses: one budget for all of them.
            shared = getattr(base, "backend", None) if args.state is not None else None
            client = RateLimitedClient(
                base,
                rpm=args.rpm,
                tpm=args.tpm,
                backend=shared,
                name=f"batch:{args.model}" if shared is not None else "batch",
            )
        progress = Progress(
            pending, stream=err, interval=args.progress_interval, enabled=not args.no_progress
        )
        stats = _Stats()
        started = time.monotonic()
        entries = iter_input_lines(args.input, done, args.shard)
        try:
            interrupted = registry.run_sync(
                lambda: _drive(
                    lambda: _process(
                        args=args,
                        client=client,
                        structured=structured,
                        entries=entries,
                        output=output,
                        stats=stats,
                        progress=progress,
                    )
                )
            )
        except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
            interrupted = "SIGINT"
        except OutputWriteError as exc:
            write_error = exc
        progress.close()
    finally:
        try:
            output.close()
        except OutputWriteError as exc:
            write_error = write_error or exc
        if base is not registry:  # the router's own state (Redis connections, ...)
            with contextlib.suppress(Exception):
                registry.run_sync(lambda: aclose_if_any(base))
        registry.close()
    _summary(
        err,
        stats,
        output,
        skipped=done.count,
        elapsed=time.monotonic() - started,
        interrupted=interrupted,
        retry_failed=args.retry_failed,
    )
    if write_error is not None:
        err.write(
            f"lmux-plug batch: {write_error.message}; stopped after {output.lines_written} "
            "lines this run. The output holds only complete lines: free space, then run the "
            "same command again to resume.\n"
        )
        return EXIT_OUTPUT
    if interrupted:
        return _EXIT_SIGNAL.get(interrupted, EXIT_FAILED)
    # With --retry-failed the earlier failures were run again: this run's outcome counts.
    failed = stats.failed + (0 if args.retry_failed else output.failed)
    return EXIT_FAILED if failed and not args.allow_failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(batch_main())
