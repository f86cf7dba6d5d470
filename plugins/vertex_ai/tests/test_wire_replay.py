"""Replay every recorded Vertex AI exchange (``aiplatform.googleapis.com`` in ``../shared/wire``).

The Vertex AI recordings sit with the Gemini ones (same bodies). A server on 127.0.0.1
answers with the recorded status and body; the test calls the public API with the recorded
project, location, API version and model, checks that the plugin built the recorded path,
and compares the result with expectations read from the raw recorded body. Without the
recordings folder the test skips.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lmux_plug_vertex_ai
import pytest
from lmux_plug_vertex_ai import _auth

from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import Registry
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire import load_recording
from lmux_plug.testing.wire import recording_params
from lmux_plug.testing.wire import sse_json
from lmux_plug.testing.wire import wire_dir
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

WIRE = wire_dir(Path(__file__).resolve().parents[3])
_PATH = re.compile(
    r"/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/google/models/(?P<model>[^:]+):(?P<method>\w+)"
)
_FINISH = {"STOP": FinishReason.STOP, 1: FinishReason.STOP, "MAX_TOKENS": FinishReason.LENGTH}


def _on_vertex(path: Path) -> bool:
    return "aiplatform.googleapis.com" in path.read_text(encoding="utf-8", errors="replace")


def _prompt(sent: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "role": "assistant" if c.get("role") == "model" else "user",
            "content": "".join(p.get("text", "") for p in c["parts"]),
        }
        for c in sent["contents"]
    ]


@pytest.mark.parametrize("path", recording_params(WIRE / "gemini", select=_on_vertex))
async def test_recorded_vertex_exchange_through_the_public_api(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_ACCESS_TOKEN", "test-vertex-token-not-real")
    _auth.forget()
    for exchange in load_recording(path):
        assert exchange.request.uri is not None
        recorded = urlsplit(exchange.request.uri)
        match = _PATH.fullmatch(recorded.path)
        assert match is not None, recorded.path
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", match["project"])
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", match["location"])
        response = exchange.response
        status = response.status or 200
        content_type = response.headers.get("content-type", "application/json")
        recorded_reply = Reply.with_body(response.body, content_type, status=status)
        async with WireServer(recorded_reply) as server:
            url = server.origin()
            registry = Registry(plugins=[lmux_plug_vertex_ai], builtins=False)
            registry.configure("vertex_ai", base_url=f"{url}/{match['version']}")
            sent = exchange.request.json()
            model = f"vertex_ai/{match['model']}"
            params: dict[str, Any] = {}
            if sent.get("generationConfig"):
                # As recorded, even values the client-side checks would refuse (the server's
                # own 400 is what is replayed).
                params["extra_body"] = {"generationConfig": sent["generationConfig"]}
            try:
                if status >= 400:
                    with pytest.raises(LmuxError) as caught:
                        await registry.achat(model, _prompt(sent), **params)
                    error = json.loads(response.body)["error"]
                    assert caught.value.status_code == status
                    assert caught.value.provider == "vertex_ai"
                    assert error["message"] in str(caught.value)
                    kind = NotFoundError if status == 404 else InvalidRequestError
                    assert isinstance(caught.value, kind)
                elif match["method"] == "streamGenerateContent":
                    chunks = [c async for c in registry.achat_stream(model, _prompt(sent))]
                    events = sse_json(response.body)
                    text = "".join(
                        p.get("text", "")
                        for e in events
                        for c in e.get("candidates", [])
                        for p in c.get("content", {}).get("parts", [])
                        if not p.get("thought")
                    )
                    assert "".join(c.delta for c in chunks) == text
                    terminal = terminal_of(chunks)
                    usage = events[-1]["usageMetadata"]
                    assert terminal.usage is not None
                    assert terminal.usage.input_tokens == usage["promptTokenCount"]
                    assert terminal.usage.reasoning_tokens == usage.get("thoughtsTokenCount", 0)
                else:
                    answer = await registry.achat(model, _prompt(sent), **params)
                    body = json.loads(response.body)
                    candidate = body["candidates"][0]
                    assert answer.content == "".join(
                        p["text"] for p in candidate["content"]["parts"] if not p.get("thought")
                    )
                    assert answer.finish_reason is _FINISH[candidate["finishReason"]]
                    usage = body["usageMetadata"]
                    assert answer.usage.input_tokens == usage["promptTokenCount"]
                    assert answer.usage.output_tokens == usage["candidatesTokenCount"] + usage.get(
                        "thoughtsTokenCount", 0
                    )
                    assert answer.request_id == body.get("responseId")
            finally:
                await registry.aclose()
        assert [(r.method, r.path) for r in server.requests] == [("POST", recorded.path)]
