"""Acceptance: `lmux-plug certify` on a plugin installed from outside this repository.

The plugin is a tiny distribution built in a temporary directory and made discoverable
through its ``.dist-info/entry_points.txt`` on ``PYTHONPATH``, exactly as pip would leave
it; the command runs in a fresh interpreter, as a plugin author would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ACME_SOURCE = (Path(__file__).resolve().parent / "broken" / "acme.py").read_text(encoding="utf-8")
BROKEN_TAIL = '''

class _SwappedUsage(AcmePlugin):
    def usage(self, data):
        usage = super().usage(data)
        return Usage(input_tokens=usage.output_tokens, output_tokens=usage.input_tokens)


plugin = _SwappedUsage()
'''


def _install(root: Path, source: str) -> Path:
    """Lay out a distribution ``lmux-plug-acme`` as an installer would (package + dist-info)."""
    site = root / "site"
    package = site / "lmux_plug_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source + "\n\nplugin = AcmePlugin()\n" if "plugin = _" not in source else source, encoding="utf-8")
    info = site / "lmux_plug_acme-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lmux-plug-acme\nVersion: 1.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[lmux_plug]\nacme = lmux_plug_acme:plugin\n", encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "lmux-plug-acme"\nversion = "1.0.0"\ndependencies = ["lmux_plug>=0.1"]\n'
        '[project.entry-points.lmux_plug]\nacme = "lmux_plug_acme:plugin"\n',
        encoding="utf-8",
    )
    return site


def _certify(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("ACME_API_KEY", None)
    command = [sys.executable, "-m", "lmux_plug", "certify", "acme", "--examples", "5", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_certify_an_installed_third_party_plugin(tmp_path: Path) -> None:
    site = _install(tmp_path / "dist", ACME_SOURCE)
    report = tmp_path / "report.json"
    result = _certify(site, tmp_path, "--report-json", str(report))
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
    source = ACME_SOURCE + BROKEN_TAIL
    site = _install(tmp_path / "dist", source)
    result = _certify(site, tmp_path)
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
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode != 0
    assert "no-such-provider" in result.stdout + result.stderr
