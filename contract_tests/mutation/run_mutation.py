# ruff: noqa: INP001 - a script, not a package module
"""Mutation testing of the codecs against the contract suite alone (cosmic-ray).

``python contract_tests/mutation/run_mutation.py [--targets acme,openai] [--sample N]``
copies the repository to a scratch folder (mutants are written to files there, never to
the work tree), puts the copy first on ``PYTHONPATH`` so the installed editable packages
are shadowed by the mutated sources, and for each target:

1. ``cosmic-ray init`` lists every mutant of the target's codec module;
2. with ``--sample N`` keeps N of them, drawn with ``--seed`` (a bounded, reproducible run
   for CI);
3. ``cosmic-ray exec`` runs the target's contract-suite command once per mutant (``-x``:
   the first failing clause kills it);
4. reads the results: a mutant is *killed* when the suite fails, *survived* when it passes.

Survivors listed in ``equivalent.toml`` (with the reason each changes no observable
behaviour) are left out of the score. The score is killed / (mutants - equivalent -
incompetent); the run exits 1 when a target scores below ``--threshold`` (default 90).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
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
    "openai": (
        "plugins/openai/src/lmux_plug_openai/_codec.py",
        [CERTIFY, "--lmux-certify", "openai"],
    ),
    "anthropic": (
        "plugins/anthropic/src/lmux_plug_anthropic/_codec.py",
        [CERTIFY, "--lmux-certify", "anthropic"],
    ),
    "gemini": (
        "plugins/gemini/src/lmux_plug_gemini/_codec.py",
        [CERTIFY, "--lmux-certify", "gemini"],
    ),
    "ollama": (
        "plugins/ollama/src/lmux_plug_ollama/_codec.py",
        [CERTIFY, "--lmux-certify", "ollama"],
    ),
}
#: Real recorded OpenAI traffic beside the checkout, replayed by ``recorded.replay`` when
#: present (it is read in place, never copied).
RECORDINGS = ROOT.parent / "shared" / "wire" / "openai"
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
    if target == "acme" and RECORDINGS.is_dir():
        arguments = [*arguments, "--lmux-recordings", str(RECORDINGS.resolve())]
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


def _sample(database: Path, size: int, seed: int) -> None:
    from cosmic_ray.work_db import WorkDB, use_db  # noqa: PLC0415

    with use_db(str(database), WorkDB.Mode.open) as db:
        # Job ids are random: order by what the mutant is, so a seed picks the same sample.
        items = sorted(
            db.work_items,
            key=lambda item: tuple(
                (str(m.module_path), m.operator_name, m.occurrence) for m in item.mutations
            ),
        )
        chosen = random.Random(seed).sample(items, min(size, len(items)))  # noqa: S311
        db.clear()
        db.add_work_items(chosen)


def _line(path: Path, number: int) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _results(root: Path, database: Path) -> list[dict[str, Any]]:
    from cosmic_ray.work_db import WorkDB, use_db  # noqa: PLC0415

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
                    "diff": result.diff or "",
                }
            )
    return rows


def equivalent_mutants() -> list[dict[str, str]]:
    """The survivors judged equivalent, with their reasons (``equivalent.toml``)."""
    data = tomllib.loads((HERE / "equivalent.toml").read_text(encoding="utf-8"))
    return list(data.get("mutant", []))


def _is_equivalent(row: dict[str, Any], known: Sequence[dict[str, str]]) -> bool:
    return any(
        row["module"].endswith(entry["module"])
        and entry["operator"] in (row["operator"], "*")
        and entry["source"] == row["source"]
        for entry in known
    )


def score(rows: Sequence[dict[str, Any]], known: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Killed, survived (equivalent or not), incompetent, and the score in percent."""
    incompetent = [r for r in rows if r["outcome"] == "incompetent" or r["worker"] != "normal"]
    judged = [r for r in rows if r not in incompetent]
    survived = [r for r in judged if r["outcome"] == "survived"]
    equivalent = [r for r in survived if _is_equivalent(r, known)]
    live = [r for r in survived if r not in equivalent]
    killed = [r for r in judged if r["outcome"] == "killed"]
    counted = len(killed) + len(live)
    return {
        "mutants": len(rows),
        "killed": len(killed),
        "equivalent": len(equivalent),
        "survived": len(live),
        "incompetent": len(incompetent),
        "score": round(100.0 * len(killed) / counted, 1) if counted else 100.0,
        "survivors": live,
    }


def run_target(
    root: Path, target: str, *, sample: int | None, seed: int, timeout: float
) -> dict[str, Any]:
    """Init, optionally sample, exec and score one target in the scratch tree ``root``."""
    env = {**os.environ, "PYTHONPATH": _pythonpath(root), "LMUX_PLUG_DISABLE": ""}
    config = _config(root, target, timeout)
    database = root / f"mutation-{target}.sqlite"
    _cosmic_ray(root, env, "init", str(config), str(database))
    if sample is not None:
        _sample(database, sample, seed)
    started = time.monotonic()
    _cosmic_ray(root, env, "exec", str(config), str(database))
    result = score(_results(root, database), equivalent_mutants())
    result["seconds"] = round(time.monotonic() - started)
    result["target"] = target
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the targets; print a report (and JSON with ``--json``); 1 below the threshold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--sample", type=int, default=None, help="mutants per target")
    parser.add_argument("--seed", type=int, default=13, help="seed of the sample")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant")
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--json", default=None, metavar="PATH", help="write results as JSON")
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="lmux-mutation-") as scratch:
        root = _copy_tree(Path(scratch))
        for target in targets:
            result = run_target(
                root, target, sample=args.sample, seed=args.seed, timeout=args.timeout
            )
            results.append(result)
            sys.stdout.write(
                f"{target}: {result['mutants']} mutants, {result['killed']} killed, "
                f"{result['equivalent']} equivalent, {result['survived']} survived, "
                f"{result['incompetent']} incompetent: score {result['score']}% "
                f"({result['seconds']} s)\n"
            )
            for row in result["survivors"]:
                sys.stdout.write(
                    f"  survived {row['module']}:{row['line']} {row['operator']}: {row['source']}\n"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    low = [r["target"] for r in results if r["score"] < args.threshold]
    if low:
        sys.stdout.write(f"below {args.threshold}%: {', '.join(low)}\n")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
