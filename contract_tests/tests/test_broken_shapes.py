"""The shape clauses catch what they name: each broken Anthropic-wire plugin fails on its clause.

Like ``test_broken_plugins.py`` (``pytester``, the report written as JSON), with the
variants of ``broken/shapes.py``, which serve the in-repo Anthropic codec as ``anthropic``
(the shape clauses need a wire that reads conversations back; acme's OpenAI wire does not).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("lmux_plug_anthropic")

SHAPES = Path(__file__).resolve().parent / "broken" / "shapes.py"

MODULE = """
import importlib.util, sys
_name = "lmux_contract_examples_shapes"
if _name not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_name, {path!r})
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _module
    _spec.loader.exec_module(_module)
broken = sys.modules[_name]

from lmux_plug_contract import ProviderContract


class TestCertify(ProviderContract):
    provider = "anthropic"
    plugin = broken.{variant}()
"""


def _defects() -> dict[str, tuple[str, str]]:
    import importlib.util
    import sys

    name = "lmux_contract_examples_shapes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SHAPES)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].SHAPE_DEFECTS


DEFECTS = _defects()


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _run(pytester: pytest.Pytester, variant: str, keyword: str) -> tuple[dict[str, str], str]:
    pytester.makepyfile(test_certify=MODULE.format(path=str(SHAPES), variant=variant))
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k", keyword, "--lmux-report-json", str(report), "-p", "no:cacheprovider"
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    return outcomes, result.stdout.str()


@pytest.mark.parametrize("variant", sorted(DEFECTS))
def test_broken_shape_fails_on_its_clause(pytester: pytest.Pytester, variant: str) -> None:
    clause, keyword = DEFECTS[variant]
    outcomes, output = _run(pytester, variant, keyword)
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    assert "NOT CERTIFIED" in output and clause in output


def test_unbroken_codec_passes_the_shape_clauses(pytester: pytest.Pytester) -> None:
    # The same codec unbroken passes every clause the variants fail, so each failure above
    # is caused by its defect.
    keyword = " or ".join(sorted({k for _, k in DEFECTS.values()}))
    outcomes, output = _run(pytester, "ServedAnthropic", keyword)
    assert outcomes, output
    assert "failed" not in outcomes.values(), output
    assert sum(o == "passed" for o in outcomes.values()) >= 10, output
