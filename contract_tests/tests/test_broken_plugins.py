"""Proof that the suite catches defects: each broken plugin fails on the clause naming its defect.

The suite runs as pytest would run it in a plugin author's repository (``pytester``): a
test module with one ``ProviderContract`` subclass, the report written as JSON. Every
example module under ``broken/`` states, on each variant, the clause it must fail
(``fails_on``); the provider a variant is certified as is the one its ``spec`` declares.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

#: Each example module this folder's conftest loads (a module whose plugin is not installed
#: is not loaded and has no variants) -> the options its variants run with: the acme and
#: shape variants with fewer Hypothesis examples (their clauses draw many).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "lmux_contract_examples_broken": ("--lmux-examples", "10"),
    "lmux_contract_examples_tool_edges": ("--lmux-examples", "10"),
    "lmux_contract_examples_shapes": ("--lmux-examples", "10"),
    "lmux_contract_examples_details": (),
    "lmux_contract_examples_family_edges": (),
    "lmux_contract_examples_edge_cases": (),
    "lmux_contract_examples_margins": (),
    "lmux_contract_examples_answer_edges": (),
    "lmux_contract_examples_openai_dialects": (),
    "lmux_contract_examples_endings": (),
    "lmux_contract_examples_budgets": (),
}

#: provider -> (the example module holding its unbroken baseline, the baseline's name, the
#: fewest clause runs the baseline must pass).
BASELINES: dict[str, tuple[str, str, int]] = {
    "acme": ("lmux_contract_examples_broken", "AcmePlugin", 40),
    "anthropic": ("lmux_contract_examples_shapes", "ServedAnthropic", 10),
    "gemini": ("lmux_contract_examples_details", "ServedGemini", 6),
    "bedrock": ("lmux_contract_examples_details", "ServedBedrock", 2),
    **{
        provider: ("lmux_contract_examples_openai_dialects", f"Served{name}", 1)
        for provider, name in (
            ("openai", "OpenAI"),
            ("openrouter", "OpenRouter"),
            ("mistral", "Mistral"),
            ("groq", "Groq"),
            ("together", "Together"),
        )
    },
}

MODULE = """
import sys
from lmux_plug_contract import ProviderContract

broken = sys.modules[{name!r}]


class TestCertify(ProviderContract):
    provider = {provider!r}
    plugin = broken.{variant}()
"""


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


def _provider(module: str, variant: str) -> str:
    """The provider variant ``variant`` of example ``module`` declares."""
    spec: Any = getattr(sys.modules[module], variant).spec
    return str(spec.name)


#: (module, variant, provider, (clause, -k keyword)) of every broken variant.
VARIANTS = [
    (module, variant, _provider(module, variant), defect)
    for module in EXAMPLES
    for variant, defect in declared_defects(module).items()
]


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _certify(
    pytester: pytest.Pytester, module: str, variant: str, provider: str, keyword: str
) -> tuple[dict[str, str], pytest.RunResult]:
    """Run the clauses ``keyword`` selects on ``variant`` of ``module`` as ``provider``."""
    pytester.makepyfile(test_certify=MODULE.format(name=module, provider=provider, variant=variant))
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "-k",
        keyword,
        *EXAMPLES[module],
        "--lmux-report-json",
        str(report),
        "-p",
        "no:cacheprovider",
    )
    outcomes = {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}
    return outcomes, result


@pytest.mark.parametrize(
    ("module", "variant", "provider", "defect"),
    VARIANTS,
    ids=[f"{provider}-{variant}" for _, variant, provider, _ in VARIANTS],
)
def test_broken_variant_fails_on_its_clause(
    pytester: pytest.Pytester, module: str, variant: str, provider: str, defect: tuple[str, str]
) -> None:
    clause, keyword = defect
    outcomes, result = _certify(pytester, module, variant, provider, keyword)
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    output = result.stdout.str()
    assert any(name.split("[")[0] == clause for name in failed), (
        f"{variant}: expected {clause} to fail, failed: {failed}\n{output}"
    )
    # The report names the failed clause and the verdict.
    assert "NOT CERTIFIED" in output and clause in output


@pytest.mark.parametrize("provider", sorted({provider for _, _, provider, _ in VARIANTS}))
def test_unbroken_baseline_passes_the_same_clauses(
    pytester: pytest.Pytester, provider: str
) -> None:
    # The plugin or codec the variants of ``provider`` break passes every clause they are
    # run with, so each failure above is caused by its variant's defect.
    module, baseline, fewest = BASELINES[provider]
    keyword = " or ".join(
        sorted({f"({k})" for _, _, served, (_, k) in VARIANTS if served == provider})
    )
    outcomes, result = _certify(pytester, module, baseline, provider, keyword)
    assert "failed" not in outcomes.values(), result.stdout.str()
    assert sum(o == "passed" for o in outcomes.values()) >= fewest, result.stdout.str()
    assert result.ret == 0
