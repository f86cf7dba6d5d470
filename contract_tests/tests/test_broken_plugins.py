"""Proof that the suite catches defects: each broken plugin fails on the clause naming its defect.

The suite runs as pytest would run it in a plugin author's repository (``pytester``): a
test module with one ``ProviderContract`` subclass, the report written as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BROKEN = Path(__file__).resolve().parent / "broken"


def _load_defects() -> dict[str, tuple[str, str]]:
    import importlib.util
    import sys

    name = "lmux_contract_examples_broken"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BROKEN / "plugins.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].DEFECTS


DEFECTS = _load_defects()

MODULE = """
import importlib.util, sys
_name = "lmux_contract_examples_broken"
if _name not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_name, {path!r})
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _module
    _spec.loader.exec_module(_module)
broken = sys.modules[_name]

from lmux_plug_contract import ProviderContract


class TestCertify(ProviderContract):
    provider = "acme"
    plugin = broken.{variant}()
"""


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _run(pytester: pytest.Pytester, variant: str, keyword: str) -> tuple[dict[str, str], str]:
    pytester.makepyfile(
        test_certify=MODULE.format(path=str(BROKEN / "plugins.py"), variant=variant)
    )
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k",
        keyword,
        "--lmux-examples",
        "10",
        "--lmux-report-json",
        str(report),
        "-p",
        "no:cacheprovider",
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    return outcomes, result.stdout.str()


@pytest.mark.parametrize("variant", sorted(DEFECTS))
def test_broken_plugin_fails_on_its_clause(pytester: pytest.Pytester, variant: str) -> None:
    clause, keyword = DEFECTS[variant]
    outcomes, output = _run(pytester, variant, keyword)
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    # The report names the failed clause and the verdict.
    assert "NOT CERTIFIED" in output and clause in output


def test_baseline_passes_the_same_families(pytester: pytest.Pytester) -> None:
    # The unbroken plugin passes every family the broken ones are run with, so each failure
    # above is caused by its defect.
    keyword = " or ".join(f"({k})" for _, k in DEFECTS.values())
    pytester.makepyfile(
        test_certify=MODULE.format(path=str(BROKEN / "plugins.py"), variant="AcmePlugin")
    )
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k", keyword, "--lmux-examples", "10", "--lmux-report-json", str(report)
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    assert "failed" not in outcomes.values(), result.stdout.str()
    assert sum(o == "passed" for o in outcomes.values()) >= 40
    assert result.ret == 0
