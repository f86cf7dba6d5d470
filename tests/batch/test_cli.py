from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmux_plug.batch.cli import batch_main
from lmux_plug.testing.fake_openai import FaultPlan

CLI = [sys.executable, "-m", "lmux_plug.batch.cli"]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end (at most 60 s), output captured as text."""
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _main(src: Path, out: Path, model: str, *options: str) -> int:
    """``lmux-plug batch SRC -o OUT -m MODEL --no-progress OPTIONS`` in this process."""
    return batch_main([str(src), "-o", str(out), "-m", model, "--no-progress", *options])


def _inputs(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        if i % 3 == 0:
            rows.append(json.dumps(f"prompt {i}"))
        elif i % 3 == 1:
            rows.append(json.dumps({"id": f"id-{i}", "prompt": f"prompt {i}"}))
        else:
            rows.append(json.dumps([{"role": "user", "content": f"prompt {i}"}]))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_bytes().splitlines()]


def _check_exactly_once(out: Path, n: int) -> None:
    data = out.read_bytes()
    assert data.endswith(b"\n")
    records = _lines(out)
    assert sorted(r["line"] for r in records) == list(range(1, n + 1))
    for record in records:
        i = record["line"] - 1
        assert record["error"] is None
        assert record["output"] == f"prompt {i}"
        assert record["id"] == (f"id-{i}" if i % 3 == 1 else record["line"])


def _wait_for_lines(out: Path, at_least: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= at_least:
            return
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be killed: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail("the batch made no progress")


def test_resume_after_sigkill_is_exactly_once(tmp_path):
    n = 4000
    src = _inputs(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    # --rpm slows the offline echo model to ~1000 items/s so the kills land mid-run.
    command = [
        *CLI,
        str(src),
        "-o",
        str(out),
        "-m",
        "echo/echo-1",
        "--rpm",
        "60000",
        "--fsync-interval",
        "0.05",
        "--progress-interval",
        "0.2",
    ]
    counts = []
    for at_least in (300, 1800):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for_lines(out, at_least, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        counts.append(out.read_bytes().count(b"\n"))
        assert counts[-1] < n
    assert counts[0] < counts[1]
    finished = _run(command)
    assert finished.returncode == 0, finished.stderr
    assert f"already done before this run: {counts[1]}" in finished.stderr
    assert f"{n - counts[1]} items this run" in finished.stderr
    _check_exactly_once(out, n)
    # A further run finds nothing to do and leaves the output as it is.
    before = out.read_bytes()
    again = _run(command)
    assert again.returncode == 0
    assert "0 items this run" in again.stderr
    assert out.read_bytes() == before


def test_sigint_stops_cleanly_and_resumes(tmp_path):
    n = 3000
    src = _inputs(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    command = [*CLI, str(src), "-o", str(out), "-m", "echo/echo-1", "--rpm", "60000"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_lines(out, 200, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "interrupted by SIGINT" in stderr
    partial = out.read_bytes()
    assert partial.endswith(b"\n")
    finished = _run(command)
    assert finished.returncode == 0, finished.stderr
    _check_exactly_once(out, n)


def test_torn_last_line_is_redone(tmp_path, capsys):
    src = _inputs(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    assert _main(src, out, "echo/echo-1") == 0
    records = out.read_bytes().splitlines(keepends=True)
    # Simulate a crash in the middle of writing the last line.
    out.write_bytes(b"".join(records[:-1]) + records[-1][:15])
    assert _main(src, out, "echo/echo-1") == 0
    err = capsys.readouterr().err
    assert "1 items this run" in err
    assert "cut a torn last line of 15 bytes" in err
    _check_exactly_once(out, 20)


def test_failures_exit_code_summary_and_allow_failures(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('"fine"\nnot json\n\n{"id": "q", "prompt": "also fine"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = batch_main([str(src), "-o", str(out), "-m", "echo/echo-1", "--progress-interval", "0"])
    err = capsys.readouterr().err
    assert code == 1
    assert "3 items this run (2 ok, 1 failed)" in err
    assert "echo/echo-1" in err
    assert "p50" in err
    assert "p95" in err
    assert err.count("batch: ") >= 1  # plain progress lines on a non-terminal stderr
    records = {r["line"]: r for r in _lines(out)}
    assert set(records) == {1, 2, 4}
    assert records[2]["error"]["type"] == "InvalidRequestError"
    assert records[2]["output"] is None
    assert records[2]["id"] == 2
    assert records[4]["id"] == "q"
    assert records[4]["output"] == "also fine"
    assert records[1]["usage"] == {"input_tokens": 1, "output_tokens": 1}
    assert records[1]["cost"] == 0.0
    assert records[1]["provider"] == "echo"
    # Resuming: nothing left, but earlier failures still make the exit code non-zero.
    assert _main(src, out, "echo/echo-1") == 1
    assert _main(src, out, "echo/echo-1", "--allow-failures") == 0


def test_system_and_ordered_output(tmp_path):
    src = _inputs(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    code = _main(src, out, "echo/reverse", "--ordered", "--system", "sys", "-c", "8")
    assert code == 0
    records = _lines(out)
    assert [r["line"] for r in records] == list(range(1, 301))
    assert records[0]["output"] == "0 tpmorp"


def test_embed_mode(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('"a"\n{"id": "b", "input": "bb"}\n[1]\n"ccc"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = _main(src, out, "echo/echo-1", "--embed", "--micro-batch-size", "2")
    assert code == 1  # line 3 is not a text
    records = {r["line"]: r for r in _lines(out)}
    assert len(records) == 4
    assert records[3]["error"]["type"] == "InvalidRequestError"
    assert len(records[1]["embedding"]) == 8
    assert records[2]["id"] == "b"
    assert "usage" in records[1]
    assert "usage" not in records[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.jsonl", "-o", "o.jsonl", "-m", "echo/echo-1"], "is not a file"),
        (["IN", "-o", "o.jsonl", "-m", "nope/x"], "unknown provider 'nope'"),
        (["IN", "-o", "o.jsonl", "-m", "echo/echo-1", "-c", "0"], "at least 1"),
        (
            ["IN", "-o", "o.jsonl", "-m", "echo/echo-1", "--embed", "--system", "s"],
            "cannot be combined",
        ),
        (
            ["IN", "-o", "o.jsonl", "-m", "echo/echo-1", "--response-format", "missing.json"],
            "--response-format",
        ),
        (["IN", "-o", "o.jsonl", "-m", "x/y", "--provider", "x"], "NAME=URL"),
        (["IN", "-o", "IN", "-m", "echo/echo-1"], "must not be the input"),
    ],
)
def test_usage_errors_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    Path("IN").write_text('"x"\n', encoding="utf-8")
    assert batch_main(argv) == 2
    assert message in capsys.readouterr().err


def test_response_format_file_must_be_a_schema(tmp_path, capsys):
    src = _inputs(tmp_path / "in.jsonl", 2)
    schema = tmp_path / "schema.json"
    schema.write_text("[1, 2]", encoding="utf-8")
    assert _main(src, tmp_path / "o", "echo/echo-1", "--response-format", str(schema)) == 2
    assert "response_format must be" in capsys.readouterr().err


@pytest.mark.parametrize("fake_server", [FaultPlan(reply='{"x": 1, "y": 2}')], indirect=True)
def test_structured_output_through_the_cli_and_a_real_socket(
    tmp_path, fake_server, openai_plugin_module
):
    src = _inputs(tmp_path / "in.jsonl", 30)
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
                "additionalProperties": False,
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    base = [
        *CLI,
        str(src),
        "-m",
        "fake/fake-model",
        "--provider",
        f"fake={fake_server.url}",
        "--response-format",
        str(schema),
    ]
    done = _run([*base, "-o", str(out)])
    assert done.returncode == 0, done.stderr
    records = _lines(out)
    assert len(records) == 30
    assert all(r["output_parsed"] == {"x": 1, "y": 2} for r in records)
    assert all(r["provider"] == "fake" for r in records)
    # The same answers against a schema they do not fit: typed per-line errors, exit 1.
    schema.write_text(
        json.dumps({"type": "object", "properties": {"z": {"type": "string"}}, "required": ["z"]}),
        encoding="utf-8",
    )
    bad = tmp_path / "bad.jsonl"
    failed = _run([*base, "-o", str(bad)])
    assert failed.returncode == 1
    for record in _lines(bad):
        assert record["error"]["type"] == "OutputParseError"
        assert record["error"]["raw"] == '{"x": 1, "y": 2}'
        assert record["output"] is None


def test_console_entry_through_the_main_cli(tmp_path):
    src = _inputs(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    done = _run(
        [
            sys.executable,
            "-m",
            "lmux_plug.cli",
            "batch",
            str(src),
            "-o",
            str(out),
            "-m",
            "echo/echo-1",
        ]
    )
    assert done.returncode == 0, done.stderr
    _check_exactly_once(out, 5)


def test_logical_model_through_a_router_config(tmp_path, monkeypatch, capsys):
    pytest.importorskip("lmux_plug.router")
    monkeypatch.chdir(tmp_path)
    Path("lmux.toml").write_text(
        '[models.fast]\n\n[[models.fast.deployments]]\nmodel = "echo/reverse"\n', encoding="utf-8"
    )
    src = _inputs(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    # The config is found from the working directory because -m names no provider.
    assert _main(src, out, "fast") == 0
    records = {r["line"]: r for r in _lines(out)}
    assert records[1]["output"] == "0 tpmorp"
    assert "echo/reverse" in capsys.readouterr().err
    assert _main(src, tmp_path / "o2", "slow") == 2
    assert "not a logical model" in capsys.readouterr().err


def test_router_as_client_of_the_sync_api(tmp_path):
    router_module = pytest.importorskip("lmux_plug.router")
    from lmux_plug import Registry
    from lmux_plug.batch import generate_batch

    registry = Registry()
    router = router_module.Router({"fast": ["echo/echo-1"]}, registry=registry)
    try:
        batch = generate_batch("fast", ["a", "b"], client=router)
        assert [r.output_text for r in batch.results] == ["a", "b"]
    finally:
        registry.close()
