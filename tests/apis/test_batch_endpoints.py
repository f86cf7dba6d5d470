"""``lmux-plug batch --endpoint responses|completions|transcription``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmux_plug import Registry
from lmux_plug import TranscriptionResponse
from lmux_plug.batch.cli import batch_main
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _read(path: Path) -> list[dict[str, object]]:
    return sorted((json.loads(x) for x in path.read_text().splitlines()), key=lambda r: r["line"])


def test_batch_responses_endpoint(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        ["hello there", {"id": "b", "input": [{"role": "user", "content": "second"}]}, {"x": 1}],
    )
    out = tmp_path / "out.jsonl"
    code = batch_main(
        [str(src), "-o", str(out), "-m", "echo/echo-1", "--endpoint", "responses", "--no-progress"]
    )
    assert code == 1  # the third line is malformed
    records = _read(out)
    assert [r["output"] for r in records] == ["hello there", "second", None]
    assert records[1]["id"] == "b"
    assert records[0]["status"] == "completed"
    assert records[0]["cost"] == 0.0
    assert records[2]["error"] is not None
    # Resumable: a second run answers nothing again.
    batch_main(
        [str(src), "-o", str(out), "-m", "echo/echo-1", "--endpoint", "responses", "--no-progress"]
    )
    assert len(_read(out)) == 3


def test_batch_completions_endpoint(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", ["abc", {"id": 7, "prompt": "xyz"}])
    out = tmp_path / "out.jsonl"
    args = [str(src), "-o", str(out), "-m", "echo/reverse", "--endpoint", "completions"]
    assert batch_main([*args, "--no-progress", "--max-tokens", "10"]) == 0
    records = _read(out)
    assert [r["output"] for r in records] == ["cba", "zyx"]
    assert records[0]["finish_reason"] == "stop"


def test_batch_transcription_endpoint_over_http(tmp_path: Path) -> None:
    """Audio files go as multipart uploads to a real gateway on 127.0.0.1."""
    registry = Registry()
    mock = MockProvider("mock")
    registry.register("mock", mock)
    mock.handler = lambda call: TranscriptionResponse(
        text=f"{len(call.request.audio)} bytes",
        model="m",
        provider="mock",
        language="en",
        duration=2.0,
    )
    (tmp_path / "a.wav").write_bytes(b"RIFF" + b"\x00" * 60)
    (tmp_path / "b.mp3").write_bytes(b"ID3" + b"\x01" * 10)
    src = _write(
        tmp_path / "in.jsonl",
        ["a.wav", {"id": "b", "file": "b.mp3", "language": "de"}, "missing.wav"],
    )
    out = tmp_path / "out.jsonl"
    with run_in_thread(create_app(registry=registry)) as url:
        code = batch_main(
            [
                str(src),
                "-o",
                str(out),
                "-m",
                "gw/mock/mock-model",
                "--endpoint",
                "transcription",
                "--provider",
                f"gw={url}",
                "--no-progress",
            ]
        )
    assert code == 1
    records = _read(out)
    assert [r["output"] for r in records] == ["64 bytes", "13 bytes", None]
    assert records[1]["duration"] == 2.0  # whisper-style usage in seconds, through the wire
    assert mock.calls[1].request.language == "de"
    assert mock.calls[1].request.filename == "b.mp3"
    assert "does not exist" in json.dumps(records[2]["error"])


@pytest.mark.parametrize(
    "extra",
    [["--embed"], ["--response-format", "json_object"], ["--system", "x"]],
)
def test_batch_endpoint_rejects_chat_only_options(tmp_path: Path, extra: list[str]) -> None:
    src = _write(tmp_path / "in.jsonl", ["x"])
    code = batch_main(
        [
            str(src),
            "-o",
            str(tmp_path / "o.jsonl"),
            "-m",
            "echo/echo-1",
            "--endpoint",
            "completions",
            *extra,
        ]
    )
    assert code == 2


@pytest.mark.parametrize("endpoint", ["responses", "completions"])
def test_batch_endpoint_honours_rpm(tmp_path: Path, endpoint: str) -> None:
    """--rpm holds the other APIs too: the engine's clock shows the waits (test mode)."""
    from lmux_plug.resilience.clock import SYSTEM_CLOCK
    from lmux_plug.resilience.clock import engine_test_mode

    src = _write(tmp_path / "in.jsonl", [f"line {i}" for i in range(6)])
    out = tmp_path / "out.jsonl"
    args = [str(src), "-o", str(out), "-m", "echo/echo-1", "--endpoint", endpoint]
    with engine_test_mode():
        before = SYSTEM_CLOCK.monotonic()
        code = batch_main([*args, "--rpm", "6", "--concurrency", "6", "--no-progress"])
        waited = SYSTEM_CLOCK.monotonic() - before
    assert code == 0
    assert [r["output"] for r in _read(out)] == [f"line {i}" for i in range(6)]
    # 6 a minute: after the first, each line waits its 10 s turn (virtual time).
    assert waited >= 40.0
