"""A broken variant of ``acme`` that asks a local model daemon for its models when imported.

Import-time I/O: the connection happens once, when the module is first imported, so only
loading the plugin in a fresh process under the network guard can see it.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from typing import Any

try:
    with socket.create_connection(("127.0.0.1", 9), timeout=0.2):
        pass
except OSError:
    pass  # no daemon: keep the static model list


def _acme() -> Any:
    name = "lmux_contract_examples_acme"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("acme.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class ImportTimeIO(_acme().AcmePlugin):  # type: ignore[misc]
    """Declares ``acme`` after looking for a daemon at import time."""

    fails_on = ("loading.no_io_at_load", "loading")
