"""Acceptance: `lmux-plug certify` on a plugin installed from outside this repository.

The plugin is a tiny distribution (pyproject + entry point) written to a temporary
directory and installed with ``pip install --no-deps --no-build-isolation`` into a fresh
venv that also sees this environment's packages; the command runs in that venv's
interpreter, as a plugin author would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ACME_SOURCE = (Path(__file__).resolve().parent / "broken" / "acme.py").read_text(encoding="utf-8")
GOOD_TAIL = "\n\nplugin = AcmePlugin()\n"
BROKEN_TAIL = """

class _SwappedUsage(AcmePlugin):
    def usage(self, data):
        usage = super().usage(data)
        return Usage(input_tokens=usage.output_tokens, output_tokens=usage.input_tokens)


plugin = _SwappedUsage()
"""
PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "lmux-plug-acme"
version = "1.0.0"
dependencies = ["lmux_plug>=0.1"]

[project.entry-points.lmux_plug]
acme = "lmux_plug_acme:plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/lmux_plug_acme"]
"""


def _install(root: Path, source: str) -> Path:
    """Build the distribution in ``root`` and pip-install it into a new venv; its python."""
    project = root / "lmux-plug-acme"
    package = project / "src" / "lmux_plug_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source, encoding="utf-8")
    (project / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    env_dir = root / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The venv sees this environment's packages (lmux_plug, the suite, hatchling) the way
    # --system-site-packages would if this environment were the system one.
    here = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "_parent_env.pth").write_text(
        f"import site; site.addsitedir({here!r})\n", encoding="utf-8"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(project),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return python


def _certify(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ACME_API_KEY", "PYTHONPATH")}
    command = [str(python), "-m", "lmux_plug", "certify", "acme", "--examples", "5", *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_certify_an_installed_third_party_plugin(tmp_path: Path) -> None:
    python = _install(tmp_path, ACME_SOURCE + GOOD_TAIL)
    report = tmp_path / "report.json"
    result = _certify(python, tmp_path, "--report-json", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lmux-plug certification report" in result.stdout
    assert "acme:" in result.stdout and "CERTIFIED" in result.stdout
    rows = json.loads(report.read_text())
    outcomes = {row["clause"]: row["outcome"] for row in rows}
    assert outcomes["types.usage"] == "passed"
    assert outcomes["errors.http_status[429]"] == "passed"
    assert "failed" not in outcomes.values()


@pytest.mark.slow
def test_certify_a_broken_third_party_plugin_fails_naming_the_clause(tmp_path: Path) -> None:
    python = _install(tmp_path, ACME_SOURCE + BROKEN_TAIL)
    result = _certify(python, tmp_path)
    assert result.returncode != 0, result.stdout
    assert "NOT CERTIFIED" in result.stdout
    verdict = next(line for line in result.stdout.splitlines() if "failed clauses:" in line)
    assert "types.usage" in verdict.split("failed clauses:")[1]


def test_certify_without_a_name_is_a_usage_error() -> None:
    from lmux_plug_contract.cli import certify_main

    assert certify_main([]) == 2


def test_certify_an_unknown_provider_fails(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lmux_plug_contract", "no-such-provider", "-k", "types"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "no installed plugin declares 'no-such-provider'" in result.stderr


def _certify_report(cwd: Path, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lmux_plug_contract", "openai", "--report-json", str(report)]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_certify_report_is_reproducible(tmp_path: Path) -> None:
    # Property clauses and fault clauses, twice, in fresh processes: identical reports.
    selection = "arbitrary or errors.timeout or multibyte or stream_error_event or unexpected"
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    one = _certify_report(tmp_path, first, "-k", selection.replace("errors.", ""))
    two = _certify_report(tmp_path, second, "-k", selection.replace("errors.", ""))
    assert one.returncode == two.returncode == 0, one.stdout + one.stderr
    assert first.read_text() == second.read_text()
    rows = json.loads(first.read_text())
    assert len(rows) > 20, rows
    assert "hypothesis seed 20261202" in one.stdout, one.stdout


def test_certify_prints_the_seed_it_was_given(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    done = _certify_report(tmp_path, report, "--seed", "7", "-k", "arbitrary_splits")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hypothesis seed 7 " in done.stdout, done.stdout


def test_certify_failures_always_carry_a_reason(tmp_path: Path) -> None:
    # The CLI imports the suite before pytest in the parent process; the fresh child keeps
    # assertion rewriting, and every clause message is explicit anyway: no bare
    # "AssertionError" in the report.
    python = _install(tmp_path, ACME_SOURCE + BROKEN_TAIL)
    report = tmp_path / "report.json"
    result = _certify(python, tmp_path, "--report-json", str(report), "-k", "types")
    assert result.returncode != 0, result.stdout
    failed = [row for row in json.loads(report.read_text()) if row["outcome"] == "failed"]
    assert failed, result.stdout
    for row in failed:
        assert row["detail"] not in ("", "AssertionError", "assert False"), row
        assert len(row["detail"]) > 20, row


def test_every_clause_assertion_has_a_message() -> None:
    import ast

    import lmux_plug_contract.contract as clauses

    tree = ast.parse(Path(clauses.__file__).read_text(encoding="utf-8"))
    bare = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.msg is None]
    assert not bare, f"asserts without a message at lines {bare} of {clauses.__file__}"


def test_certify_catches_import_time_io_in_a_fresh_process(tmp_path: Path) -> None:
    io_at_import = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9), timeout=0.2).close()\n"
        "except OSError:\n"
        "    pass\n"
    )
    python = _install(tmp_path, ACME_SOURCE + "\n" + io_at_import + GOOD_TAIL)
    report = tmp_path / "report.json"
    result = _certify(python, tmp_path, "--report-json", str(report), "-k", "loading")
    assert result.returncode != 0, result.stdout
    rows = {row["clause"]: row for row in json.loads(report.read_text())}
    assert rows["loading.no_io_at_load"]["outcome"] == "failed", rows
    assert "127.0.0.1" in rows["loading.no_io_at_load"]["detail"], rows
