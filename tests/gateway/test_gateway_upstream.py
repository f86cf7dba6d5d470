"""Gateway -> openai plugin -> local fake OpenAI upstream, all over real sockets on 127.0.0.1.

The official SDK talks to the gateway with a virtual key; the gateway talks to the fake
upstream with the provider key. Faults are injected per provider with the fake server's
``x-fake-fault`` header, set as a default header of the provider spec.
"""

from __future__ import annotations

import openai
import pytest

from lmux_plug import ApiKeyAuth
from lmux_plug import ProviderSpec
from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.openai import OpenAI
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan

lmux_plug_openai = pytest.importorskip(
    "lmux_plug_openai", reason="the openai plugin is not installed"
)

VIRTUAL_KEY = "vk-upstream-test-client-0001"
PROVIDER_KEY = "test-upstream-provider-key-9f8e7d6c5b4a"
HI = [{"role": "user", "content": "hi"}]


def _spec(name, url, fault=None):
    return ProviderSpec(
        name=name,
        wire="openai",
        base_url=url,
        auth=ApiKeyAuth(env=("LMUX_TEST_UPSTREAM_KEY",)),
        capabilities={"chat", "stream", "embed", "tools", "json_object"},
        default_headers={"x-fake-fault": fault} if fault else {},
    )


@pytest.fixture(scope="module")
def upstream():
    server = FakeOpenAIServer(FaultPlan(require_key=PROVIDER_KEY, retry_after=2, stream_chunks=4))
    with server.run_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def registry(upstream):
    registry = Registry(plugins=[lmux_plug_openai])
    registry.register("up", _spec("up", upstream.url), api_key=PROVIDER_KEY)
    registry.register("up429", _spec("up429", upstream.url, "429"), api_key=PROVIDER_KEY)
    registry.register("up503", _spec("up503", upstream.url, "503"), api_key=PROVIDER_KEY)
    registry.register(
        "upbroken", _spec("upbroken", upstream.url, "stream-error"), api_key=PROVIDER_KEY
    )
    registry.register(
        "upbadkey", _spec("upbadkey", upstream.url), api_key="sk-wrong-key-000000000000"
    )
    yield registry
    registry.close()


@pytest.fixture(scope="module")
def gateway_url(registry):
    keys = KeyStore([VirtualKey("client", hash_key(VIRTUAL_KEY))])
    with run_in_thread(create_app(registry=registry, keys=keys)) as url:
        yield url


@pytest.fixture
def client(gateway_url):
    with openai.OpenAI(base_url=gateway_url, api_key=VIRTUAL_KEY, max_retries=0) as client:
        yield client


def test_chat_through_upstream(client, upstream):
    reply = client.chat.completions.create(model="up/fake-model", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    sent = upstream.requests[-1]
    assert sent.json()["model"] == "fake-model"
    assert sent.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    # The client's virtual key never travels upstream (the repr shows path, headers, body).
    assert all(VIRTUAL_KEY not in repr(r) for r in upstream.requests)


async def test_async_stream_through_upstream(gateway_url):
    client = openai.AsyncOpenAI(base_url=gateway_url, api_key=VIRTUAL_KEY, max_retries=0)
    stream = await client.chat.completions.create(
        model="up/fake-model", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    await client.close()


def test_embeddings_through_upstream(client):
    reply = client.embeddings.create(model="up/fake-embedding", input=["abc", "hello"])
    assert [d.embedding for d in reply.data] == [[3.0, 0.0, 1.0], [5.0, 1.0, 1.0]]


def test_upstream_429_reaches_client_with_retry_after(client):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="up429/fake-model", messages=HI)
    assert info.value.response.headers["retry-after"] == "2"


def test_upstream_503(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="up503/fake-model", messages=HI)
    assert info.value.status_code == 503


def test_upstream_rejects_provider_key(client):
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="upbadkey/fake-model", messages=HI)
    text = info.value.response.text
    assert "sk-wrong" not in text
    assert PROVIDER_KEY not in text
    assert "upbadkey" in info.value.message


def test_error_inside_stream_reaches_client(client):
    stream = client.chat.completions.create(model="upbroken/fake-model", messages=HI, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_drop_in_client_against_upstream(registry):
    client = OpenAI(registry=registry)
    reply = client.chat.completions.create(
        model="up/fake-model", messages=[{"role": "user", "content": "yo"}]
    )
    assert reply.choices[0].message.content == "echo: yo"
    chunks = list(
        client.chat.completions.create(
            model="up/fake-model", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
    assert chunks[-1].usage.prompt_tokens > 0
    vectors = client.embeddings.create(model="up/fake-embedding", input="abcd")
    assert vectors.data[0].embedding == [4.0, 0.0, 1.0]
