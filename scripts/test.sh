#!/usr/bin/env bash
# Set up .venv (core, every plugin in plugins/, the contract suite, test tools) and run
# every test. Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=25.1"
editables=(-e .)
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && editables+=(-e "$plugin")
done
[ -f contract_tests/pyproject.toml ] && editables+=(-e contract_tests)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${editables[@]}" --group tests

set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
