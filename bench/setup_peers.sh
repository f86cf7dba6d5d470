#!/usr/bin/env bash
# Create bench/.venv-peers: a bench-only virtualenv with lmux-plug (editable) and the peer
# libraries the benchmarks compare against. It is gitignored and never used by the tests.
#
#   bash bench/setup_peers.sh            # Python 3.13 if found (lmux needs it), else 3.12, else python3
#   PEERS_PYTHON=/path/to/python bash bench/setup_peers.sh
#
# Each peer is installed on its own; one that cannot be installed is listed in
# bench/.venv-peers/unavailable.txt and reported by the benchmarks as unavailable.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
venv="$here/.venv-peers"

pick_python() {
  if [ -n "${PEERS_PYTHON:-}" ]; then echo "$PEERS_PYTHON"; return; fi
  for minor in 3.13 3.12; do
    if "python$minor" -c 'import sys' >/dev/null 2>&1; then command -v "python$minor"; return; fi
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$minor".*/bin/python"$minor"; do
      if [ -x "$candidate" ]; then echo "$candidate"; return; fi
    done
  done
  command -v python3
}

python="$(pick_python)"
echo "peers venv: $venv ($("$python" -V 2>&1))"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || exit 1
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
: >"$venv/unavailable.txt"

"${pip[@]}" --upgrade pip >/dev/null 2>&1 || true
# Our side, in the same interpreter as the peers so that ratios compare like with like.
"${pip[@]}" -e "$repo" || { echo "cannot install lmux-plug" >&2; exit 1; }
# Every provider plugin of this repo, so that discovery is measured with all of them.
for plugin in "$repo"/plugins/*/; do
  if [ -f "$plugin/pyproject.toml" ]; then
    "${pip[@]}" -e "$plugin" || echo "lmux-plug-$(basename "$plugin")" >>"$venv/unavailable.txt"
  fi
done

try() {  # try <label> <pip args...>
  local label="$1"; shift
  if "${pip[@]}" "$@"; then echo "installed: $label"; return 0; fi
  echo "unavailable: $label" >&2
  return 1
}

try openai openai || echo "openai" >>"$venv/unavailable.txt"
# LiteLLM: the newest release sometimes pins deps the resolver cannot satisfy; fall back to
# --no-deps plus the runtime dependencies its client path imports. 1.107.0 was a compromised
# release (withdrawn) and is excluded explicitly.
if ! try litellm 'litellm!=1.107.0'; then
  if try "litellm (no-deps)" --no-deps 'litellm!=1.107.0'; then
    try "litellm runtime deps" httpx openai tiktoken tokenizers jinja2 jsonschema pydantic \
      python-dotenv importlib-metadata click aiohttp certifi fastuuid \
      || echo "litellm" >>"$venv/unavailable.txt"
  else
    echo "litellm" >>"$venv/unavailable.txt"
  fi
fi
try llm llm || echo "llm" >>"$venv/unavailable.txt"
try onellm onellm || echo "onellm" >>"$venv/unavailable.txt"
try "lmux + lmux-openai" lmux lmux-openai || echo "lmux" >>"$venv/unavailable.txt"
try infermesh infermesh || echo "infermesh" >>"$venv/unavailable.txt"

echo "done; unavailable: $(tr '\n' ' ' <"$venv/unavailable.txt")"
