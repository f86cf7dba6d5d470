"""Proof that the suite catches defects: each broken plugin fails on the clause naming its defect.

The suite runs as pytest would run it in a plugin author's repository (``pytester``): a
test module with one ``ProviderContract`` subclass, the report written as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest


def declared_defects(name: str) -> dict[str, tuple[str, str]]:
    """variant -> (the clause it must fail, the -k expression selecting it) of example ``name``.

    Each broken variant states its ``fails_on`` next to its defect, so a variant cannot be
    added without being run; a module not loaded (its plugin is not installed) has none.
    """
    module = sys.modules.get(name)
    return {
        variant: value.fails_on
        for variant, value in sorted(vars(module).items() if module else ())
        if isinstance(value, type) and "fails_on" in vars(value)
    }


# Loaded by this folder's conftest (shapes only with the Anthropic plugin installed).
DEFECTS = declared_defects("lmux_contract_examples_broken")
#: Variants of the in-repo Anthropic codec (``broken/shapes.py``): the shape clauses need a
#: wire that reads conversations back, which acme's OpenAI wire does not.
SHAPE_DEFECTS = declared_defects("lmux_contract_examples_shapes")
#: Variants of acme for tool choices, unstated finish reasons, strict tools and cut-off calls.
EDGE_DEFECTS = declared_defects("lmux_contract_examples_tool_edges")

MODULE = """
import sys
from lmux_plug_contract import ProviderContract

broken = sys.modules[{name!r}]


class TestCertify(ProviderContract):
    provider = {provider!r}
    plugin = broken.{variant}()
