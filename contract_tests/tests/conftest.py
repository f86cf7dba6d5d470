"""The example plugins of the suite's own tests, loaded once per process.

``broken/acme.py`` (a correct HTTP plugin) and the broken variants beside it (of acme, and of
the in-repo codecs when those plugins are installed; ``EXAMPLE_FILES``) are not an importable
package; they are loaded here, before any test module of this folder, each under one module
name. Test
modules and the modules the tests write and run with ``pytester`` (in-process, so they share
``sys.modules``) read them as ``sys.modules[...]``: one load, the same classes everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

# pytester's in-process runs drop from sys.modules what was first imported inside them; the
# HTTP client is imported lazily, so a pool made in one run would raise the error classes of
# a dropped copy that the next run's error mapping no longer knows. Import it once, here.
import lmux_plug._http1
import lmux_plug._http_body
import lmux_plug.http  # noqa: F401

EXAMPLES = Path(__file__).resolve().parent / "broken"

#: Module name of the first example files (``broken/import_io.py`` loads acme by this name too).
ACME = "lmux_contract_examples_acme"
BROKEN = "lmux_contract_examples_broken"
SHAPES = "lmux_contract_examples_shapes"
DETAILS = "lmux_contract_examples_details"

_ANTHROPIC = ("lmux_plug_anthropic",)
_GEMINI = (*_ANTHROPIC, "lmux_plug_gemini", "lmux_plug_bedrock")
#: example file -> (its module name, the in-repo plugins its variants wrap), loaded in this
#: order: later files reuse earlier ones' classes (shapes' ``ServedCodec``, details' served
#: Gemini and Bedrock codecs). A file whose plugins are not installed is not loaded.
EXAMPLE_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "acme.py": (ACME, ()),
    "import_io.py": ("lmux_contract_examples_import_io", ()),
    "plugins.py": (BROKEN, ()),
    "tool_edges.py": ("lmux_contract_examples_tool_edges", ()),
    "shapes.py": (SHAPES, _ANTHROPIC),
    "details.py": (DETAILS, _GEMINI),
    "family_edges.py": ("lmux_contract_examples_family_edges", _GEMINI),
    "edge_cases.py": ("lmux_contract_examples_edge_cases", _ANTHROPIC),
    "margins.py": ("lmux_contract_examples_margins", _ANTHROPIC),
    "answer_edges.py": ("lmux_contract_examples_answer_edges", _GEMINI),
    "openai_dialects.py": (
        "lmux_contract_examples_openai_dialects",
        (*_ANTHROPIC, "lmux_plug_openai"),
    ),
    "endings.py": ("lmux_contract_examples_endings", (*_ANTHROPIC, "lmux_plug_openai")),
    "budgets.py": ("lmux_contract_examples_budgets", _GEMINI),
}


def load_example(file: str, name: str) -> ModuleType:
    """``broken/<file>`` as module ``name``, loaded the first time only."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


for _file, (_name, _plugins) in EXAMPLE_FILES.items():
    if all(importlib.util.find_spec(plugin) is not None for plugin in _plugins):
        load_example(_file, _name)
