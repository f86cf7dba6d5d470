"""Cassettes: central scrubbing, the secret scanner, and vcrpy replay of the core transport."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from lmux_plug import ApiKeyAuth
from lmux_plug import ProviderSpec
from lmux_plug.http import Transport

from lmux_plug_contract.cassettes import cassette_header
from lmux_plug_contract.cassettes import find_secrets
from lmux_plug_contract.cassettes import make_vcr
from lmux_plug_contract.cassettes import network_guard
from lmux_plug_contract.cassettes import write_header
from lmux_plug_contract.server import WireServer
from lmux_plug_contract.wires import Reply

REAL_LOOKING_KEY = "sk-proj-" + "Z9" * 20  # built at run time so no scanner flags this file


@pytest.fixture
def server():
    with WireServer() as running:
        yield running


def _spec() -> ProviderSpec:
    return ProviderSpec(
        name="acme",
        wire="openai",
        base_url="https://api.acme.example/v1",
        auth=ApiKeyAuth(env=("ACME_API_KEY",), header="x-goog-api-key", scheme=None, query="key"),
    )


async def _exchange(url: str, *, stream: bool) -> bytes:
    transport = Transport()
    try:
        headers = {
            "x-goog-api-key": REAL_LOOKING_KEY,
            "authorization": f"Bearer {REAL_LOOKING_KEY}",
            "cookie": "session=abc",
        }
        body = {"model": "m", "user": f"echo {REAL_LOOKING_KEY}"}
        params = {"key": REAL_LOOKING_KEY, "alt": "sse"}
        if not stream:
            response = await transport.request(
                "POST", url, headers=headers, json_body=body, params=params
            )
            return response.body
        streaming = await transport.stream(
            "POST", url, headers=headers, json_body=body, params=params
        )
        try:
            return b"".join([chunk async for chunk in streaming.iter_bytes()])
        finally:
            streaming.close()
    finally:
        await transport.aclose()


def test_recording_scrubs_declared_auth_cookies_and_org_ids(server, tmp_path):
    answer = json.dumps({"ok": True, "echo": REAL_LOOKING_KEY}).encode()
    server.serve(
        lambda _r: Reply(
            200, {"set-cookie": "s=1", "openai-organization": "org-" + "x" * 24}, (answer,)
        )
    )
    cassette = tmp_path / "c.yaml"
    recorder = make_vcr(_spec(), [REAL_LOOKING_KEY])
    with recorder.use_cassette(str(cassette), record_mode="all"):
        asyncio.run(_exchange(server.origin() + "/v1/chat", stream=False))
    text = cassette.read_text()
    assert REAL_LOOKING_KEY not in text
    assert "REDACTED" in text
    assert "set-cookie" not in text.lower() and "openai-organization" not in text.lower()
    assert "session=abc" not in text
    assert find_secrets(text) == []
    # the real server did receive the key: scrubbing happens in the cassette only
    assert server.requests[0].headers["x-goog-api-key"] == REAL_LOOKING_KEY


def test_vcrpy_replays_streamed_reads_through_the_core_transport(server, tmp_path):
    frames = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]
    server.serve(
        lambda _r: Reply(
            200, {"content-type": "text/event-stream"}, frames, stream=True, pause=0.01
        )
    )
    cassette = tmp_path / "s.yaml"
    recorder = make_vcr(_spec())
    with recorder.use_cassette(str(cassette), record_mode="all"):
        live = asyncio.run(_exchange(server.origin() + "/v1/chat", stream=True))
    assert live == b"".join(frames)
    server.stop()  # nothing to talk to any more: replay must come from the cassette
    with (
        network_guard(allow_loopback=False) as guard,
        recorder.use_cassette(str(cassette), record_mode="none"),
    ):
        replayed = asyncio.run(_exchange("https://api.acme.example/v1/chat", stream=True))
    assert replayed == live
    assert guard.attempts == []


def test_network_guard_blocks_and_records():
    import socket

    with network_guard(allow_loopback=False) as guard:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("api.openai.com", 443)
    assert guard.attempts == ["127.0.0.1", "api.openai.com"]


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-" + "A1" * 15,
        "sk-ant-api03-" + "b2" * 15,
        "AIza" + "C3" * 17,
        "gsk_" + "d4" * 12,
        "Bearer " + "e5" * 15,
    ],
)
def test_find_secrets_flags_real_looking_keys(secret):
    found = find_secrets(f"headers:\n  authorization: {secret}\n")
    assert found and found[0][0] == 2


def test_find_secrets_accepts_scrubbed_cassettes():
    assert find_secrets("authorization:\n- REDACTED\nx-api-key: REDACTED\nbody: hello\n") == []


def test_header_round_trip(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("interactions: []\nversion: 1\n")
    write_header(path, {"source": "synthesised", "wire": "openai"})
    write_header(path, {"source": "synthesised", "wire": "openai"})  # idempotent
    assert cassette_header(path) == {"source": "synthesised", "wire": "openai"}
    assert path.read_text().count("# lmux-plug-contract:") == 1


MODULE = """
import sys
from lmux_plug_contract import ProviderContract


