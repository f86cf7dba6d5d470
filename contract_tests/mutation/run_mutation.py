# ruff: noqa: INP001 - a script, not a package module
"""Mutation testing of the codecs against the contract suite alone (cosmic-ray).

``python contract_tests/mutation/run_mutation.py [--targets acme,openai] [--sample N]``
copies the repository to a scratch folder (mutants are written to files there, never to
the work tree), puts the copy first on ``PYTHONPATH`` so the installed editable packages
are shadowed by the mutated sources, and for each target:

1. ``cosmic-ray init`` lists every mutant of the target's codec module;
2. with ``--sample N`` keeps N of them, drawn with ``--seed`` (a bounded, reproducible run
   for CI); with ``--rerun RESULTS.json`` only the survivors of an earlier run (to check a
   sharper clause without running every mutant again);
3. ``cosmic-ray exec`` runs the target's contract-suite command once per mutant (``-x``:
   the first failing clause kills it);
4. reads the results: a mutant is *killed* when the suite fails, *survived* when it passes.

Mutants that do not compile (stillborn: ``*`` -> ``//`` in a signature) are skipped, in
the full run and while drawing a sample, so they count neither as killed nor in the
sample. Mutants inside type annotations are dropped before the run: with ``from __future__ import
annotations`` those are never evaluated, so they are equivalent by construction (the
report counts them). Survivors listed in ``equivalent.toml`` (with the reason each changes
no observable behaviour; an entry with ``mutated`` names the line as the mutant writes it,
for a line whose other mutants of that operator are not equivalent) are left out of the
score. The score is killed / (mutants - equivalent - incompetent); the run exits 1 when a
target scores below ``--threshold`` (default 90).
``--jobs N`` runs N targets at once, each in its own scratch copy (much of a mutant's time
is spent waiting on sockets and timeouts, so two jobs help even on two cores).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CERTIFY = "contract_tests/src/lmux_plug_contract/certify_suite.py"
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--tb=no", "--no-header"]

#: target -> (the codec module mutated, the contract-suite arguments that judge it)
TARGETS: dict[str, tuple[str, list[str]]] = {
    "acme": ("contract_tests/tests/broken/acme.py", ["contract_tests/tests/test_acme_contract.py"]),
    # Each in-repo plugin keeps its codec in the same place and is judged by certifying it.
    **{
        name: (f"plugins/{name}/src/lmux_plug_{name}/_codec.py", [CERTIFY, "--lmux-certify", name])
        for name in ("openai", "anthropic", "gemini", "ollama", "bedrock", "cohere")
    },
}
#: The openai plugin serves many OpenAI-compatible servers, and the suite speaks each one's
#: dialect (``wires/openai_dialects.py``): certifying the servers whose dialects reach code
#: OpenAI's own answers never do (OpenRouter's reported cost and relayed errors, Mistral's
#: index-less tool calls and thinking parts, Groq's ``x_groq`` usage and ``event: error``,
#: Together's cached tokens) judges the codec on every path the plugin declares.
TARGETS["openai"] = (
    TARGETS["openai"][0],
    [CERTIFY, "--lmux-certify", "openai,openrouter,mistral,groq,together"],
)
#: Real recorded traffic beside the checkout (``../shared/wire/<provider>``), replayed by
#: ``recorded.replay`` when present (read in place, never copied). ``acme`` speaks OpenAI.
RECORDINGS = ROOT.parent / "shared" / "wire"
_RECORDED_AS = {"acme": "openai"}
_COPIED = ("lmux_plug", "plugins", "contract_tests", "cassettes", "pyproject.toml")


def _copy_tree(scratch: Path) -> Path:
    root = scratch / "tree"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv", "mutants", "*.sqlite")
    for name in _COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, root / name)
    return root


def _pythonpath(root: Path) -> str:
    paths = [root, root / "contract_tests" / "src"]
    paths += sorted(p for p in (root / "plugins").glob("*/src") if p.is_dir())
    return os.pathsep.join(str(p) for p in paths)


def _config(root: Path, target: str, timeout: float) -> Path:
    module, arguments = TARGETS[target]
    recorded = RECORDINGS / _RECORDED_AS.get(target, target)
    if recorded.is_dir():
        arguments = [*arguments, "--lmux-recordings", str(recorded.resolve())]
    command = " ".join([sys.executable, *PYTEST, *arguments])
    text = (
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    path = root / f"mutation-{target}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _cosmic_ray(root: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - cosmic-ray from this interpreter
        [sys.executable, "-m", "cosmic_ray.cli", *args], cwd=root, env=env, check=True
    )


def _key(item: Any) -> tuple[tuple[str, str, int], ...]:
    """What a work item mutates (job ids are random, this is stable)."""
    return tuple((str(m.module_path), m.operator_name, m.occurrence) for m in item.mutations)


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (start, end) positions of every annotation in a module that never evaluates them.

    With ``from __future__ import annotations`` an annotation is kept as a string and never
    run, so a mutant inside one (``str | None`` -> ``str * None``) cannot change behaviour:
    it is equivalent by construction. Without that import the list is empty.
    """
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not postponed:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return [
        ((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found
    ]


def _in_annotation(item: Any, spans: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> bool:
    mutation = item.mutations[0]
    start = tuple(mutation.start_pos)
    return any(low <= start < high for low, high in spans)


def compiles(source: str, operator_name: str, occurrence: int) -> bool:
    """Whether a mutant of ``source`` is valid Python (``*`` -> ``//`` in a signature is not).

    A mutant that cannot compile fails every test run at import: counting it as killed
    would flatter the suite, so the driver leaves such *stillborn* mutants out.
    """
    import cosmic_ray.plugins  # noqa: PLC0415
    from cosmic_ray.mutating import mutate_code  # noqa: PLC0415

    operator = cosmic_ray.plugins.get_operator(operator_name)()
    try:
        code = mutate_code(source, operator, occurrence)
    except Exception:  # noqa: BLE001 - cosmic-ray's own failure: its run reports it incompetent
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `x is "literal"` mutants warn; they compile
        try:
            compile(code or "", "<mutant>", "exec")
        except SyntaxError:
            return False
    return True


def _valid(sources: dict[str, str], item: Any) -> bool:
    mutation = item.mutations[0]
    source = sources[str(mutation.module_path)]
    return compiles(source, mutation.operator_name, mutation.occurrence)


def _select(
    root: Path,
    database: Path,
    *,
    size: int | None,
    seed: int,
    only: set[tuple[str, str, int]] | None,
) -> tuple[int, int]:
    """Drop annotation mutants, keep ``only`` (if given), sample, drop stillborn mutants.

    Returns how many annotation and how many stillborn mutants were dropped.
    """
    from cosmic_ray.work_db import WorkDB  # noqa: PLC0415
    from cosmic_ray.work_db import use_db  # noqa: PLC0415

    with use_db(str(database), WorkDB.Mode.open) as db:
        # Ordered by what each mutant is, so a seed always picks the same sample.
        items = sorted(db.work_items, key=_key)
        spans = {
            path: annotation_spans((root / path).read_text(encoding="utf-8"))
            for path in {str(item.mutations[0].module_path) for item in items}
        }
        kept = [i for i in items if not _in_annotation(i, spans[str(i.mutations[0].module_path)])]
        dropped = len(items) - len(kept)
        if only is not None:
            kept = [item for item in kept if _key(item)[0] in only]
        sources = {path: (root / path).read_text(encoding="utf-8") for path in spans}
        if size is not None:
            # Drawn in a seeded order, stillborn ones skipped, until the sample is full.
            order = random.Random(seed).sample(kept, len(kept))  # noqa: S311
            valid, stillborn = [], 0
            for item in order:
                if len(valid) == size:
                    break
                if _valid(sources, item):
                    valid.append(item)
                else:
                    stillborn += 1
        else:
            valid = [item for item in kept if _valid(sources, item)]
            stillborn = len(kept) - len(valid)
        db.clear()
        db.add_work_items(valid)
    return dropped, stillborn


def survivors_of(path: Path, target: str) -> set[tuple[str, str, int]]:
    """The live survivors of ``target`` in an earlier ``--json`` report."""
    rows = [
        row
        for result in json.loads(path.read_text(encoding="utf-8"))
        if result["target"] == target
        for row in (*result["survivors"], *result.get("undecided", ()))
    ]
    return {(row["module"], row["operator"], int(row["occurrence"])) for row in rows}


def _line(path: Path, number: int) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _results(root: Path, database: Path) -> list[dict[str, Any]]:
    from cosmic_ray.work_db import WorkDB  # noqa: PLC0415
    from cosmic_ray.work_db import use_db  # noqa: PLC0415

    rows = []
    with use_db(str(database), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            mutation = item.mutations[0]
            rows.append(
                {
                    "module": str(mutation.module_path),
                    "line": mutation.start_pos[0],
                    "source": _line(root / mutation.module_path, mutation.start_pos[0]),
                    "operator": mutation.operator_name,
                    "occurrence": mutation.occurrence,
                    "outcome": str(result.test_outcome.value if result.test_outcome else ""),
                    "worker": str(result.worker_outcome.value),
                    # cosmic-ray's word for a test run it stopped at the timeout.
                    "timed_out": result.output == "timeout",
                    "diff": result.diff or "",
                }
            )
    return rows


def equivalent_mutants() -> list[dict[str, str]]:
    """The survivors judged equivalent, with their reasons (``equivalent.toml``)."""
    data = tomllib.loads((HERE / "equivalent.toml").read_text(encoding="utf-8"))
    return list(data.get("mutant", []))


def mutated_lines(diff: str) -> set[str]:
    """The lines a mutant's diff writes (stripped): what the mutated line became."""
    return {
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    }


def _is_equivalent(row: dict[str, Any], known: Sequence[dict[str, str]]) -> bool:
    # An entry with ``mutated`` excuses only the mutant that writes that line: one number
    # of a line may be equivalent (``> 0`` -> ``> -1``) while the line's others are not.
    return any(
        row["module"].endswith(entry["module"])
        and entry["operator"] in (row["operator"], "*")
        and entry["source"] == row["source"]
        and ("mutated" not in entry or entry["mutated"] in mutated_lines(row.get("diff", "")))
        for entry in known
    )


def score(rows: Sequence[dict[str, Any]], known: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Killed, survived (equivalent or not), incompetent, and the score in percent."""
    incompetent = [r for r in rows if r["outcome"] == "incompetent" or r["worker"] != "normal"]
    judged = [r for r in rows if r not in incompetent]
    survived = [r for r in judged if r["outcome"] == "survived"]
    equivalent = [r for r in survived if _is_equivalent(r, known)]
    live = [r for r in survived if r not in equivalent]
    # cosmic-ray counts a run it stopped at --timeout as killed; on a loaded machine a
    # survivor's whole certification outlives it, so those are undecided, not killed (and
    # out of the score, listed for --rerun with a longer --timeout).
    undecided = [r for r in judged if r["outcome"] == "killed" and r.get("timed_out")]
    killed = [r for r in judged if r["outcome"] == "killed" and r not in undecided]
    counted = len(killed) + len(live)
    return {
        "mutants": len(rows),
        "killed": len(killed),
        "equivalent": len(equivalent),
        "survived": len(live),
        "incompetent": len(incompetent),
        "timed_out": len(undecided),
        "score": round(100.0 * len(killed) / counted, 1) if counted else 100.0,
        "survivors": live,
        "undecided": undecided,
    }


def run_target(
    root: Path,
    target: str,
    *,
    sample: int | None,
    seed: int,
    timeout: float,
    only: set[tuple[str, str, int]] | None = None,
) -> dict[str, Any]:
    """Init, select (sample, reruns), exec and score one target in the scratch tree ``root``."""
    env = {**os.environ, "PYTHONPATH": _pythonpath(root), "LMUX_PLUG_DISABLE": ""}
    config = _config(root, target, timeout)
    database = root / f"mutation-{target}.sqlite"
    _cosmic_ray(root, env, "init", str(config), str(database))
    annotations, stillborn = _select(root, database, size=sample, seed=seed, only=only)
    started = time.monotonic()
    _cosmic_ray(root, env, "exec", str(config), str(database))
    result = score(_results(root, database), equivalent_mutants())
    result["annotation_mutants"] = annotations
    result["stillborn"] = stillborn
    result["seconds"] = round(time.monotonic() - started)
    result["target"] = target
    return result


def _run_isolated(target: str, args: argparse.Namespace) -> dict[str, Any]:
    """One target in its own scratch copy of the tree (targets may run at once)."""
    only = survivors_of(Path(args.rerun), target) if args.rerun else None
    with tempfile.TemporaryDirectory(prefix=f"lmux-mutation-{target}-") as scratch:
        root = _copy_tree(Path(scratch))
        return run_target(
            root, target, sample=args.sample, seed=args.seed, timeout=args.timeout, only=only
        )


def _report(result: dict[str, Any]) -> str:
    head = (
        f"{result['target']}: {result['mutants']} mutants, {result['killed']} killed, "
        f"{result['equivalent']} equivalent, {result['survived']} survived, "
        f"{result['incompetent']} incompetent, {result['timed_out']} timed out (undecided): "
        f"score {result['score']}% "
        f"({result['seconds']} s; left out: {result['annotation_mutants']} mutants of type "
        f"annotations, equivalent by construction, and {result['stillborn']} stillborn, "
        "that do not compile)"
    )
    lines = [head]
    lines += [
        f"  survived {row['module']}:{row['line']} {row['operator']}: {row['source']}"
        for row in result["survivors"]
    ]
    lines += [
        f"  timed out {row['module']}:{row['line']} {row['operator']}: {row['source']}"
        for row in result["undecided"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the targets; print a report (and JSON with ``--json``); 1 below the threshold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--sample", type=int, default=None, help="mutants per target")
    parser.add_argument("--seed", type=int, default=13, help="seed of the sample")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant")
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once")
    parser.add_argument(
        "--rerun", default=None, metavar="PATH", help="only the survivors in an earlier --json"
    )
    parser.add_argument("--json", default=None, metavar="PATH", help="write results as JSON")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_run_isolated, target, args) for target in targets]
        results = []
        for future in futures:
            results.append(future.result())
            sys.stdout.write(_report(results[-1]))
            sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    low = [r["target"] for r in results if r["score"] < args.threshold]
    if low:
        sys.stdout.write(f"below {args.threshold}%: {', '.join(low)}\n")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
