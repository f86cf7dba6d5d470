"""Developer sessions: ``nox -s tests``, ``lint``, ``typing``, ``contract``, ``mutation``,
``bench``."""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "typing", "tests"]

ROOT = Path(__file__).parent
PYTHONS = re.findall(
    r"Programming Language :: Python :: (3\.\d+)", (ROOT / "pyproject.toml").read_text()
)
PLUGINS = sorted(str(p.parent) for p in ROOT.glob("plugins/*/pyproject.toml"))
CONTRACT = ["contract_tests"] if (ROOT / "contract_tests" / "pyproject.toml").exists() else []


def install_project(session: nox.Session) -> None:
    editables = [arg for path in [".", *PLUGINS, *CONTRACT] for arg in ("-e", path)]
    session.install(*editables, "--group", "tests")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """All tests on each supported Python."""
    install_project(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy strict on the core and the plugins."""
    install_project(session)
    session.install("mypy")
    session.run("mypy", "lmux_plug", *[f"{p}/src" for p in PLUGINS])


@nox.session
def contract(session: nox.Session) -> None:
    """The contract suite over every plugin in plugins/, replay only (network blocked)."""
    install_project(session)
    for plugin in PLUGINS:
        session.run("lmux-plug", "certify", Path(plugin).name)


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation testing of the codecs against the contract suite alone (cosmic-ray).

    ``nox -s mutation`` runs every mutant of the acme example and the in-repo codecs (hours
    on two cores); ``nox -s mutation -- --targets acme`` only the acme example (about an
    hour); ``nox -s mutation -- --targets openai,anthropic --sample 25 --seed 13 --jobs 2``
    a seeded sample per codec. CI runs ``contract_tests/tests/test_mutation_sample.py``
    (``-m mutation``: six acme mutants, seed 13). cosmic-ray comes with the tests group.
    """
    install_project(session)
    session.run("python", "contract_tests/mutation/run_mutation.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (see bench/README.md); peers are installed in a bench-only venv."""
    install_project(session)
    session.run("python", "bench/run_all.py", *session.posargs)
