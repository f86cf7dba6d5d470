"""``lmux-plug certify NAME...``: run the contract suite on installed plugins, print the report.

:func:`certify_main` is what the core CLI calls (``lmux-plug certify``); the console script
``lmux-plug-certify`` calls it too. It checks the arguments, then runs the certification in
a *fresh* Python process (:func:`certify_here` there): the plugins are imported in that
process for the first time, under a network guard that refuses every connection, so what
the caller's process imported earlier can neither hide import-time I/O nor be reused.
pytest runs on the suite's own test module with a neutral configuration, so the caller's
pytest settings cannot change the verdict.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["build_parser", "certify_here", "certify_main", "console_main"]

#: The Hypothesis seed when ``--seed`` is not given (the same as the pytest option's).
DEFAULT_SEED = 20_261_202


def build_parser(prog: str = "lmux-plug certify") -> argparse.ArgumentParser:
    """The argument parser of ``lmux-plug certify``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Certify installed lmux-plug provider plugins against the contract suite.",
    )
    parser.add_argument(
        "providers", nargs="*", metavar="NAME", help="Provider names (model prefixes)."
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="Certify every installed provider except the built-in echo.",
    )
    parser.add_argument(
        "--record",
        choices=("none", "once", "rewrite", "synthesise"),
        default="none",
        help="The cassette mode (default none: replay with the network blocked).",
    )
    parser.add_argument(
        "--cassettes",
        default=None,
        metavar="DIR",
        help="The cassette folder (default ./cassettes).",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=25,
        metavar="N",
        help="Hypothesis examples per property clause.",
    )
    parser.add_argument(
        "--recordings",
        action="append",
        default=[],
        metavar="PATH",
        help="Traffic recorded from the real API (vcrpy YAML or HAR; file or folder) for the "
        "recorded.* clauses (repeatable).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        metavar="N",
        help=f"The Hypothesis seed of the property clauses (default {DEFAULT_SEED}; printed).",
    )
    parser.add_argument(
        "--report-json", default=None, metavar="PATH", help="Also write the report as JSON."
    )
    parser.add_argument(
        "-k",
        dest="keyword",
        default=None,
        metavar="EXPR",
        help="Only the clauses matching EXPR (pytest -k).",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="Show pytest's failure details."
    )
    return parser


def _installed_providers() -> tuple[list[str], list[str]]:
    """Provider names and broken plugins, loading every plugin under a strict network guard."""
    import warnings  # noqa: PLC0415

    from lmux_plug_contract.cassettes import network_guard  # noqa: PLC0415

    with network_guard(allow_loopback=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lmux_plug import Registry  # noqa: PLC0415

        registry = Registry.from_entry_points(builtins=False)
    try:
        names = [spec.name for spec in registry.providers()]
        return names, [f"{b.name}: {b.reason}" for b in registry.broken]
    finally:
        registry.close()


def certify_main(argv: list[str]) -> int:
    """Check the arguments, then certify in a fresh process; 0 when every clause passed."""
    args = build_parser().parse_args(argv)
    if not args.providers and not args.all:
        build_parser().print_usage(sys.stderr)
        sys.stderr.write("lmux-plug certify: name at least one provider (or --all)\n")
        return 2
    command = [sys.executable, "-m", "lmux_plug_contract._certify_child", *argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(command, check=False, env=env).returncode  # noqa: S603


def certify_here(argv: list[str]) -> int:
    """The certification itself, in this process (which must not have imported any plugin)."""
    args = build_parser().parse_args(argv)
    names = list(args.providers)
    declared, broken = _installed_providers()
    if args.all:
        names.extend(n for n in declared if n not in names)
    if not names:
        build_parser().print_usage(sys.stderr)
        sys.stderr.write("lmux-plug certify: name at least one provider (or --all)\n")
        return 2
    installed = {*declared, "echo"}
    unknown = [name for name in names if name not in installed]
    if unknown:
        sys.stderr.write(
            f"lmux-plug certify: no installed plugin declares {', '.join(map(repr, unknown))} "
            f"(installed providers: {', '.join(sorted(installed))})\n"
            + "".join(f"  broken plugin (loaded with the network blocked) {b}\n" for b in broken)
        )
        return 2
    import pytest  # noqa: PLC0415 - only the certify command needs pytest

    # Located, not imported: pytest must import the clauses itself to rewrite their asserts.
    suite = importlib.util.find_spec("lmux_plug_contract.certify_suite")
    if suite is None or suite.origin is None:  # pragma: no cover - a broken installation
        sys.stderr.write("lmux-plug certify: lmux_plug_contract.certify_suite is missing\n")
        return 2

    cassettes = Path(args.cassettes) if args.cassettes else Path.cwd() / "cassettes"
    with tempfile.TemporaryDirectory(prefix="lmux-certify-") as folder:
        # A neutral ini file: the caller's pytest configuration must not change the verdict.
        ini = Path(folder) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        pytest_args = [
            suite.origin,
            "-c",
            str(ini),
            "--rootdir",
            folder,
            "-p",
            "lmux_plug_contract.plugin",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",  # the clauses drive their own loops; no async test plugin needed
            "--import-mode=importlib",
            "--lmux-certify",
            ",".join(names),
            "--lmux-record",
            args.record,
            "--lmux-cassettes",
            str(cassettes),
            "--lmux-examples",
            str(args.examples),
            "--lmux-seed",
            str(args.seed),
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ]
        pytest_args += ["-v", "--tb=short"] if args.verbose else ["-q", "--tb=no", "--no-header"]
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        for recording in args.recordings:
            pytest_args += ["--lmux-recordings", str(Path(recording).resolve())]
        if args.report_json:
            pytest_args += ["--lmux-report-json", args.report_json]
        code = pytest.main(pytest_args)
    return int(code)


def console_main() -> None:
    """Entry point of the ``lmux-plug-certify`` console script."""
    sys.exit(certify_main(sys.argv[1:]))
