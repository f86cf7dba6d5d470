"""Cold start: ``import lmux_plug`` plus plugin discovery, in fresh processes, vs peers.

Target: import + ``Registry.from_entry_points()`` under 100 ms (median of fresh processes).
Peers (litellm, openai, simonw/llm, onellm, lmux) are measured in the same run, interleaved
with ours, in whichever interpreter has them: ``bench/.venv-peers`` (``setup_peers.sh``)
first, then this one. Ours is measured in every interpreter used, so each ratio compares
two libraries on the same Python.

    python bench/bench_import.py [--repeats 10] [--importtime] [--against DIR]

Each process reports its wall time and its CPU time (``time.process_time``) of import +
discovery; on a loaded machine read the CPU column and the same-run ratios. ``--against
DIR`` measures another tree's ``lmux_plug`` package (put first on ``PYTHONPATH``) in the
same interleaved rounds, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import _common

TARGET_MS = 100.0

# Each snippet runs in a fresh interpreter between two clocks: the first part is the
# import, the second the discovery of providers / models where the library has one.
TARGETS: dict[str, tuple[str, str, str]] = {
    # name: (import module probe, import code, discovery code)
    "lmux_plug": (
        "lmux_plug",
        "import lmux_plug",
        (
            "r = lmux_plug.Registry.from_entry_points(); "
            "info = {'plugins': [p.name for p in r.plugins()], 'broken': [b.name for b in r.broken]}"
        ),
    ),
    "openai": ("openai", "from openai import AsyncOpenAI", ""),
    "litellm": ("litellm", "import litellm", ""),
    "llm (simonw)": ("llm", "import llm", "llm.get_models()"),
    "onellm": ("onellm", "import onellm", ""),
    "lmux": ("lmux", "import lmux", ""),
}

CHILD = """
import json, time
c0 = time.process_time()
t0 = time.perf_counter()
{imp}
t1 = time.perf_counter()
info = {{}}
{disc}
t2 = time.perf_counter()
c2 = time.process_time()
print(json.dumps({{"import": t1 - t0, "discover": t2 - t1, "cpu": c2 - c0, "info": info}}))
"""
# The process's CPU time of import + discovery ("cpu" above) moves much less with the load
# of a shared machine than the wall time does: a process waiting for a core is not charged.


def repo_plugins() -> list[str]:
    """Entry-point names of the plugins in this repository's ``plugins/`` directory.

    The target is for every one of them installed; the report names those discovery missed.
    """
    names = []
    for pyproject in sorted((_common.REPO / "plugins").glob("*/pyproject.toml")):
        section = pyproject.read_text().partition("[project.entry-points.lmux_plug]")[2]
        for line in section.splitlines()[1:]:
            if line.startswith("["):
                break
            name, sep, _ = line.partition("=")
            if sep:
                names.append(name.strip())
    return names


def has_module(exe: str, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return (
        subprocess.run([exe, "-c", probe], capture_output=True, timeout=60, check=False).returncode
        == 0
    )


def child_env() -> dict[str, str]:
    # No phoning home (LiteLLM fetches its price map at import unless told not to).
    env = _common.worker_env()
    # simonw/llm keeps its config in a user directory: point it at a scratch one.
    env["LLM_USER_PATH"] = tempfile.mkdtemp(prefix="bench-llm-")
    # An installed package has its bytecode compiled (pip does it); with this set, modules
    # of an editable install are compiled from source in every process, which measures the
    # compiler, not the import. The warm-up run writes the bytecode cache.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _child(exe: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``exe ARGS`` run outside the checkout (``-c`` puts the working directory on sys.path)."""
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tempfile.gettempdir(),
        check=False,
    )