class TestAcme(ProviderContract):
    provider = "acme"
    plugin = sys.modules["lmux_contract_examples_acme"].AcmePlugin()  # the outer conftest's
"""


def _outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, str]:
    report = pytester.path / "report.json"
    pytester.runpytest("--lmux-examples", "3", "--lmux-report-json", str(report), *args)
    return {row["clause"]: row["outcome"] for row in json.loads(report.read_text())}


def test_synthesise_then_replay_from_the_cassettes(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_acme=MODULE)
    selection = "types or streaming or embeddings or parity or cassettes"
    recorded = _outcomes(pytester, "-k", selection, "--lmux-record", "synthesise")
    assert "failed" not in recorded.values()
    folder = pytester.path / "cassettes" / "acme"
    assert sorted(p.name for p in folder.glob("*.yaml")) == [
        "embeddings.yaml",
        "streaming.yaml",
        "types.yaml",
    ]
    for path in folder.glob("*.yaml"):
        assert cassette_header(path)["source"] == "synthesised"
        assert "sk-lmuxcontract" not in path.read_text()
        assert "127.0.0.1" not in path.read_text()

    replayed = _outcomes(pytester, "-k", selection)
    assert replayed["types.usage"] == "passed" and replayed["auth.cassettes_clean"] == "passed"
    assert "failed" not in replayed.values()

    # A tampered cassette changes what the plugin sees: proof the replay comes from it.
    types = folder / "types.yaml"
    text = types.read_text()
    # YAML quotes the body one way or the other (double quotes once it holds non-ASCII).
    tampered_text = text.replace('"prompt_tokens":12', '"prompt_tokens":13').replace(
        '\\"prompt_tokens\\":12', '\\"prompt_tokens\\":13'
    )
    assert tampered_text != text, "the cassette does not hold the usage to tamper with"
    types.write_text(tampered_text)
    tampered = _outcomes(pytester, "-k", "types_usage")
    assert tampered["types.usage"] == "failed"


def test_a_secret_in_a_cassette_fails_its_clause(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_acme=MODULE)
    leaked = pytester.path / "cassettes" / "acme" / "types.yaml"
    leaked.parent.mkdir(parents=True)
    leaked.write_text(f"interactions: []\n# authorization: Bearer {REAL_LOOKING_KEY}\nversion: 1\n")
    outcomes = _outcomes(pytester, "-k", "cassettes_clean")
    assert outcomes == {"auth.cassettes_clean": "failed"}


def test_docs_list_every_clause():
    from lmux_plug_contract import CLAUSES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "certify.md").read_text()
    missing = [name for name, text in CLAUSES.items() if f"| `{name}` | {text} |" not in docs]
    assert not missing, f"docs/certify.md does not describe {missing}"


def test_scan_command(tmp_path):
    from lmux_plug_contract.scan import main

    clean = tmp_path / "clean" / "a.yaml"
    clean.parent.mkdir()
    clean.write_text("authorization:\n- REDACTED\n")
    assert main([str(clean.parent)]) == 0
    dirty = tmp_path / "dirty.yaml"
    dirty.write_text(f"x-api-key: {REAL_LOOKING_KEY}\n")
    assert main([str(clean.parent), str(dirty)]) == 1


def test_repository_cassettes_are_clean():
    from lmux_plug_contract.scan import scan

    assert scan([Path(__file__).resolve().parents[2] / "cassettes"]) == []
