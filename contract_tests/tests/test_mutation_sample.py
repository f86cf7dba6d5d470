"""Mutation testing in CI: a small seeded sample of the acme codec's mutants must be killed.

``contract_tests/mutation/run_mutation.py`` runs the contract suite alone against each mutant
of a codec (docs/certify.md, "Mutation testing"). The full runs take hours on two cores and
are reproduced with ``nox -s mutation``; CI runs the bounded sample below (about two minutes)
and fails when the suite lets a non-equivalent mutant of the sample live. The unit tests
check the scoring, so a survivor provably lowers the score.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "contract_tests" / "mutation" / "run_mutation.py"
#: The CI sample: mutants drawn from the acme codec with this seed, the score it must reach.
SAMPLE, SEED, THRESHOLD = 5, 13, 90.0


def _driver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lmux_run_mutation", DRIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(outcome: str, source: str = "x = 1", operator: str = "core/NumberReplacer") -> dict:
    return {
        "module": "contract_tests/tests/broken/acme.py",
        "line": 1,
        "source": source,
        "operator": operator,
        "occurrence": 0,
        "outcome": outcome,
        "worker": "normal",
        "diff": "",
    }


def test_a_survivor_lowers_the_score_below_the_threshold() -> None:
    score = _driver().score
    killed = [_row("killed") for _ in range(9)]
    assert score(killed, [])["score"] == 100.0
    result = score([*killed, _row("survived")], [])
    assert result["score"] == 90.0 and result["survived"] == 1
    result = score([*killed[:5], _row("survived")], [])
    assert result["score"] < THRESHOLD and len(result["survivors"]) == 1


def test_only_listed_equivalent_survivors_leave_the_score() -> None:
    score = _driver().score
    known = [{"module": "broken/acme.py", "operator": "*", "source": "done = False"}]
    rows = [_row("killed"), _row("survived", "done = False"), _row("survived", "done = True")]
    result = score(rows, known)
    assert (result["killed"], result["equivalent"], result["survived"]) == (1, 1, 1)
    assert result["score"] == 50.0


def test_a_timed_out_run_is_undecided_not_killed() -> None:
    # cosmic-ray reports a run it stopped at the timeout as killed, with the output "timeout".
    score = _driver().score
    stopped = {**_row("killed", "done = True"), "timed_out": True}
    result = score([_row("killed"), _row("survived"), stopped], [])
    assert (result["killed"], result["survived"], result["timed_out"]) == (1, 1, 1)
    assert result["score"] == 50.0 and result["undecided"] == [stopped]


def test_an_entry_naming_the_mutated_line_excuses_only_that_mutant() -> None:
    score = _driver().score
    line = "return n if n > 0 else 0"
    known = [
        {
            "module": "broken/acme.py",
            "operator": "*",
            "source": line,
            "mutated": "return n if n > -1 else 0",
        }
    ]
    diffs = [
        "-    return n if n > 0 else 0\n+    return n if n > -1 else 0",
        "+    return n if n > 1 else 0",
    ]
    rows = [{**_row("survived", line), "diff": diff} for diff in diffs]
    result = score(rows, known)
    assert (result["equivalent"], result["survived"]) == (1, 1)
    assert result["survivors"][0]["diff"] == diffs[1]


def test_equivalent_entries_name_lines_that_exist() -> None:
    # A stale entry (its line edited away) would silently stop excusing anything.
    driver = _driver()
    for entry in driver.equivalent_mutants():
        text = (ROOT / entry["module"]).read_text(encoding="utf-8")
        lines = {line.strip() for line in text.splitlines()}
        assert entry["source"] in lines, f"{entry['module']}: no line {entry['source']!r}"
        assert entry["reason"].strip(), entry
        # A mutated line names what the mutant writes: never the line as it stands.
        assert entry.get("mutated", "") != entry["source"], entry


def test_annotation_mutants_are_recognised_only_where_never_evaluated() -> None:
    spans = _driver().annotation_spans
    postponed = "from __future__ import annotations\ndef f(x: int | None) -> str | None: ...\n"
    assert len(spans(postponed)) == 2
    assert spans("def f(x: int | None) -> str | None: ...\n") == []


def test_stillborn_mutants_are_recognised() -> None:
    # `*` -> `//` in a signature cannot compile: it would "fail" every test run at import.
    compiles = _driver().compiles
    source = "def f(a, *, b):\n    return a * b\n"
    assert not compiles(source, "core/ReplaceBinaryOperator_Mul_FloorDiv", 0)
    assert compiles(source, "core/ReplaceBinaryOperator_Mul_FloorDiv", 1)


@pytest.mark.mutation
@pytest.mark.timeout(600)  # about two minutes alone; the machine may be shared
def test_the_contract_suite_kills_a_seeded_sample_of_acme_mutants(tmp_path: Path) -> None:
    report = tmp_path / "mutation.json"
    # The mutants run in a scratch copy of the tree: coverage of that copy means nothing.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    command = [
        sys.executable,
        str(DRIVER),
        "--targets",
        "acme",
        "--sample",
        str(SAMPLE),
        "--seed",
        str(SEED),
        "--threshold",
        str(THRESHOLD),
        "--timeout",
        "120",
        "--json",
        str(report),
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=560, check=False)
    assert report.exists(), f"the driver wrote no report:\n{run.stdout}\n{run.stderr}"
    (result,) = json.loads(report.read_text())
    assert result["mutants"] == SAMPLE, result
    assert result["incompetent"] == 0, result
    assert result["score"] >= THRESHOLD, f"surviving mutants:\n{run.stdout}"
    assert run.returncode == 0, run.stdout + run.stderr