def run_once(exe: str, name: str, env: dict[str, str]) -> dict[str, object]:
    _, imp, disc = TARGETS[name.partition(" from ")[0]]
    code = CHILD.format(imp=imp, disc=disc or "pass")
    start = time.perf_counter()
    out = _child(exe, ["-c", code], env)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        msg = f"{name} failed under {exe}: {out.stderr.strip()[-500:]}"
        raise RuntimeError(msg)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def interpreter_startup(exe: str, env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([exe, "-c", "pass"], check=True, env=env, timeout=60)
        times.append(time.perf_counter() - start)
    return _common.median(times)


def importtime_profile(exe: str, env: dict[str, str], top: int = 12) -> str:
    """Top modules by self and cumulative import time (``-X importtime``), one run."""
    _, imp, disc = TARGETS["lmux_plug"]
    out = _child(exe, ["-X", "importtime", "-c", f"{imp}\ninfo = {{}}\n{disc}"], env)
    rows: list[tuple[int, int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        rows.append((int(self_us), int(cumulative_us), name.rstrip()))
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, name in rows:
        by_package[name.strip().split(".")[0]] += self_us
    total = sum(r[0] for r in rows)
    packages = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
    selfs = sorted(rows, key=lambda r: -r[0])[:top]
    lines = [
        f"-X importtime, {exe}: {total / 1000:.1f} ms in {len(rows)} modules",
        "",
        "| top-level package | self time summed (ms) |",
        "|---|---|",
    ]
    lines += [f"| {pkg} | {us / 1000:.1f} |" for pkg, us in packages]
    lines += ["", "| module | self (ms) | cumulative (ms) |", "|---|---|---|"]
    lines += [f"| {name.strip()} | {s / 1000:.1f} | {c / 1000:.1f} |" for s, c, name in selfs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="fresh processes for lmux_plug")
    parser.add_argument(
        "--peer-repeats",
        type=int,
        default=None,
        help="fresh processes per peer (default: --repeats)",
    )
    parser.add_argument(
        "--importtime", action="store_true", help="also print -X importtime top offenders"
    )
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="DIR",
        help="also measure the lmux_plug package in DIR (first on PYTHONPATH), interleaved: "
        "DIR holds another checkout's lmux_plug/ (git archive REV lmux_plug | tar -x -C DIR)",
    )
    args = parser.parse_args(argv)

    env = child_env()
    # name -> the environment of its processes: another tree of ours is put first on the path.
    envs = {f"lmux_plug from {d}": {**env, "PYTHONPATH": d} for d in args.against}
    interpreters = _common.interpreters()
    peer_repeats = args.repeats if args.peer_repeats is None else args.peer_repeats
    versions = {exe: _common.python_version(exe) for exe in interpreters}

    # (name, exe) pairs to measure; ours in every interpreter, each peer where it is found.
    plan: list[tuple[str, str]] = [
        (name, exe) for name in ("lmux_plug", *envs) for exe in interpreters
    ]
    missing: list[str] = []
    for name, (module, _, _) in TARGETS.items():
        if name == "lmux_plug" or peer_repeats <= 0:  # --peer-repeats 0: ours only
            continue
        exe = next((e for e in interpreters if has_module(e, module)), None)
        if exe is None:
            missing.append(name)
        else:
            plan.append((name, exe))

    samples: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    failed: dict[tuple[str, str], str] = {}
    for key in plan:  # warm the OS file cache once; "cold" means a fresh interpreter
        try:
            run_once(key[1], key[0], envs.get(key[0], env))
        except RuntimeError as exc:
            failed[key] = str(exc)
    for round_ in range(max(args.repeats, peer_repeats)):  # interleaved: noise hits all alike
        for key in plan:
            wanted = args.repeats if key[0].startswith("lmux_plug") else peer_repeats
            if key not in failed and round_ < wanted:
                samples[key].append(run_once(key[1], key[0], envs.get(key[0], env)))

    startup = {
        exe: interpreter_startup(exe, env, max(3, args.repeats // 2)) for exe in interpreters
    }
    ours = {
        exe: _common.median([s["import"] + s["discover"] for s in samples[("lmux_plug", exe)]])
        for exe in interpreters
        if ("lmux_plug", exe) in samples
    }
    rows = []
    for key in plan:
        name, exe = key
        if key in failed:
            rows.append([name, versions[exe], "failed to import", "", "", "", "", ""])
            continue
        s = samples[key]
        totals = [x["import"] + x["discover"] for x in s]
        imports = [x["import"] for x in s]
        discovers = [x["discover"] for x in s]
        walls = [x["wall"] for x in s]
        cpus = [x["cpu"] for x in s]
        med = _common.median(totals) * 1000
        rows.append(
            [
                name,
                versions[exe],
                f"{med:.1f}",
                f"{_common.median(imports) * 1000:.1f} + {_common.median(discovers) * 1000:.1f}",
                f"{_common.median(cpus) * 1000:.1f} / {min(cpus) * 1000:.1f}",
                f"{_common.median(walls) * 1000:.0f}",
                _common.ratio(med, ours.get(exe, 0) * 1000),
                (
                    f"{'met' if med < TARGET_MS else 'MISSED'} (<{TARGET_MS:.0f} ms)"
                    if name.startswith("lmux_plug")
                    else ""
                ),
            ]
        )
    rows.extend([name, "-", "not installed", "", "", "", "", ""] for name in missing)
    print(
        _common.table(
            f"Cold import + discovery, median of {args.repeats} fresh processes "
            f"({peer_repeats} per peer)",
            [
                "library",
                "python",
                "import+discovery ms",
                "import + discovery ms",
                "CPU ms, median / min",
                "process wall ms",
                "vs lmux_plug (same python)",
                "target",
            ],
            rows,
        )
    )
    print()
    print(
        "interpreter startup (`python -c pass`, wall ms): "
        + ", ".join(f"{versions[e]} {t * 1000:.0f}" for e, t in startup.items())
    )
    # Load inflates both alike, so this ratio moves less than the milliseconds do.
    print(
        "lmux_plug import + discovery in interpreter startups (same run): "
        + ", ".join(f"{versions[e]} {ours[e] / startup[e]:.2f}x" for e in interpreters if e in ours)
    )
    for exe in interpreters:
        if samples.get(("lmux_plug", exe)):
            info = samples[("lmux_plug", exe)][-1]["info"]
            found = info.get("plugins") or []
            missing = sorted(set(repo_plugins()) - set(found))
            print(
                f"lmux_plug discovery ({versions[exe]}) found plugins {found}, "
                f"broken {info.get('broken')}"
                + (f"; NOT INSTALLED from plugins/: {missing}" if missing else "")
            )
    for key, reason in failed.items():
        print(f"failed: {key[0]} ({versions[key[1]]}): {reason}")
    if args.importtime:
        print()
        print(importtime_profile(sys.executable, env))
    print(f"({_common.machine_note()}; {_common.load_note()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
