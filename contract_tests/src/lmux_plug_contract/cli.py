"""``lmux-plug certify NAME...``: run the contract suite on installed plugins, print the report.

:func:`certify_main` is what the core CLI calls (``lmux-plug certify``); the console script
``lmux-plug-certify`` calls it too. It runs pytest on the suite's own test module with a
neutral configuration, so the caller's pytest settings cannot change the verdict.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

__all__ = ["build_parser", "certify_main", "console_main"]


def build_parser(prog: str = "lmux-plug certify") -> argparse.ArgumentParser:
    """The argument parser of ``lmux-plug certify``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Certify installed lmux-plug provider plugins against the contract suite.",
    )
    parser.add_argument(
        "providers", nargs="*", metavar="NAME", help="provider names (model prefixes)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="certify every installed provider except the built-in echo",
    )
    parser.add_argument(
        "--record",
        choices=("none", "once", "rewrite", "synthesise"),
        default="none",
        help="cassette mode (default none: replay with the network blocked)",
    )
    parser.add_argument(
        "--cassettes", default=None, metavar="DIR", help="cassette folder (default ./cassettes)"
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=25,
        metavar="N",
        help="Hypothesis examples per property clause",
    )
    parser.add_argument(
        "--report-json", default=None, metavar="PATH", help="also write the report as JSON"
    )
    parser.add_argument(
        "-k",
        dest="keyword",
        default=None,
        metavar="EXPR",
        help="only clauses matching EXPR (pytest -k)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show pytest's failure details"
    )
    return parser


def _installed_providers() -> list[str]:
    import warnings  # noqa: PLC0415

    from lmux_plug import Registry  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = Registry.from_entry_points(builtins=False)
    try:
        return [spec.name for spec in registry.providers()]
    finally:
        registry.close()


def certify_main(argv: list[str]) -> int:
    """Run the certification; return 0 when every clause passed or was skipped as undeclared."""
    args = build_parser().parse_args(argv)
    names = list(args.providers)
    if args.all:
        names.extend(n for n in _installed_providers() if n not in names)
    if not names:
        build_parser().print_usage(sys.stderr)
        sys.stderr.write("lmux-plug certify: name at least one provider (or --all)\n")
        return 2
    installed = {*_installed_providers(), "echo"}
    unknown = [name for name in names if name not in installed]
    if unknown:
        sys.stderr.write(
            f"lmux-plug certify: no installed plugin declares {', '.join(map(repr, unknown))} "
            f"(installed providers: {', '.join(sorted(installed))})\n"
        )
        return 2
    import pytest  # noqa: PLC0415 - only the certify command needs pytest

    from lmux_plug_contract import certify_suite  # noqa: PLC0415

    cassettes = Path(args.cassettes) if args.cassettes else Path.cwd() / "cassettes"
    with tempfile.TemporaryDirectory(prefix="lmux-certify-") as folder:
        # A neutral ini file: the caller's pytest configuration must not change the verdict.
        ini = Path(folder) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        pytest_args = [
            str(Path(certify_suite.__file__)),
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
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
        ]
        pytest_args += ["-v", "--tb=short"] if args.verbose else ["-q", "--tb=no", "--no-header"]
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        if args.report_json:
            pytest_args += ["--lmux-report-json", args.report_json]
        code = pytest.main(pytest_args)
    return int(code)


def console_main() -> None:
    """Entry point of the ``lmux-plug-certify`` console script."""
    sys.exit(certify_main(sys.argv[1:]))
