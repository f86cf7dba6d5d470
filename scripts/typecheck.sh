#!/usr/bin/env bash
# mypy (strict, settings in pyproject.toml) over the core, every plugin's sources and the
# contract suite. Usage: bash scripts/typecheck.sh  (uses $VENV, default .venv)
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
"$MYPY" "${sources[@]}"
