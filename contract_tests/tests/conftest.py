"""The example plugins of the suite's own tests, loaded once per process.

``broken/acme.py`` (a correct HTTP plugin), ``broken/import_io.py``, ``broken/plugins.py`` and
``broken/tool_edges.py`` (its broken variants) and,
with the Anthropic plugin installed, ``broken/shapes.py`` are not an importable package; they
are loaded here, before any test module of this folder, each under one module name. Test
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

#: Module name of each example file (``broken/import_io.py`` loads acme by this name too).
ACME = "lmux_contract_examples_acme"
BROKEN = "lmux_contract_examples_broken"
SHAPES = "lmux_contract_examples_shapes"
TOOL_EDGES = "lmux_contract_examples_tool_edges"
DETAILS = "lmux_contract_examples_details"
IMPORT_IO = "lmux_contract_examples_import_io"


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


load_example("acme.py", ACME)
load_example("import_io.py", IMPORT_IO)
load_example("plugins.py", BROKEN)
load_example("tool_edges.py", TOOL_EDGES)
# The shape variants wrap the in-repo Anthropic codec; without it they are not used.
if importlib.util.find_spec("lmux_plug_anthropic") is not None:
    load_example("shapes.py", SHAPES)
# The detail variants wrap the in-repo Gemini codec (one the Bedrock plugin), served as the
# shape variants serve theirs.
if SHAPES in sys.modules and all(
    importlib.util.find_spec(n) is not None for n in ("lmux_plug_gemini", "lmux_plug_bedrock")
):
    load_example("details.py", DETAILS)
# The family variants (family_contract's clauses) wrap the Gemini codec the detail ones serve.
FAMILY_EDGES = "lmux_contract_examples_family_edges"
if DETAILS in sys.modules:
    load_example("family_edges.py", FAMILY_EDGES)
# The edge-case variants (acme's and the Anthropic codec's) for edge_contract's clauses.
EDGE_CASES = "lmux_contract_examples_edge_cases"
if SHAPES in sys.modules:
    load_example("edge_cases.py", EDGE_CASES)
# The OpenAI dialect variants (the in-repo OpenAI codec serving OpenRouter, Mistral, Groq and
# Together) for the clauses their dialects reach.
OPENAI_DIALECTS = "lmux_contract_examples_openai_dialects"
if SHAPES in sys.modules and importlib.util.find_spec("lmux_plug_openai") is not None:
    load_example("openai_dialects.py", OPENAI_DIALECTS)
