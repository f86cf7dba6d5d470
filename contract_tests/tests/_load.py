"""Load the example plugins by path (the tests run with --import-mode=importlib, no sys.path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BROKEN = Path(__file__).resolve().parent / "broken"


def load(name: str) -> ModuleType:
    """Import ``broken/<name>.py`` once, as module ``lmux_contract_examples_<name>``."""
    module_name = f"lmux_contract_examples_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BROKEN / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
