"""``python -m lmux_plug_contract NAME...`` is ``lmux-plug certify NAME...``."""

from __future__ import annotations

from lmux_plug_contract.cli import console_main

console_main()
