"""Load plugins in a fresh process under a strict network guard and say what they touched.

``python -m lmux_plug_contract._load_probe`` imports every ``lmux_plug`` entry point (or
one plugin module given by file) one at a time, registers it in a fresh registry so its
providers are declared, and prints JSON: per plugin, the providers it declared and every
connection or name lookup it attempted while importing and declaring. Nothing was imported
before the guard went up, so import-time I/O cannot hide behind a module imported earlier.
The guard refuses loopback too: loading a plugin needs no network at all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

__all__ = ["LOAD_GROUP", "LoadReport", "load_all", "probe"]

LOAD_GROUP = "lmux_plug"
LoadReport = dict[str, Any]
PROBE_LIMIT = 60.0  # a fresh interpreter importing every plugin; a hang is a finding


def _load_entry_points(registry: Any, attempts: list[str]) -> Iterator[LoadReport]:
    for entry_point in sorted(entry_points(group=LOAD_GROUP), key=lambda e: e.name):
        before, declared_before = len(attempts), {s.name for s in registry.providers()}
        error = None
        try:
            registry.add_plugin(entry_point.load(), name=entry_point.name)
        except Exception as exc:  # noqa: BLE001 - a plugin that cannot load is reported
            error = f"{type(exc).__name__}: {exc}"
        declared = sorted({s.name for s in registry.providers()} - declared_before)
        yield {
            "plugin": entry_point.name,
            "providers": declared,
            "attempts": attempts[before:],
            "error": error,
        }


def _load_file(registry: Any, path: str, attribute: str, attempts: list[str]) -> LoadReport:
    error = None
    declared: list[str] = []
    spec = importlib.util.spec_from_file_location("lmux_contract_probed", path)
    if spec is None or spec.loader is None:
        return {"plugin": path, "providers": [], "attempts": [], "error": "not importable"}
    try:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        plugin: Any = module
        if attribute:
            plugin = getattr(module, attribute)
            if isinstance(plugin, type):
                plugin = plugin()
        registry.add_plugin(plugin, name="probed")
        declared = sorted(s.name for s in registry.providers())
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        error = f"{type(exc).__name__}: {exc}"
    return {"plugin": path, "providers": declared, "attempts": list(attempts), "error": error}


def load_all(plugin_file: str | None = None, attribute: str = "") -> list[LoadReport]:
    """Load under the strict guard (call this in a fresh process); one report per plugin."""
    from lmux_plug_contract.cassettes import network_guard  # noqa: PLC0415

    with network_guard(allow_loopback=False) as guard, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lmux_plug import Registry  # noqa: PLC0415 - imported under the guard, too

        registry = Registry(builtins=plugin_file is None)
        if plugin_file is not None:
            return [_load_file(registry, plugin_file, attribute, guard.attempts)]
        reports = list(_load_entry_points(registry, guard.attempts))
        builtins = sorted(
            {s.name for s in registry.providers()} - {p for r in reports for p in r["providers"]}
        )
        reports.append(
            {"plugin": "(built in)", "providers": builtins, "attempts": [], "error": None}
        )
        return reports


def probe(plugin_file: str | None = None, attribute: str = "") -> list[LoadReport]:
    """Run :func:`load_all` in a fresh interpreter and return its reports."""
    command = [sys.executable, "-m", "lmux_plug_contract._load_probe"]
    if plugin_file is not None:
        command += ["--plugin-file", plugin_file, "--attribute", attribute]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, capture_output=True, text=True, timeout=PROBE_LIMIT, check=False, env=env
    )
    if done.returncode != 0:
        msg = f"the load probe failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        raise RuntimeError(msg)
    reports: list[LoadReport] = json.loads(done.stdout.strip().splitlines()[-1])
    return reports


def main(argv: list[str] | None = None) -> int:
    """Print the load reports as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m lmux_plug_contract._load_probe")
    parser.add_argument("--plugin-file", default=None)
    parser.add_argument("--attribute", default="")
    args = parser.parse_args(argv)
    file = str(Path(args.plugin_file).resolve()) if args.plugin_file else None
    reports = load_all(file, args.attribute)
    sys.stdout.write("\n" + json.dumps(reports) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
