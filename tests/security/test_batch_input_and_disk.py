"""Issue 12.18: a lone surrogate is one item's error; a full disk is a clear, distinct exit.

Run as a user runs the batch: ``python -m lmux_plug batch`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest


def test_lone_surrogate_is_a_per_item_error_and_resume_works(tmp_path: Path, batch_cli) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(
        '{"id": "a", "prompt": "fine"}\n'
        '{"id": "b", "prompt": "bad \\ud800 text"}\n'
        '"\\udfff alone"\n'
        '{"id": "\\ud800", "prompt": "id is bad"}\n'
        '{"id": "c", "prompt": "also fine"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    first = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1")
    assert first.returncode == 1, first.stderr  # items failed, the run did not crash
    assert "Traceback" not in first.stderr
    lines = {r["line"]: r for r in batch_cli.records(out)}
    assert len(lines) == 5
    assert lines[1]["output"] == "fine"
    assert lines[5]["output"] == "also fine"
    for number in (2, 3, 4):
        assert "lone surrogate" in lines[number]["error"]["message"]
    assert lines[2]["id"] == "b"
    assert lines[4]["id"] == "\ud800"  # kept, escaped in the file
    out.read_text(encoding="utf-8")  # the file is valid UTF-8
    again = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1")
    assert again.returncode == 1
    assert "Traceback" not in again.stderr
    assert len(batch_cli.records(out)) == 5


ENOSPC_AFTER = textwrap.dedent(
    """
    import errno, os
    _write = os.write
    _budget = [int(os.environ["FAKE_DISK_BYTES"])]
    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.endswith("out.jsonl"):
            if _budget[0] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if len(data) > _budget[0]:
                data = bytes(data[: _budget[0]])  # a short write, then the disk is full
            _budget[0] -= len(data)
        return _write(fd, data)
    os.write = write
    """
)


def test_full_disk_is_a_clear_message_and_exit_3(tmp_path: Path, batch_cli) -> None:
    (tmp_path / "sitecustomize.py").write_text(ENOSPC_AFTER)
    data = tmp_path / "in.jsonl"
    data.write_text("".join(f'{{"id": {i}, "prompt": "item {i}"}}\n' for i in range(200)))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FAKE_DISK_BYTES": "3000"}
    result = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1", "--ordered", env=env)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr
    assert "run the same command again" in result.stderr
    text = out.read_text()
    assert text.endswith("\n")  # no torn line left looking like an answer
    written = batch_cli.records(out)
    assert 0 < len(written) < 200
    # With space again, the same command finishes the job: exactly one line per input.
    resumed = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1", "--ordered")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["line"] for r in batch_cli.records(out)) == list(range(1, 201))


def test_full_tmpfs(tmp_path: Path, batch_cli) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the ENOSPC test above covers it")
    try:
        data = tmp_path / "in.jsonl"
        data.write_text("".join(f'{{"id": {i}, "prompt": "{"x" * 80}"}}\n' for i in range(400)))
        out = mount / "out.jsonl"
        result = batch_cli.run(str(data), "-o", str(out), "-m", "echo/echo-1")
        assert result.returncode == 3, result.stderr
        assert "No space left on device" in result.stderr
        assert out.read_bytes().endswith(b"\n")
        for line in out.read_text().splitlines():
            json.loads(line)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
