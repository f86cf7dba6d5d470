#!/usr/bin/env bash
# Set up .venv (core, every plugin in plugins/, the contract suite, test tools), then run the
# checks CI gates on: ruff (lint and format), mypy strict, and every test with a coverage floor.
#
#   bash scripts/test.sh                 # everything (what CI runs on the oldest Python)
#   LMUX_TEST_QUICK=1 bash scripts/test.sh   # every test, no coverage; mypy for this Python
#   bash scripts/test.sh tests/router    # set up, then only these pytest arguments (no gates)
#
# PYTHON picks the interpreter (default python3), VENV the environment (default .venv).
# LMUX_TEST_QUICK=1 is CI's pass on a second Python: ruff's answer and the coverage floor do
# not depend on the interpreter (the full pass gates them), but the tests and mypy's view of
# `sys.version_info` branches do, so it runs every test (without the cost of coverage) and
# mypy with --python-version set to the running interpreter's.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
# The measured line+branch coverage of lmux_plug is above this; a drop below it fails.
COVERAGE_FLOOR="${COVERAGE_FLOOR:-90}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=25.1"
editables=(-e .)
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && editables+=(-e "$plugin")
done
[ -f contract_tests/pyproject.toml ] && editables+=(-e contract_tests)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${editables[@]}" \
  --group tests --group typing --group lint

pytest_args=("$@")
quick="${LMUX_TEST_QUICK:-0}"
if [ "${#pytest_args[@]}" -eq 0 ] && [ "$quick" = 1 ]; then
  target=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  echo "== quick pass: no ruff, no coverage (the full pass gates them)"
  echo "== mypy --strict --python-version $target"
  VENV="$VENV" bash scripts/typecheck.sh --python-version "$target"
  echo "== pytest (no coverage)"
  runner=("$VENV/bin/python" -m pytest)
elif [ "${#pytest_args[@]}" -eq 0 ]; then
  echo "== ruff check / ruff format --check"
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  echo "== mypy --strict"
  VENV="$VENV" bash scripts/typecheck.sh
  echo "== pytest under coverage (floor ${COVERAGE_FLOOR}% for lmux_plug)"
  # `coverage run` (not pytest-cov) starts before pytest loads the lmux_plug pytest plugin,
  # so module-level code counts; `patch = ["subprocess"]` follows the CLI and gateway workers.
  rm -f .coverage .coverage.*
  runner=("$VENV/bin/python" -m coverage run -m pytest)
else
  runner=("$VENV/bin/python" -m pytest)
fi

set +e
"${runner[@]}" "${pytest_args[@]}"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
if [ "$status" -ne 0 ] || [ "$#" -ne 0 ] || [ "$quick" = 1 ]; then
  exit "$status"
fi
"$VENV/bin/python" -m coverage combine -q
"$VENV/bin/python" -m coverage report --skip-covered --fail-under="$COVERAGE_FLOOR"
