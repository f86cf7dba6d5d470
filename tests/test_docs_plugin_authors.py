"""The example plugin in ``docs/plugin-authors.md`` runs: a whole wire in two blocks.

The two marked code blocks are written out as a package, imported, registered and called
(chat and stream) against a fake acme server on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import Registry
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugin-authors.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"docs/plugin-authors.md lost its {name} example"
    return match.group(1)


@pytest.fixture
def acme_plugin(tmp_path: Path) -> Iterator[ModuleType]:
    package = tmp_path / "lmux_plug_acme"
    package.mkdir()
    (package / "_codec.py").write_text(example("acme_codec"))
    (package / "__init__.py").write_text(example("acme_plugin"))
    sys.path.insert(0, str(tmp_path))
    try:
        import lmux_plug_acme  # type: ignore[import-not-found]

        yield lmux_plug_acme
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("lmux_plug_acme")]:
            del sys.modules[name]


def acme_scenario(request: CapturedRequest) -> Reply:
    """The Acme API: ``POST /v1/models/{model}/chat``, JSON or NDJSON lines."""
    if not (request.path.startswith("/v1/models/") and request.path.endswith("/chat")):
        return Reply.with_json({"error": "not found"}, status=404)
    body = request.json()
    text = body["messages"][-1]["text"]
    if not body["stream"]:
        return Reply.with_json({"text": text.upper(), "usage": [3, 1]})
    lines = [json.dumps({"text": word}).encode() + b"\n" for word in text.split()]
    if text != "cut":
        lines.append(b'{"done": true, "usage": [3, 2]}\n')
    return Reply(200, {"content-type": "application/octet-stream"}, lines, stream=True)


@pytest.fixture
async def acme(acme_plugin: ModuleType) -> AsyncIterator[tuple[Registry, WireServer]]:
    async with WireServer(acme_scenario) as server, Registry([acme_plugin]) as registry:
        registry.configure("acme", base_url=f"{server.origin()}/v1", api_key="acme-doc-key-1")
        yield registry, server


async def test_the_documented_plugin_chats(acme: tuple[Registry, WireServer]) -> None:
    registry, server = acme
    answer = await registry.achat("acme/acme-large", "hello there")
    assert answer.content == "HELLO THERE"
    assert answer.cost is not None  # priced from the declared ModelSpec
    assert [r.path for r in server.requests] == ["/v1/models/acme-large/chat"]
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer acme-doc-key-1"]


async def test_the_documented_plugin_streams(acme: tuple[Registry, WireServer]) -> None:
    registry, _ = acme
    chunks = [c async for c in registry.achat_stream("acme/acme-large", "one two")]
    assert [c.delta for c in chunks] == ["one", "two", ""]
    assert chunks[-1].finish_reason is FinishReason.STOP
    with pytest.raises(ProviderError, match="truncated"):
        [c async for c in registry.achat_stream("acme/acme-large", "cut")]


async def test_the_documented_plugin_refuses_path_tricks(acme: tuple[Registry, WireServer]) -> None:
    registry, server = acme
    with pytest.raises(InvalidRequestError):
        await registry.achat("acme/acme-large/../admin", "hi")
    assert server.requests == []
