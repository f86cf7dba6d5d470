"""The pytest plugin (``pytest11``): options, the wire-server fixture and the certification report.

Options: ``--lmux-certify NAME`` (providers for classes that name none, and for
``lmux-plug certify``), ``--lmux-record {none,once,rewrite,synthesise}``,
``--lmux-cassettes DIR``, ``--lmux-examples N`` and ``--lmux-report-json PATH``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmux_plug_contract._session import DEFAULT_SEED
from lmux_plug_contract.server import WireServer

__all__ = ["STASH", "lmux_wire_server"]

STASH: dict[str, Any] = {
    "cassette_dir": pytest.StashKey[Path](),
    "reset": pytest.StashKey[set[Path]](),
    "results": pytest.StashKey[dict[tuple[str, str], tuple[str, str]]](),
}
RECORD_ENV = "LMUX_CONTRACT_RECORD"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--lmux-*`` options."""
    group = parser.getgroup("lmux-plug-contract", "lmux-plug provider certification")
    group.addoption(
        "--lmux-certify",
        action="append",
        default=[],
        metavar="NAME",
        help="provider(s) for ProviderContract classes that name none (comma-separated)",
    )
    group.addoption(
        "--lmux-record",
        default=os.environ.get(RECORD_ENV, "none"),
        choices=("none", "once", "rewrite", "synthesise"),
        help="cassette mode: none = replay (network blocked), once/rewrite = record from the "
        "real API with a real key, synthesise = record from the local wire server",
    )
    group.addoption(
        "--lmux-cassettes",
        default=None,
        metavar="DIR",
        help="cassette folder (default: <rootdir>/cassettes)",
    )
    group.addoption(
        "--lmux-recordings",
        action="append",
        default=[],
        metavar="PATH",
        help="file or folder of traffic recorded from the real API (vcrpy YAML, HAR) for "
        "the recorded.* clauses (repeatable)",
    )
    group.addoption(
        "--lmux-examples",
        default=25,
        type=int,
        metavar="N",
        help="Hypothesis examples per property clause (default 25)",
    )
    group.addoption(
        "--lmux-seed",
        default=DEFAULT_SEED,
        type=int,
        metavar="N",
        help=f"Hypothesis seed of the property clauses (default {DEFAULT_SEED}, printed)",
    )
    group.addoption(
        "--lmux-report-json",
        default=None,
        metavar="PATH",
        help="also write the certification report as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the clause marker and set up the run's state."""
    config.addinivalue_line("markers", "lmux_clause(name): a lmux-plug contract clause")
    folder = config.getoption("lmux_cassettes")
    config.stash[STASH["cassette_dir"]] = (
        Path(folder) if folder else Path(config.rootpath) / "cassettes"
    )
    config.stash[STASH["reset"]] = set()
    config.stash[STASH["results"]] = {}
    config.pluginmanager.register(_Reporter(config), "lmux-plug-contract-reporter")


def _providers(metafunc: pytest.Metafunc) -> list[str]:
    declared = getattr(metafunc.cls, "provider", None)
    if isinstance(declared, str):
        return [declared]
    if declared:
        return list(declared)
    names: list[str] = []
    for value in metafunc.config.getoption("lmux_certify"):
        names.extend(n.strip() for n in value.split(",") if n.strip())
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every clause once per provider under test."""
    if "lmux_contract_provider" in metafunc.fixturenames:
        names = _providers(metafunc)
        if not names:
            owner = metafunc.cls.__name__ if metafunc.cls else "contract"
            msg = f'{owner}: set `provider = "NAME"` or pass --lmux-certify NAME'
            raise pytest.UsageError(msg)
        metafunc.parametrize("lmux_contract_provider", names, ids=names)


@pytest.fixture(scope="session")
def lmux_wire_server() -> Iterator[WireServer]:
    """The local wire / fault server on 127.0.0.1, shared by every clause of the run."""
    with WireServer() as server:
        yield server


def _label(item: pytest.Item, name: str) -> tuple[str, str]:
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    provider = str(params.pop("lmux_contract_provider", "?"))
    extra = ",".join(str(v) for v in params.values())
    return provider, f"{name}[{extra}]" if extra else name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag clause items with their provider and clause label, for the report."""
    for item in items:
        marker = item.get_closest_marker("lmux_clause")
        if marker is not None:
            provider, label = _label(item, str(marker.args[0]))
            item.user_properties.append(("lmux_clause", label))
            item.user_properties.append(("lmux_provider", provider))


_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _detail(report: pytest.TestReport) -> str:
    """Why a clause failed or skipped: one line, without what changes from run to run."""
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    else:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or str(report.longrepr)
        if message.strip() in ("AssertionError", "assert False", ""):
            # Never a bare class name: fall back to the failing line of the clause.
            message = f"{message.strip() or 'failed'}: {_failing_line(report)}"
    message = _ADDRESS.sub("", _PORT.sub(r"\1:PORT", message))
    return " ".join(message.split())[:300]


def _failing_line(report: pytest.TestReport) -> str:
    text = str(report.longrepr)
    marked = [line.strip()[1:].strip() for line in text.splitlines() if line.lstrip()[:1] == ">"]
    if marked:
        return marked[-1]
    rest = text.strip().splitlines()
    return rest[-1] if rest else ""


def report_lines(
    results: dict[tuple[str, str], tuple[str, str]], seed: int | None = None
) -> list[str]:
    """The certification report as text lines."""
    lines = ["lmux-plug contract certification"]
    if seed is not None:
        lines.append(f"hypothesis seed {seed} (re-run with --lmux-seed {seed} / certify --seed)")
    providers = sorted({p for p, _ in results})
    for provider in providers:
        rows = sorted((c, o, d) for (p, c), (o, d) in results.items() if p == provider)
        width = max(len(c) for c, _, _ in rows)
        lines.append(f"provider {provider}:")
        for clause_name, outcome, detail in rows:
            shown = {"passed": "passed", "failed": "FAILED", "skipped": "skipped"}[outcome]
            suffix = f"  {detail}" if detail else ""
            lines.append(f"  {clause_name.ljust(width)}  {shown}{suffix}")
        counts = {
            o: sum(1 for _, oo, _ in rows if oo == o) for o in ("passed", "failed", "skipped")
        }
        verdict = "CERTIFIED" if counts["failed"] == 0 else "NOT CERTIFIED"
        failed = sorted({c.split("[")[0] for c, o, _ in rows if o == "failed"})
        lines.append(
            f"  {provider}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped: {verdict}"
            + (f" (failed clauses: {', '.join(failed)})" if failed else "")
        )
    return lines


class _Reporter:
    """Collects clause outcomes of one pytest run and prints the report at its end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[tuple[str, str], tuple[str, str]] = config.stash[STASH["results"]]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record each clause's outcome (a failure in any phase wins)."""
        props = dict(report.user_properties)
        if "lmux_clause" not in props:
            return
        key = (str(props["lmux_provider"]), str(props["lmux_clause"]))
        if report.failed:
            self.results[key] = ("failed", _detail(report))
        elif report.skipped:
            self.results.setdefault(key, ("skipped", _detail(report)))
        elif report.when == "call" and key not in self.results:
            self.results[key] = ("passed", "")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the certification report (and write it as JSON when asked)."""
        if not self.results:
            return
        terminalreporter.write_sep("=", "lmux-plug certification report")
        for line in report_lines(self.results, self.config.getoption("lmux_seed")):
            terminalreporter.write_line(line)
        path = self.config.getoption("lmux_report_json")
        if path:
            data = [
                {"provider": p, "clause": c, "outcome": o, "detail": d}
                for (p, c), (o, d) in sorted(self.results.items())
            ]
            Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")
