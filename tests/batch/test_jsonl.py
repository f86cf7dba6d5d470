from __future__ import annotations

import json

import pytest

from lmux_plug import InvalidRequestError
from lmux_plug.batch.jsonl import DoneLines
from lmux_plug.batch.jsonl import OutputFile
from lmux_plug.batch.jsonl import count_input_lines
from lmux_plug.batch.jsonl import encode_record
from lmux_plug.batch.jsonl import error_record
from lmux_plug.batch.jsonl import iter_input_lines
from lmux_plug.batch.jsonl import parse_chat_input
from lmux_plug.batch.jsonl import parse_embed_input
from lmux_plug.batch.structured import OutputParseError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'"hello"\n', (3, "hello")),
        (b'[{"role": "user", "content": "hi"}]', (3, [{"role": "user", "content": "hi"}])),
        (b'{"id": "a1", "prompt": "p"}', ("a1", "p")),
        (
            b'{"id": 7, "messages": [{"role": "user", "content": "m"}]}',
            (7, [{"role": "user", "content": "m"}]),
        ),
        (b'{"prompt": "no id"}', (3, "no id")),
    ],
)
def test_chat_input_shapes(raw, expected):
    assert parse_chat_input(raw, 3) == expected


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{not json", "line 4: not valid JSON"),
        (b"42", "line 4: expected a string"),
        (b'{"id": 1}', "needs 'messages'"),
        (b'{"messages": "text"}', "must be a list"),
    ],
)
def test_bad_chat_input_names_the_line(raw, match):
    with pytest.raises(InvalidRequestError, match=match):
        parse_chat_input(raw, 4)


def test_embed_input_shapes():
    assert parse_embed_input(b'"t"', 1) == (1, "t")
    assert parse_embed_input(b'{"id": "x", "input": "t"}', 1) == ("x", "t")
    assert parse_embed_input(b'{"text": "t"}', 2) == (2, "t")
    with pytest.raises(InvalidRequestError, match="line 5"):
        parse_embed_input(b'["a"]', 5)


def test_done_lines_bitset():
    done = DoneLines()
    assert done.add(1)
    assert done.add(1_000_000)
    assert done.add(9)
    assert not done.add(9)
    assert 1 in done
    assert 9 in done
    assert 1_000_000 in done
    assert 2 not in done
    assert 10**9 not in done
    assert "1" not in done
    assert done.count == 3


def test_records_start_with_line_and_error():
    ok = encode_record(12, None, {"id": "a", "output": "é"})
    assert ok.startswith(b'{"line": 12, "error": null, "id": "a"')
    assert ok.endswith(b"\n")
    assert ok.count(b"\n") == 1
    assert json.loads(ok)["output"] == "é"
    err = error_record(OutputParseError("bad", raw="xx", provider="p"))
    assert err == {
        "type": "OutputParseError",
        "message": "bad",
        "provider": "p",
        "retryable": False,
        "raw": "xx",
    }
    assert error_record(ValueError("v")) == {
        "type": "ValueError",
        "message": "v",
        "retryable": False,
    }


def test_input_iteration_skips_blank_and_done_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'"a"\n\n"b"\n   \n"c"')  # no newline at the end either
    assert count_input_lines(path) == 3
    done = DoneLines()
    done.add(3)
    assert list(iter_input_lines(path, done)) == [(1, b'"a"\n'), (5, b'"c"')]


def test_torn_tail_is_cut_and_scan_counts(tmp_path):
    path = tmp_path / "out.jsonl"
    good = encode_record(1, None, {"id": 1}) + encode_record(2, {"type": "X"}, {"id": 2})
    path.write_bytes(good + b'{"line": 3, "error": nu')
    out = OutputFile(path).open()
    try:
        assert out.truncated_bytes == len(b'{"line": 3, "error": nu')
        assert path.read_bytes() == good
        done = out.scan()
        assert (1 in done, 2 in done, 3 in done) == (True, True, False)
        assert (out.lines, out.failed) == (2, 1)
        out.write(encode_record(3, None, {"id": 3}))
    finally:
        out.close()
    assert path.read_bytes().count(b"\n") == 3


def test_torn_first_line_and_empty_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"line": 1, "err')
    out = OutputFile(path).open()
    out.close()
    assert path.read_bytes() == b""
    out = OutputFile(path).open()
    assert out.truncated_bytes == 0
    assert out.scan().count == 0
    out.close()


def test_scan_reads_foreign_key_order_and_flags_duplicates(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(
        '{"id": "z", "error": {"type": "E"}, "line": 4}\n'
        '{"line": 4, "error": null}\n'
        "garbage that is not json\n",
        encoding="utf-8",
    )
    out = OutputFile(path).open()
    done = out.scan()
    out.close()
    assert 4 in done
    # An error, then a success for the same line: a retry (--retry-failed) succeeded, so
    # the line's outcome is the success and nothing is duplicated.
    assert (out.lines, out.failed, out.duplicates) == (1, 0, 0)
    path.write_text('{"line": 4, "error": null}\n{"line": 4, "error": null}\n')
    out = OutputFile(path).open()
    out.scan()
    out.close()
    assert (out.lines, out.failed, out.duplicates) == (1, 0, 1)  # two successes: a duplicate


def test_a_misspelt_key_gets_a_did_you_mean():
    with pytest.raises(
        InvalidRequestError, match=r"line 2: unknown key 'promt' \(did you mean 'prompt'\?\)"
    ):
        parse_chat_input(b'{"promt": "p", "prompt": "q"}', 2)