"""


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _module(variant: str, *, shapes: bool = False, file: str | None = None) -> str:
    """The test module certifying ``variant`` of ``broken/<file>`` (default ``plugins.py``)."""
    name = "shapes" if shapes else Path(file).stem if file else "broken"
    return MODULE.format(
        name=f"lmux_contract_examples_{name}",
        provider="anthropic" if shapes else "acme",
        variant=variant,
    )


def _run(
    pytester: pytest.Pytester,
    variant: str,
    keyword: str,
    *,
    shapes: bool = False,
    file: str | None = None,
) -> tuple[dict[str, str], str]:
    pytester.makepyfile(test_certify=_module(variant, shapes=shapes, file=file))
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


@pytest.mark.parametrize(
    ("variant", "shapes"),
    [(v, False) for v in sorted(DEFECTS)] + [(v, True) for v in sorted(SHAPE_DEFECTS)],
)
def test_broken_plugin_fails_on_its_clause(
    pytester: pytest.Pytester, variant: str, *, shapes: bool
) -> None:
    clause, keyword = (SHAPE_DEFECTS if shapes else DEFECTS)[variant]
    outcomes, output = _run(pytester, variant, keyword, shapes=shapes)
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    # The report names the failed clause and the verdict.
    assert "NOT CERTIFIED" in output and clause in output


@pytest.mark.parametrize("variant", sorted(EDGE_DEFECTS))
def test_tool_edge_plugin_fails_on_its_clause(pytester: pytest.Pytester, variant: str) -> None:
    clause, keyword = EDGE_DEFECTS[variant]
    outcomes, output = _run(pytester, variant, keyword, file="tool_edges.py")
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    assert "NOT CERTIFIED" in output and clause in output


def test_baseline_passes_the_same_families(pytester: pytest.Pytester) -> None:
    # The unbroken plugin passes every family the broken ones are run with, so each failure
    # above is caused by its defect.
    families = [*DEFECTS.values(), *EDGE_DEFECTS.values()]
    keyword = " or ".join(f"({k})" for _, k in families)
    pytester.makepyfile(test_certify=_module("AcmePlugin"))
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k", keyword, "--lmux-examples", "10", "--lmux-report-json", str(report)
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    assert "failed" not in outcomes.values(), result.stdout.str()
    assert sum(o == "passed" for o in outcomes.values()) >= 40
    assert result.ret == 0


@pytest.mark.skipif(not SHAPE_DEFECTS, reason="lmux-plug-anthropic is not installed")
def test_unbroken_anthropic_codec_passes_the_shape_families(pytester: pytest.Pytester) -> None:
    # The codec the shape variants break passes their clauses unbroken.
    keyword = " or ".join(sorted({k for _, k in SHAPE_DEFECTS.values()}))
    outcomes, output = _run(pytester, "ServedAnthropic", keyword, shapes=True)
    assert "failed" not in outcomes.values(), output
    assert sum(o == "passed" for o in outcomes.values()) >= 10, output


#: Variants of the in-repo Gemini codec (``broken/details.py``, loaded by this folder's
#: conftest with the Gemini and Bedrock plugins installed) for the detail clauses, whose wire
#: declarations Gemini's wire has; the few that need another wire serve that provider's
#: plugin (``DETAIL_PROVIDERS``).
_DETAILS = sys.modules.get("lmux_contract_examples_details")
DETAIL_DEFECTS = declared_defects("lmux_contract_examples_details")
DETAIL_PROVIDERS: dict[str, str] = _DETAILS.DETAIL_PROVIDERS if _DETAILS else {}


def _run_detail(
    pytester: pytest.Pytester,
    variant: str,
    keyword: str,
    name: str = "lmux_contract_examples_details",
    provider: str | None = None,
) -> tuple[dict[str, str], str]:
    module = MODULE.format(
        name=name,
        provider=provider or DETAIL_PROVIDERS.get(variant, "gemini"),
        variant=variant,
    )
    pytester.makepyfile(test_certify=module)
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k", keyword, "--lmux-report-json", str(report), "-p", "no:cacheprovider"
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    return outcomes, result.stdout.str()


@pytest.mark.skipif(not DETAIL_DEFECTS, reason="lmux-plug-gemini or -bedrock is not installed")
@pytest.mark.parametrize("variant", sorted(DETAIL_DEFECTS))
def test_broken_gemini_variant_fails_on_its_clause(pytester: pytest.Pytester, variant: str) -> None:
    clause, keyword = DETAIL_DEFECTS[variant]
    outcomes, output = _run_detail(pytester, variant, keyword)
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    assert "NOT CERTIFIED" in output and clause in output


@pytest.mark.skipif(not DETAIL_DEFECTS, reason="lmux-plug-gemini or -bedrock is not installed")
def test_unbroken_gemini_codec_passes_the_detail_families(pytester: pytest.Pytester) -> None:
    # The codec the detail variants break passes their clauses unbroken.
    keyword = " or ".join(
        sorted(
            {
                k.split(" and ")[0]
                for v, (_, k) in DETAIL_DEFECTS.items()
                if v not in DETAIL_PROVIDERS
            }
        )
    )
    outcomes, output = _run_detail(pytester, "ServedGemini", keyword)
    assert "failed" not in outcomes.values(), output
    assert sum(o == "passed" for o in outcomes.values()) >= 6, output


#: Variants of the in-repo Gemini codec (``broken/family_edges.py``) for the clauses of
#: ``family_contract``: limits and statuses shared by a family of requests or events.
_FAMILY = sys.modules.get("lmux_contract_examples_family_edges")
FAMILY_DEFECTS: dict[str, tuple[str, str]] = _FAMILY.FAMILY_DEFECTS if _FAMILY else {}


#: Variants for the clauses of ``edge_contract`` (``broken/edge_cases.py``, loaded by this
#: folder's conftest with the Anthropic plugin installed): acme's, and the Anthropic codec's
#: where the clause needs that wire (``EDGE_CASE_PROVIDERS``).
_EDGE_CASES = sys.modules.get("lmux_contract_examples_edge_cases")
EDGE_CASE_DEFECTS: dict[str, tuple[str, str]] = _EDGE_CASES.EDGE_CASE_DEFECTS if _EDGE_CASES else {}


#: Variants of the in-repo OpenAI codec serving OpenAI-compatible servers in their own
#: dialects (``broken/openai_dialects.py``), each run as the provider it declares.
_DIALECTS = sys.modules.get("lmux_contract_examples_openai_dialects")
DIALECT_DEFECTS: dict[str, tuple[str, str]] = _DIALECTS.DIALECT_DEFECTS if _DIALECTS else {}


#: (module, provider, variant, (clause, -k keyword)) of the family and edge-case examples.
_TABLED_VARIANTS = [
    *(
        ("lmux_contract_examples_family_edges", _FAMILY.FAMILY_PROVIDERS.get(v, "gemini"), v, d)
        for v, d in sorted(FAMILY_DEFECTS.items())
        if _FAMILY is not None
    ),
    *(
        ("lmux_contract_examples_edge_cases", _EDGE_CASES.EDGE_CASE_PROVIDERS.get(v, "acme"), v, d)
        for v, d in sorted(EDGE_CASE_DEFECTS.items())
        if _EDGE_CASES is not None
    ),
    *(
        ("lmux_contract_examples_openai_dialects", _DIALECTS.DIALECT_PROVIDERS[v], v, d)
        for v, d in sorted(DIALECT_DEFECTS.items())
        if _DIALECTS is not None
    ),
]


@pytest.mark.skipif(
    not (FAMILY_DEFECTS and EDGE_CASE_DEFECTS),
    reason="lmux-plug-gemini, -bedrock or -anthropic is not installed",
)
@pytest.mark.parametrize(
    ("module_name", "provider", "variant", "defect"),
    _TABLED_VARIANTS,
    ids=[f"{provider}-{variant}" for _, provider, variant, _ in _TABLED_VARIANTS],
)
def test_tabled_variant_fails_on_its_clause(
    pytester: pytest.Pytester,
    module_name: str,
    provider: str,
    variant: str,
    defect: tuple[str, str],
) -> None:
    clause, keyword = defect
    module = MODULE.format(name=module_name, provider=provider, variant=variant)
    pytester.makepyfile(test_certify=module)
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k", keyword, "--lmux-report-json", str(report), "-p", "no:cacheprovider"
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    output = result.stdout.str()
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    assert "NOT CERTIFIED" in output and clause in output


@pytest.mark.skipif(not EDGE_CASE_DEFECTS, reason="lmux-plug-anthropic is not installed")
@pytest.mark.parametrize("provider", ["acme", "anthropic"])
def test_unbroken_plugins_pass_the_edge_case_families(
    pytester: pytest.Pytester, provider: str
) -> None:
    # The plugins the edge-case variants break pass those clauses unbroken.
    assert _EDGE_CASES is not None
    providers = _EDGE_CASES.EDGE_CASE_PROVIDERS
    keyword = " or ".join(
        sorted(
            {
                f"({k})"
                for v, (_, k) in EDGE_CASE_DEFECTS.items()
                if providers.get(v, "acme") == provider
            }
        )
    )
    baseline = "AcmePlugin" if provider == "acme" else "ServedAnthropic"
    module = MODULE.format(
        name="lmux_contract_examples_edge_cases", provider=provider, variant=baseline
    )
    pytester.makepyfile(test_certify=module)
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k", keyword, "--lmux-report-json", str(report), "-p", "no:cacheprovider"
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    assert "failed" not in outcomes.values(), result.stdout.str()
    assert sum(o == "passed" for o in outcomes.values()) >= 2, result.stdout.str()


@pytest.mark.skipif(not DIALECT_DEFECTS, reason="lmux-plug-openai or -anthropic is not installed")
@pytest.mark.parametrize(
    "baseline",
    ["ServedOpenAI", "ServedOpenRouter", "ServedMistral", "ServedGroq", "ServedTogether"],
)
def test_unbroken_openai_codec_passes_the_dialect_families(
    pytester: pytest.Pytester, baseline: str
) -> None:
    # The codec the dialect variants break passes their clauses unbroken, on each server.
    assert _DIALECTS is not None
    provider = _DIALECTS.DIALECT_PROVIDERS[baseline]
    keyword = " or ".join(
        sorted(
            {
                f"({k})"
                for v, (_, k) in DIALECT_DEFECTS.items()
                if _DIALECTS.DIALECT_PROVIDERS[v] == provider
            }
        )
    )
    outcomes, output = _run_detail(
        pytester, baseline, keyword, "lmux_contract_examples_openai_dialects", provider
    )
    assert "failed" not in outcomes.values(), output
    assert sum(o == "passed" for o in outcomes.values()) >= 1, output
