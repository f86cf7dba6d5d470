"""``python -m lmux_plug`` runs the ``lmux-plug`` command line."""

from __future__ import annotations

import sys

from lmux_plug.cli import main

sys.exit(main())
