"""The fresh process ``lmux-plug certify`` runs: ``python -m lmux_plug_contract._certify_child``."""

from __future__ import annotations

import sys

from lmux_plug_contract.cli import certify_here

if __name__ == "__main__":
    sys.exit(certify_here(sys.argv[1:]))
