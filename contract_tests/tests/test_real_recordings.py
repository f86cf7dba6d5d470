"""Certify against traffic recorded from the real APIs (``../shared/wire``, read at test time).

The recordings are third-party vcrpy / pytest-recording cassettes and HAR files made with
real keys; they are never copied into this repository. Each in-repo plugin replays the
recorded answers of its own endpoints through the ``recorded.*`` clauses, and a plugin
with a defect only real traffic shows fails them. Without the folder the tests skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lmux_plug.testing.wire import recordings

from lmux_plug_contract._recorded import kind_of
from lmux_plug_contract._recorded import load_exchanges

ROOT = Path(__file__).resolve().parents[2]
WIRE = ROOT.parent / "shared" / "wire"

pytestmark = pytest.mark.skipif(not WIRE.is_dir(), reason=f"no recordings at {WIRE}")

MODULE = """
import sys
from lmux_plug_contract import ContractFixtures, ProviderContract

broken = sys.modules["lmux_contract_examples_broken"]  # loaded by the outer conftest


class TestCertify(ProviderContract):
    provider = {provider!r}
    plugin = {plugin}
    contract_fixtures = ContractFixtures(recordings={folders!r})
"""


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _certify(
    pytester: pytest.Pytester, provider: str, folders: list[str], plugin: str = "None"
) -> dict[str, str]:
    pytester.makepyfile(test_cert=MODULE.format(provider=provider, plugin=plugin, folders=folders))
    report = pytester.path / "report.json"
    pytester.runpytest(
        "-k", "recorded", "--lmux-report-json", str(report), "-p", "no:cacheprovider"
    )
    rows = json.loads(report.read_text())
    return {row["clause"]: f"{row['outcome']} {row['detail']}" for row in rows}


def test_the_recordings_are_real_third_party_cassettes() -> None:
    files = recordings(WIRE / "openai") + recordings(WIRE / "anthropic")
    assert len(files) > 50, f"only {len(files)} recordings under {WIRE}"
    exchanges = load_exchanges([WIRE / "openai", WIRE / "anthropic"])
    kinds = {kind_of(e) for e in exchanges}
    assert kinds >= {"chat", "stream", "embed", "error"}, kinds
    # Recorded with real keys and scrubbed by their projects: real hosts, not our fake.
    hosts = {e.request.uri.split("/")[2] for e in exchanges if e.request.uri}
    assert "api.openai.com" in hosts and "api.anthropic.com" in hosts, hosts


@pytest.mark.parametrize(
    ("provider", "folders"),
    [
        ("openai", ["openai"]),
        ("groq", ["groq"]),
        ("anthropic", ["anthropic"]),
        ("gemini", ["gemini"]),
        ("ollama", ["ollama"]),
    ],
)
def test_in_repo_plugins_certify_against_real_recordings(
    pytester: pytest.Pytester, provider: str, folders: list[str]
) -> None:
    outcomes = _certify(pytester, provider, [str(WIRE / f) for f in folders])
    failed = {c: o for c, o in outcomes.items() if o.startswith("failed")}
    assert not failed, failed
    passed = [c for c, o in outcomes.items() if o.startswith("passed")]
    # At least answers, streams and errors were replayed (embeddings where recorded).
    assert {"recorded.replay[chat]", "recorded.replay[stream]"} <= set(passed), outcomes


def test_a_defect_only_real_traffic_shows_fails_the_recorded_clause(
    pytester: pytest.Pytester,
) -> None:
    outcomes = _certify(
        pytester, "acme", [str(WIRE / "openai")], plugin="broken.AssumesCachedTokens()"
    )
    assert outcomes["recorded.replay[chat]"].startswith("failed"), outcomes
    assert "KeyError" in outcomes["recorded.replay[chat]"], outcomes


def test_the_baseline_passes_the_same_recordings(pytester: pytest.Pytester) -> None:
    outcomes = _certify(pytester, "acme", [str(WIRE / "openai")], plugin="broken.AcmePlugin()")
    assert not [o for o in outcomes.values() if o.startswith("failed")], outcomes
    assert outcomes["recorded.replay[chat]"].startswith("passed"), outcomes
