"""``python -m lmux_plug_contract.scan PATH...``: fail if a cassette holds a secret-looking string.

For a pre-commit hook (``entry: python -m lmux_plug_contract.scan``, ``files:
^cassettes/``) and CI. Folders are searched for ``*.yaml`` / ``*.yml``; exit 1 names each
finding (truncated, so the hook itself does not print the secret).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lmux_plug_contract._canon import SENTINEL_KEY
from lmux_plug_contract.cassettes import find_secrets

__all__ = ["main", "scan"]


def scan(paths: list[Path]) -> list[str]:
    """Every finding as ``file:line: match...``."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.y*ml")) if path.is_dir() else [path])
    findings = []
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        findings += [f"{file}:{line}: {match}" for line, match in find_secrets(text)]
        if SENTINEL_KEY in text:
            findings.append(f"{file}: the contract suite's test key was not scrubbed")
    return findings


def main(argv: list[str] | None = None) -> int:
    """Scan the given files and folders (default ``cassettes``); 1 if anything was found."""
    args = sys.argv[1:] if argv is None else argv
    findings = scan([Path(a) for a in args] or [Path("cassettes")])
    for finding in findings:
        sys.stdout.write(finding + "\n")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
