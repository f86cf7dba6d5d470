"""End to end: ``Registry(plugins=[lmux_plug_vertex_ai])`` against a Vertex AI server on 127.0.0.1.

The server is the project's fake server (``WireServer``) with a scenario serving the Vertex
AI REST paths
(``/{version}/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}``) with
Gemini GenerateContent bodies, SSE streams (``alt=sse``), ``:predict`` embeddings, Google
error bodies, and an OAuth token endpoint for google-auth's refresh of default credentials.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import lmux_plug_vertex_ai
import pytest
from lmux_plug_vertex_ai import _auth

from lmux_plug import AuthenticationError
from lmux_plug import ConfigurationError
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import NotFoundError
from lmux_plug import RateLimitError
from lmux_plug.testing.streams import terminal_of
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer

TOKEN = "test-vertex-token-not-real"
REFRESHED = "test-refreshed-token-not-real"
MODEL = "vertex_ai/gemini-2.5-flash"


def _answer(text: str, finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}
        ],
        "usageMetadata": {
            "promptTokenCount": 7,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 2,
            "cachedContentTokenCount": 4,
            "totalTokenCount": 12,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-v1",
    }


class FakeVertex:
    """The scenario: answers by method; also the OAuth token endpoint.

    ``requests`` are the model calls the server received (token refreshes are counted in
    ``token_requests``).
    """

    def __init__(self) -> None:
        self.server = WireServer(self)
        self.error: tuple[int, dict[str, Any]] | None = None

    @property
    def requests(self) -> list[CapturedRequest]:
        return [r for r in self.server.requests if r.path != "/token"]

    @property
    def token_requests(self) -> int:
        return sum(r.path == "/token" for r in self.server.requests)

    def __call__(self, request: CapturedRequest) -> Reply:
        if request.path == "/token":
            return self.token(request)
        if self.error is not None:
            return Reply.with_json(self.error[1], status=self.error[0])
        body = request.json()
        method = request.path.rsplit(":", 1)[1]
        if method == "generateContent":
            return Reply.with_json(_answer("Hello from Vertex"))
        if method == "predict":
            predictions = [
                {
                    "embeddings": {
                        "values": [float(len(i["content"])), 0.5],
                        "statistics": {"token_count": 2, "truncated": False},
                    }
                }
                for i in body["instances"]
            ]
            return Reply.with_json({"predictions": predictions})
        events = [
            {"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}}]}
            for piece in ("Hel", "lo")
        ]
        frames = [f"data: {json.dumps(e)}\r\n\r\n".encode() for e in [*events, _answer("!")]]
        return Reply(200, {"content-type": "text/event-stream"}, frames, stream=True)

    def token(self, request: CapturedRequest) -> Reply:
        form = parse_qs(request.body.decode())
        if form.get("grant_type") != ["refresh_token"]:
            return Reply.with_json({"error": "unsupported_grant_type"}, status=400)
        return Reply.with_json(
            {"access_token": REFRESHED, "expires_in": 3600, "token_type": "Bearer"}
        )


@pytest.fixture
async def vertex() -> AsyncIterator[tuple[FakeVertex, str]]:
    fake = FakeVertex()
    async with fake.server as running:
        yield fake, running.origin()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VERTEX_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # never probe a metadata server
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
    monkeypatch.setenv("CLOUDSDK_CONFIG", "/nonexistent/gcloud")
    _auth.forget()


async def test_generate_content_url_body_token_and_usage(vertex, plugin_registry) -> None:
    fake, url = vertex
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    answer = await reg.achat(
        MODEL,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        temperature=0.2,
        max_tokens=30,
    )
    sent = fake.requests[0]
    assert sent.path == (
        "/v1/projects/my-project/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 30},
    }
    assert answer.content == "Hello from Vertex"
    assert answer.provider == "vertex_ai"
    assert answer.finish_reason is FinishReason.STOP
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (7, 5)
    assert answer.usage.cache_read_tokens == 4
    assert answer.cost is not None


async def test_stream_uses_alt_sse(vertex, plugin_registry) -> None:
    fake, url = vertex
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    chunks = [c async for c in reg.achat_stream(MODEL, "Hi")]
    assert fake.requests[0].path.endswith(":streamGenerateContent")
    assert fake.requests[0].query == {"alt": "sse"}
    assert "".join(c.delta for c in chunks) == "Hello!"
    terminal = terminal_of(chunks)
    assert terminal.usage is not None
    assert terminal.usage.input_tokens == 7


async def test_global_location_and_v1beta1(vertex, monkeypatch, plugin_registry) -> None:
    from lmux_plug_vertex_ai import _urls

    options = lmux_plug_vertex_ai.SPEC.options
    root, version = _urls.api_root(lmux_plug_vertex_ai.SPEC.base_url, "global", options)
    assert (root, version) == ("https://aiplatform.googleapis.com", "v1")
    root, _ = _urls.api_root(lmux_plug_vertex_ai.SPEC.base_url, "us-east5", options)
    assert root == "https://us-east5-aiplatform.googleapis.com"

    fake, url = vertex
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "global")
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=f"{url}/v1beta1")
    await reg.achat(MODEL, "Hi")
    # A spec variant with the option works too (no URL change needed).
    import attrs

    beta = attrs.evolve(lmux_plug_vertex_ai.SPEC, options={"api_version": "v1beta1"})
    reg.register("vertex_beta", beta)
    reg.configure("vertex_beta", base_url=url)
    await reg.achat("vertex_beta/gemini-2.5-flash", "Hi")
    expected = (
        "/v1beta1/projects/my-project/locations/global/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert [r.path for r in fake.requests] == [expected, expected]


async def test_base_url_with_project_and_location_and_resource_models(
    vertex, monkeypatch, plugin_registry
) -> None:
    fake, url = vertex
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    reg = plugin_registry(
        lmux_plug_vertex_ai,
        "vertex_ai",
        base_url=f"{url}/v1/projects/other/locations/asia-northeast1",
    )
    await reg.achat(MODEL, "Hi")
    await reg.achat("vertex_ai/publishers/meta/models/llama-4-maverick", "Hi")
    assert [r.path for r in fake.requests] == [
        "/v1/projects/other/locations/asia-northeast1/publishers/google/models/gemini-2.5-flash:generateContent",
        "/v1/projects/other/locations/asia-northeast1/publishers/meta/models/llama-4-maverick:generateContent",
    ]
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    await reg.achat("vertex_ai/projects/p1/locations/us-central1/endpoints/123", "Hi")
    assert (
        fake.requests[-1].path
        == "/v1/projects/p1/locations/us-central1/endpoints/123:generateContent"
    )


async def test_predict_embeddings_in_batches(vertex, plugin_registry) -> None:
    fake, url = vertex
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    texts = [f"t{i}" for i in range(300)]
    result = await reg.aembed(
        "vertex_ai/text-embedding-005",
        texts,
        dimensions=64,
        extra_body={"task_type": "RETRIEVAL_QUERY", "autoTruncate": False},
    )
    single = await reg.aembed(
        "vertex_ai/gemini-embedding-001", ["a", "bb"], input_type="search_query"
    )
    assert [v[0] for v in result.embeddings] == [float(len(t)) for t in texts]
    assert result.usage.input_tokens == 600
    assert result.cost is None  # billed per character: no token price declared
    bodies = [r.json() for r in fake.requests[:2]]
    assert [len(b["instances"]) for b in bodies] == [250, 50]
    assert bodies[0]["instances"][0] == {"content": "t0", "task_type": "RETRIEVAL_QUERY"}
    assert bodies[0]["parameters"] == {"outputDimensionality": 64, "autoTruncate": False}
    assert fake.requests[0].path.endswith("/models/text-embedding-005:predict")
    assert [v[0] for v in single.embeddings] == [1.0, 2.0]
    assert [r.json()["instances"] for r in fake.requests[2:]] == [
        [{"content": "a", "task_type": "RETRIEVAL_QUERY"}],
        [{"content": "bb", "task_type": "RETRIEVAL_QUERY"}],
    ]
    assert single.cost is not None


@pytest.mark.parametrize(
    ("status", "grpc", "expected"),
    [
        (400, "INVALID_ARGUMENT", InvalidRequestError),
        (401, "UNAUTHENTICATED", AuthenticationError),
        (404, "NOT_FOUND", NotFoundError),
        (429, "RESOURCE_EXHAUSTED", RateLimitError),
    ],
)
async def test_google_errors_map_and_token_is_scrubbed(
    vertex, status, grpc, expected, plugin_registry
) -> None:
    fake, url = vertex
    message = f"failed for token {TOKEN}"
    fake.error = (status, {"error": {"code": status, "message": message, "status": grpc}})
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    with pytest.raises(expected) as caught:
        await reg.achat(MODEL, "Hi")
    with pytest.raises(expected):
        _ = [c async for c in reg.achat_stream(MODEL, "Hi")]
    assert caught.value.provider == "vertex_ai"
    assert caught.value.status_code == status
    assert TOKEN not in str(caught.value)
    assert TOKEN not in (caught.value.body or "")


async def test_default_credentials_refresh_through_google_auth(
    vertex, monkeypatch, tmp_path, plugin_registry
) -> None:
    fake, url = vertex
    monkeypatch.delenv("VERTEX_ACCESS_TOKEN")
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "test-client",
                "client_secret": "test-client-secret-not-real",
                "refresh_token": "test-refresh-token-not-real",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    # google-auth always sends user-credential refreshes to Google's token endpoint (it
    # ignores token_uri in the file): point that constant at the local server instead.
    import google.oauth2.credentials

    monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", f"{url}/token")
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    await reg.achat(MODEL, "Hi")
    await reg.achat(MODEL, "Again")
    assert [r.headers["authorization"] for r in fake.requests] == [f"Bearer {REFRESHED}"] * 2
    assert fake.token_requests == 1  # the token is kept while valid


async def test_missing_credentials_or_project_fail_before_io(
    vertex, monkeypatch, plugin_registry
) -> None:
    fake, url = vertex
    monkeypatch.delenv("VERTEX_ACCESS_TOKEN")
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    with pytest.raises(AuthenticationError, match="VERTEX_ACCESS_TOKEN"):
        await reg.achat(MODEL, "Hi")
    monkeypatch.setenv("VERTEX_ACCESS_TOKEN", TOKEN)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
        await reg.achat(MODEL, "Hi")
    assert fake.requests == []


async def test_codec_errors_name_vertex_ai(vertex, plugin_registry) -> None:
    fake, url = vertex
    reg = plugin_registry(lmux_plug_vertex_ai, "vertex_ai", base_url=url)
    with pytest.raises(InvalidRequestError) as caught:
        await reg.achat(MODEL, [{"role": "system", "content": "only a system message"}])
    assert caught.value.provider == "vertex_ai"
    assert fake.requests == []
