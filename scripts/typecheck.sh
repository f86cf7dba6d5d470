#!/usr/bin/env bash
# mypy (strict, settings in pyproject.toml) over the core, every plugin's sources and the
# contract suite. Usage: bash scripts/typecheck.sh [mypy options]  (uses $VENV, default .venv),
# e.g. `--python-version 3.13` to check the newest Python's side of version checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
MYPY="$VENV/bin/mypy"
[ -x "$MYPY" ] || MYPY=mypy
sources=(lmux_plug)
for src in plugins/*/src; do
  [ -d "$src" ] && sources+=("$src")
done
[ -d contract_tests/src ] && sources+=(contract_tests/src)
"$MYPY" "$@" "${sources[@]}"
