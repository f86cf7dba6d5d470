"""Discovery through entry points: installed plugins load, broken ones are reported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import python

GOOD = """
from lmux_plug import ProviderSpec, hookimpl

@hookimpl
def lmux_plug_providers():
    return [ProviderSpec(name="throwaway", wire="echo", base_url="https://throwaway.test")]
"""
IMPORT_FAILS = "raise ImportError('this plugin is broken on purpose')\n"
DECLARES_NONSENSE = """
from lmux_plug import hookimpl

@hookimpl
def lmux_plug_providers():
    return ["not a spec"]
"""


def make_distribution(site: Path, name: str, module_source: str) -> None:
    """Write a module plus a ``.dist-info`` with an ``lmux_plug`` entry point (an install)."""
    module = f"lmux_plug_{name}"
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"lmux_plug_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lmux-plug-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[lmux_plug]\n{name} = {module}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    make_distribution(tmp_path, "throwaway", GOOD)
    make_distribution(tmp_path, "broken", IMPORT_FAILS)
    make_distribution(tmp_path, "nonsense", DECLARES_NONSENSE)
    return tmp_path


def run_python(site: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]), **env}
    return python("-W", "ignore::UserWarning", "-c", code, env=environment)


def test_installed_plugin_is_discovered_and_routed_despite_broken_ones(site: Path) -> None:
    result = run_python(
        site,
        "import lmux_plug\n"
        "r = lmux_plug.Registry.from_entry_points()\n"
        "print(r.chat('throwaway/echo-1', 'routed!').content)\n"
        "print(sorted((b.name, b.reason.split(':')[0]) for b in r.broken))\n",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "routed!"
    assert lines[1] == "[('broken', 'import failed'), ('nonsense', 'bad declaration')]"


def test_broken_plugins_warn(site: Path) -> None:
    result = run_python(
        site,
        "import warnings, lmux_plug\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    lmux_plug.Registry.from_entry_points()\n"
        "print(sorted(str(w.message).split(':')[0] for w in caught))\n",
    )
    assert result.returncode == 0, result.stderr
    assert "lmux_plug plugin 'broken' skipped" in result.stdout
    assert "lmux_plug plugin 'nonsense' skipped" in result.stdout


def test_cli_lists_plugins_and_shows_broken_ones(site: Path) -> None:
    result = run_python(
        site, "import sys; from lmux_plug.cli import main; sys.exit(main(['plugins']))"
    )
    assert result.returncode == 0, result.stderr
    assert "throwaway" in result.stdout
    assert (
        "broken  BROKEN  import failed: ImportError: this plugin is broken on purpose"
        in result.stdout
    )
    assert "nonsense  BROKEN  bad declaration" in result.stdout
    strict = run_python(
        site, "import sys; from lmux_plug.cli import main; sys.exit(main(['plugins', '--strict']))"
    )
    assert strict.returncode == 1


def test_disable_env_blocks_plugins_by_name(site: Path) -> None:
    result = run_python(
        site,
        "import lmux_plug\n"
        "r = lmux_plug.Registry.from_entry_points()\n"
        "print([p.name for p in r.providers()], [b.name for b in r.broken])\n",
        LMUX_PLUG_DISABLE="throwaway, broken",
    )
    assert result.returncode == 0, result.stderr
    assert "'throwaway'" not in result.stdout.split("]")[0]
    assert result.stdout.strip().endswith("['nonsense']")


def test_explicit_registration_needs_no_entry_points() -> None:
    import lmux_plug

    module = type(sys)("inline_plugin")
    exec(GOOD, module.__dict__)
    with lmux_plug.Registry(plugins=[module]) as registry:
        assert registry.chat("throwaway/x", "explicit").content == "explicit"


def test_fast_scan_agrees_with_importlib_metadata(site: Path) -> None:
    """The start-up scanner finds exactly what importlib.metadata finds, for any group."""
    code = (
        "import importlib.metadata as md, sys\n"
        "from lmux_plug._entry_points import scan_group\n"
        "for group in ('lmux_plug', 'console_scripts', 'pytest11'):\n"
        "    fast = sorted((e.name, e.value) for e in scan_group(group))\n"
        "    ref = sorted({(e.name, e.value) for e in md.entry_points(group=group)})\n"
        "    print(group, fast == ref, len(fast))\n"
    )
    result = run_python(site, code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["lmux_plug", "True"],
        ["console_scripts", "True"],
        ["pytest11", "True"],
    ]
    assert int(lines[0].split()[2]) >= 3  # the three throwaway plugins at least


def test_zip_on_sys_path_falls_back_to_importlib_metadata(site: Path, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "extra.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("unrelated.py", "")
    result = run_python(
        site,
        f"import sys; sys.path.append({str(archive)!r})\n"
        "import lmux_plug\n"
        "r = lmux_plug.Registry.from_entry_points()\n"
        "print(r.chat('throwaway/x', 'via fallback').content)\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "via fallback"
