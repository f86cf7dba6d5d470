"""Issue 15 batch items, through the CLI in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest


def test_missing_credentials_stop_before_the_first_call(tmp_path: Path, batch_cli) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result, out = batch_cli.over(tmp_path, '"hi"\n' * 50, "openai/gpt-4o-mini", env=env)
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr
    assert not out.exists() or out.read_text() == ""


def test_missing_capability_stops_before_the_first_call(tmp_path: Path, batch_cli) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-real-000"}
    # A chat model asked to embed.
    result, out = batch_cli.over(tmp_path, '"hi"\n', "openai/gpt-4o-mini", "--embed", env=env)
    assert result.returncode == 2
    assert "does not support embed" in result.stderr
    assert not out.exists() or out.read_text() == ""


@pytest.fixture
def echo_batch(tmp_path: Path, batch_cli):  # type: ignore[no-untyped-def]
    """``echo_batch(lines, *options)``: the batch CLI on ``echo/echo-1`` over ``lines``.

    Records are written in input order (``--ordered``); returns the exit code and them.
    """

    def run(lines: str, *options: str) -> tuple[int, list[dict[str, object]]]:
        result, out = batch_cli.over(tmp_path, lines, "echo/echo-1", "--ordered", *options)
        return result.returncode, batch_cli.records(out)

    return run


def test_ids_keep_their_type(echo_batch) -> None:
    status, records = echo_batch(
        '{"id": 7, "prompt": "a"}\n{"id": "7", "prompt": "b"}\n{"id": [1, 2], "prompt": "c"}\n'
        '{"id": 1.5, "prompt": 3}\n{"id": null, "prompt": "e"}\n'
    )
    assert status == 1  # line 4 has no string prompt
    assert [r["id"] for r in records] == [7, "7", [1, 2], 1.5, None]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--rpm", "-1"), "--rpm must be a number > 0, got -1"),
        (("--rpm", "0"), "--rpm must be a number > 0, got 0"),
        (("--tpm", "nan"), "--tpm must be a number > 0, got nan"),
        (("--progress-interval", "-2"), "--progress-interval must be a number >= 0, got -2"),
        (("--fsync-interval", "-1"), "--fsync-interval must be a number >= 0, got -1"),
    ],
)
def test_out_of_range_numbers_are_usage_errors(
    tmp_path: Path, batch_cli, args: tuple[str, ...], expected: str
) -> None:
    # A negative --rpm was a ConfigurationError traceback; the others were taken silently.
    result, out = batch_cli.over(tmp_path, '"one"\n', "echo/echo-1", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"lmux-plug batch: {expected}" in result.stderr
    assert not out.exists()  # refused before the output is opened


def test_retry_failed_reruns_only_failures(tmp_path: Path, batch_cli) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('"one"\n"two"\n"three"\n')
    out = tmp_path / "out.jsonl"
    # A first run where line 2 failed (written as a failing run writes it).
    out.write_text(
        '{"line": 1, "error": null, "id": 1, "output": "one"}\n'
        '{"line": 2, "error": {"type": "RateLimitError", "message": "slow down", '
        '"retryable": true}, "id": 2, "output": null}\n'
    )
    plain = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1")
    assert plain.returncode == 1  # line 2 is still failed; only line 3 was run
    assert [r["line"] for r in batch_cli.records(out)] == [1, 2, 3]
    retried = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1", "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    final = batch_cli.records(out)
    assert [r["line"] for r in final] == [1, 2, 3, 2]
    assert final[-1]["output"] == "two"
    assert [r for r in final if r["line"] == 1] == [final[0]]  # the success ran once
    # The summary counts the rerun failure once, as rerun, not also as "done and failed".
    assert "already done before this run: 2; earlier failures run again: 1" in retried.stderr
    # Nothing left to retry: a further run does nothing and reports success.
    again = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1", "--retry-failed")
    assert again.returncode == 0
    assert len(batch_cli.records(out)) == 4
    assert "duplicate" not in again.stderr
    assert "already done before this run: 3; earlier failures run again: 0" in again.stderr


def test_shards_split_the_input(tmp_path: Path, batch_cli) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(f'{{"id": {i}, "prompt": "p{i}"}}\n' for i in range(10)))
    outputs = []
    for k in (1, 2, 3):
        out = tmp_path / f"out{k}.jsonl"
        result = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1", "--shard", f"{k}/3")
        assert result.returncode == 0, result.stderr
        outputs.append(batch_cli.records(out))
    lines = sorted(r["line"] for rs in outputs for r in rs)
    assert lines == list(range(1, 11))
    assert [r["line"] for r in outputs[0]] == sorted([1, 4, 7, 10])
    bad = batch_cli.run(
        str(data), "-o", str(tmp_path / "x.jsonl"), "-m", "echo/echo-1", "--shard", "4/3"
    )
    assert bad.returncode == 2
    assert "--shard" in bad.stderr


@pytest.mark.redis
def test_shards_share_one_rpm_budget_through_redis(
    tmp_path: Path, redis_process, batch_cli
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(f'"p{i}"\n' for i in range(40)))
    # rpm=600: 10 per second for both shards together; 40 lines need ~3.5 s at least.
    url = redis_process.url
    started = time.monotonic()
    shards = [
        subprocess.Popen(
            batch_cli.command(
                str(data),
                "-o",
                str(tmp_path / f"out{k}.jsonl"),
                "-m",
                "echo/echo-1",
                "--shard",
                f"{k}/2",
                "--rpm",
                "600",
                "--state",
                url,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for k in (1, 2)
    ]
    errors = [p.communicate(timeout=120)[1] for p in shards]
    elapsed = time.monotonic() - started
    assert [p.returncode for p in shards] == [0, 0], errors
    lines = sorted(r["line"] for k in (1, 2) for r in batch_cli.records(tmp_path / f"out{k}.jsonl"))
    assert lines == list(range(1, 41))
    # Shared: both shards together kept to ~10/s (alone each would take ~2 s).
    assert elapsed >= 3.0, elapsed


def test_an_unreachable_state_redis_stops_before_the_first_call(tmp_path: Path, batch_cli) -> None:
    # A port nobody listens on (bound, then closed): every shard would otherwise run on
    # its own limits, each spending the whole shared budget.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://user:s3cret-pass@127.0.0.1:{port}/0"
    result, out = batch_cli.over(tmp_path, '"hi"\n' * 5, "echo/echo-1", "--state", url)
    assert result.returncode == 2, result.stderr
    assert "cannot reach Redis" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "s3cret-pass" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "did you mean 'openai/gpt-4o-mini'?"),
        ("opena/gpt-4o-mini", "did you mean 'openai/gpt-4o-mini'?"),
    ],
)
def test_a_bare_or_misspelt_model_gets_a_did_you_mean(
    tmp_path: Path, batch_cli, model: str, expected: str
) -> None:
    result, out = batch_cli.over(tmp_path, '"hi"\n', model)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_known_provider_without_its_plugin_gets_the_install_hint(
    tmp_path: Path, batch_cli
) -> None:
    env = {**os.environ, "LMUX_PLUG_DISABLE": "anthropic"}
    result, out = batch_cli.over(tmp_path, '"hi"\n', "anthropic/claude-sonnet-4-5", env=env)
    assert result.returncode == 2
    assert "pip install lmux-plug-anthropic" in result.stderr
    assert not out.exists()


def test_a_bad_parameter_stops_before_the_first_call(tmp_path: Path, batch_cli) -> None:
    result, out = batch_cli.over(tmp_path, '"hi"\n' * 20, "echo/echo-1", "--temperature", "9")
    assert result.returncode == 2
    assert "temperature" in result.stderr
    assert not out.exists()  # not twenty error lines


def test_bad_input_lines_are_per_line_errors_and_the_rest_runs(echo_batch) -> None:
    status, records = echo_batch('"a"\nnot json\n{"prompt": 5}\n\n{"id": "x"}\n"b"\n')
    assert status == 1  # some lines failed
    assert [r["line"] for r in records] == [1, 2, 3, 5, 6]  # the blank line is skipped
    assert [r["output"] for r in records] == ["a", None, None, None, "b"]
    assert "not valid JSON" in records[1]["error"]["message"]
    assert records[3]["id"] == "x"
    assert all(r["error"]["type"] == "InvalidRequestError" for r in records[1:4])


def test_an_unknown_key_in_an_input_line_is_that_lines_error(echo_batch) -> None:
    status, records = echo_batch(
        '{"id": "a", "prompt": "kept"}\n{"id": "b", "prompt": "x", "temprature": 0}\n'
        '{"id": "c", "input": "also x"}\n'
    )
    assert status == 1  # lines 2 and 3 are errors, not silently sent without the key
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert records[0]["error"] is None
    assert records[0]["output"] == "kept"
    second, third = records[1]["error"], records[2]["error"]
    assert isinstance(second, dict)
    assert isinstance(third, dict)
    assert second["type"] == "InvalidRequestError"
    assert "unknown key 'temprature'" in second["message"]
    assert "temperature are options of the whole batch" in second["message"]
    assert "unknown key 'input'" in third["message"]


def test_an_unknown_key_in_an_embed_input_line_is_refused(echo_batch) -> None:
    status, records = echo_batch('{"id": 1, "input": "t", "dimension": 8}\n', "--embed")
    assert status == 1
    (record,) = records
    assert isinstance(record["error"], dict)
    assert "unknown key 'dimension'" in record["error"]["message"]
