"""Model ids never bend the URL path (issue 12.4).

Every codec that puts a model id in a URL path (Gemini's ``models/<id>:method``, Azure's
``deployments/<id>``) escapes it as one path segment, and refuses ids with ``.``/``..``
segments or control characters before any I/O. The fake server on 127.0.0.1 records each
request-target exactly as it arrived on the socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable

import pytest

from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import Registry
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

KEY = "path-test-key-123456"


NOT_FOUND = Reply.with_json({"error": {"message": "no such model", "code": 404}}, status=404)


@pytest.fixture
async def server() -> AsyncIterator[tuple[WireServer, str]]:
    """The fake server answering 404 to everything; its requests show the targets sent."""
    async with WireServer(NOT_FOUND) as recorder:
        yield recorder, recorder.origin()


@pytest.fixture
async def registry(server: tuple[WireServer, str]) -> AsyncIterator[Registry]:
    _, url = server
    async with Registry.from_entry_points() as registry:
        registry.configure("gemini", base_url=url, api_key=KEY)
        registry.configure("azure", base_url=url, api_key=KEY)
        registry.configure("ollama", base_url=url, api_key=KEY)
        yield registry


async def _call(registry: Registry, model: str, kind: str) -> None:
    if kind == "chat":
        await registry.achat(model, "hi")
    elif kind == "stream":
        async for _chunk in registry.achat_stream(model, "hi"):
            pass
    else:
        await registry.aembed(model, ["hi"])


TRAVERSALS = [
    "gemini-2.5-flash/../gemini-2.5-pro",
    "../gemini-2.5-pro",
    "..",
    "gemini-2.5-flash/./x",
    "gemini-2.5-flash\\..\\gemini-2.5-pro",
    "gemini-2.5-flash\r\nX-Injected: 1",
    "gemini-2.5-flash\x00",
]


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("gemini", "chat"), ("gemini", "stream"), ("gemini", "embed"), ("azure", "chat")],
)
@pytest.mark.parametrize("model_id", TRAVERSALS)
async def test_path_tricks_are_refused_before_io(
    server: tuple[WireServer, str], registry: Registry, provider: str, model_id: str, kind: str
) -> None:
    recorder, _ = server
    with pytest.raises(InvalidRequestError):
        await _call(registry, f"{provider}/{model_id}", kind)
    assert recorder.requests == []


#: ``await target_sent(model, kind)``: the request-target of the one request that call sent.
TargetSent = Callable[[str, str], Awaitable[str]]


@pytest.fixture
def target_sent(server: tuple[WireServer, str], registry: Registry) -> TargetSent:
    """The request-target a call of ``model`` sent to the recorder (which answers 404)."""
    recorder, _ = server

    async def sent(model: str, kind: str) -> str:
        with pytest.raises(LmuxError):
            await _call(registry, model, kind)
        (target,) = [r.target for r in recorder.requests]
        return target

    return sent


@pytest.mark.parametrize(
    ("model_id", "segment"),
    [
        ("gemini-2.5-flash?alt=json&key=x", "gemini-2.5-flash%3Falt%3Djson%26key%3Dx"),
        ("gemini-2.5-flash#frag", "gemini-2.5-flash%23frag"),
        ("tuned/x", "tuned%2Fx"),
        ("a b", "a%20b"),
        ("gemini%2F..%2Fpro", "gemini%252F..%252Fpro"),
    ],
)
@pytest.mark.parametrize("kind", ["chat", "stream", "embed"])
async def test_gemini_escapes_the_id_into_one_segment(
    target_sent: TargetSent, model_id: str, segment: str, kind: str
) -> None:
    target = await target_sent(f"gemini/{model_id}", kind)
    method = {
        "chat": "generateContent",
        "stream": "streamGenerateContent",
        "embed": "batchEmbedContents",
    }
    assert target.split("?")[0] == f"/v1beta/models/{segment}:{method[kind]}"
    query = target.partition("?")[2]
    assert query in ("", "alt=sse")  # nothing from the id leaked into the query


@pytest.mark.parametrize(
    ("model_id", "segment"),
    [
        ("my-deploy?api-version=1999", "my-deploy%3Fapi-version%3D1999"),
        ("dep#x", "dep%23x"),
        ("team/dep", "team%2Fdep"),
    ],
)
@pytest.mark.parametrize("kind", ["chat", "embed"])
async def test_azure_escapes_the_deployment_into_one_segment(
    target_sent: TargetSent, model_id: str, segment: str, kind: str
) -> None:
    target = await target_sent(f"azure/{model_id}", kind)
    path, _, query = target.partition("?")
    tail = "chat/completions" if kind == "chat" else "embeddings"
    assert path == f"/openai/deployments/{segment}/{tail}"
    assert query.startswith("api-version=")
    assert query.count("api-version") == 1


@pytest.mark.parametrize("model_id", ["llama3/../../admin", "x?y=1#z"])
async def test_ollama_keeps_model_ids_out_of_the_path(
    target_sent: TargetSent, model_id: str
) -> None:
    assert await target_sent(f"ollama/{model_id}", "chat") == "/api/chat"


@pytest.mark.parametrize("model_id", ["..", "anthropic.claude/../x", "a\r\nb"])
def test_bedrock_refuses_path_tricks(model_id: str) -> None:
    from lmux_plug_bedrock._codec import model_path

    with pytest.raises(InvalidRequestError):
        model_path(model_id)
    assert model_path("anthropic.claude-3:0") == "anthropic.claude-3%3A0"


@pytest.mark.parametrize(
    "model_id", ["gemini-2.5-flash/../gemini-2.5-pro", "publishers/google/models/../x", "a\x00"]
)
def test_vertex_refuses_path_tricks(model_id: str) -> None:
    from lmux_plug_vertex_ai._urls import model_url

    with pytest.raises(InvalidRequestError):
        model_url(
            "https://aiplatform.googleapis.com",
            model_id,
            "generateContent",
            project="p",
            location="us-central1",
            options={},
        )
