"""The recording loader in ``lmux_plug.testing.wire``, on small hand-written recordings."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import parse_json
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import recordings
from lmux_plug.testing.wire import sse_events
from lmux_plug.testing.wire import sse_json
from lmux_plug.testing.wire import wire_dir

pytest.importorskip("yaml")

CASSETTE = """\
interactions:
- request:
    body: '{"model": "m"}'
    method: POST
    uri: https://api.example.com/v1/chat/completions
  response:
    body:
      string: !!binary |
        @GZ@
    headers:
      ? !!python/object/apply:multidict._multidict.istr
      - X-Request-Id
      : - req_1
      Set-Cookie:
      - a=1
      - b=2
    status:
      code: 200
      message: OK
- request:
    body: null
    method: GET
    uri: https://api.example.com/v1/models
  response:
    body:
      base64_string: @B64@
    headers: {}
    status:
      code: 404
- request:
    method: POST
    uri: https://api.example.com/v1/embeddings
    parsed_body: {"input": "x"}
  response:
    parsed_body: {"data": []}
    headers: {}
    status: 200
"""


def test_vcr_cassette_bodies_headers_and_status(tmp_path: Path) -> None:
    gz = base64.b64encode(gzip.compress(b'{"ok": true}')).decode()
    b64 = base64.b64encode(b'{"error": "missing"}').decode()
    path = tmp_path / "c.yaml"
    path.write_text(CASSETTE.replace("@GZ@", gz).replace("@B64@", b64))
    first, second, third = load_recording(path)
    assert first.source == path
    assert first.format == "vcr"
    assert (first.request.method, first.request.uri) == (
        "POST",
        "https://api.example.com/v1/chat/completions",
    )
    assert first.request.json() == {"model": "m"}
    assert first.response.status == 200
    assert first.response.body == b'{"ok": true}'
    assert first.response.headers == {"x-request-id": "req_1", "set-cookie": "b=2"}
    assert first.response.header_list == (
        ("X-Request-Id", "req_1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    )
    assert second.request.body is None
    assert second.request.json() is None
    assert (second.response.status, second.response.body) == (404, b'{"error": "missing"}')
    assert third.request.json() == {"input": "x"}
    assert json.loads(third.response.body) == {"data": []}
    assert third.response.status == 200


def test_har_entries(tmp_path: Path) -> None:
    entry = {
        "request": {"method": "POST", "url": "https://x/v1/m", "postData": {"text": "{}"}},
        "response": {
            "status": 529,
            "headers": [{"name": "Request-Id", "value": "r9"}],
            "content": {"text": base64.b64encode(b"body").decode(), "encoding": "base64"},
        },
    }
    path = tmp_path / "e.har"
    path.write_text(json.dumps({"log": {"entries": [entry]}}))
    (exchange,) = load_recording(path)
    assert exchange.format == "har"
    assert (exchange.request.method, exchange.request.uri, exchange.request.body) == (
        "POST",
        "https://x/v1/m",
        b"{}",
    )
    assert (exchange.response.status, exchange.response.body) == (529, b"body")
    assert exchange.response.headers == {"request-id": "r9"}


@pytest.mark.parametrize(
    ("name", "text", "kind", "body", "content_type"),
    [
        (
            "s.chunks.txt",
            '{"a": 1}\n\n{"b": 2}\n',
            "sse-body",
            b'data: {"a": 1}\n\ndata: {"b": 2}\n\n',
            "text/event-stream",
        ),
        ("b.json", '{"choices": []}', "json-body", b'{"choices": []}', "application/json"),
    ],
)
def test_body_only_fixtures(
    tmp_path: Path, *, name: str, text: str, kind: str, body: bytes, content_type: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    (exchange,) = load_recording(path)
    assert exchange.format == kind
    assert exchange.response.body == body
    assert exchange.response.headers == {"content-type": content_type}
    assert (exchange.request.uri, exchange.response.status) == (None, None)


def test_recordings_lists_known_endings_and_tolerates_a_missing_folder(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.har", "c.chunks.txt", "skip.yaml", "notes.md"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_text("")
    found = recordings(tmp_path, exclude={"skip.yaml"})
    assert [p.name for p in found] == ["a.yaml", "b.har", "c.chunks.txt"]
    assert recordings(tmp_path / "absent") == []
    assert wire_dir("/repo", "gemini") == Path("/repo/../shared/wire/gemini")
    assert parse_json(b"not json") is None


def test_recording_params_ids_selection_and_a_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.yaml", "b.json", "skip.yaml"):
        (tmp_path / "sub" / name).write_text("")
    params = recording_params(tmp_path, exclude={"skip.yaml"}, select=lambda p: p.suffix != ".json")
    assert [(p.id, p.values) for p in params] == [("sub/a.yaml", (tmp_path / "sub" / "a.yaml",))]
    (missing,) = recording_params(tmp_path / "absent")
    assert (missing.id, missing.values) == ("no-wire-folder", (None,))
    (mark,) = missing.marks
    assert mark.name == "skip"
    assert str(tmp_path / "absent") in mark.kwargs["reason"]


def test_sse_events_and_json_read_a_recorded_stream_plainly() -> None:
    body = (
        b": keep-alive\r\n\r\n"
        b'event: delta\r\ndata: {"a":\r\ndata:  1}\r\n\r\n'
        b'data: {"b": 2}\n\n'
        b"data: [DONE]\n\n"
    )
    assert sse_events(body) == [
        ("delta", '{"a":\n1}'),
        ("message", '{"b": 2}'),
        ("message", "[DONE]"),
    ]
    assert sse_json(body.decode()) == [{"a": 1}, {"b": 2}]
