"""The plugin-side helpers of ``lmux_plug.wire``: hooks made by the core, ``prepare``, parts.

A plugin module binds ``spec_hooks`` / ``codec_hooks`` / ``lazy_hook`` results under the
hook names; these tests build such a module, register it and call it over a real socket
(``WireServer`` on 127.0.0.1), so the hooks, the lazy imports, the ``prepare`` step and
the embeddings split run as the shipped plugins use them.
"""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterator
from collections.abc import Mapping

import attrs
import pytest

from lmux_plug import ApiKeyAuth
from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import EmbeddingRequest
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug import ProviderSpec
from lmux_plug import Registry
from lmux_plug import Usage
from lmux_plug import wire
from lmux_plug.testing.wire_server import CapturedRequest
from lmux_plug.testing.wire_server import Reply
from lmux_plug.testing.wire_server import WireServer
from tests.helpers import TextLines
from tests.helpers import served_registry

KEY = "hooks-key-0123456789"
SIGNATURE = "signature-secret-9876543210"
CODEC_MODULE = "lmux_test_hooks_codec"
CLIENT_MODULE = "lmux_test_hooks_client"


def _chat(body: object, *, model: str, provider: str) -> ChatResponse:
    assert isinstance(body, Mapping)
    return ChatResponse(
        content=body["text"], model=model, provider=provider, finish_reason=FinishReason.STOP
    )


def _embed(body: object, *, model: str, provider: str, expected: int) -> EmbeddingResponse:
    assert isinstance(body, Mapping)
    vectors = body["vectors"]
    assert len(vectors) == expected
    usage = Usage(input_tokens=body["tokens"])
    return EmbeddingResponse(vectors, model=model, provider=provider, usage=usage)


class SignedCodec(wire.BaseCodec):
    """A JSON wire whose calls are finished by an asynchronous ``prepare`` (a signature)."""

    chat_decoder = staticmethod(_chat)
    embed_decoder = staticmethod(_embed)
    stream_decoder_class = TextLines

    def encode_chat(
        self, request: ChatRequest, provider: ProviderContext, *, stream: bool
    ) -> wire.WireRequest:
        body = {"prompt": request.messages[-1].content, "stream": stream}
        return wire.WireRequest(provider.url("chat"), body)

    def embed_batch_size(self, request: EmbeddingRequest) -> int:
        return 2

    def encode_embed(
        self, request: EmbeddingRequest, provider: ProviderContext
    ) -> wire.WireRequest:
        return wire.WireRequest(provider.url("embed"), {"inputs": list(request.inputs)})

    async def prepare(
        self,
        call: wire.WireRequest,
        request: ChatRequest | EmbeddingRequest,
        provider: ProviderContext,
    ) -> wire.WireRequest:
        headers = {**call.headers, "x-signature": SIGNATURE}
        return attrs.evolve(call, headers=headers, secrets=(SIGNATURE,))


def scenario(request: CapturedRequest) -> Reply:
    """Embeddings: one vector per input and a token per input; chat echoes the prompt."""
    body = request.json()
    if request.path == "/embed":
        inputs = body["inputs"]
        return Reply.with_json(
            {"vectors": [[float(len(t))] for t in inputs], "tokens": len(inputs)}
        )
    prompt = body["prompt"]
    if prompt == "refuse":  # an error that repeats the signature it was sent
        return Reply.with_json({"error": {"message": f"bad {SIGNATURE}"}}, status=401)
    if not body["stream"]:
        return Reply.with_json({"text": f"re: {prompt}"})
    lines = [b'{"text": "a"}\n', b'{"text": "b"}\n', b'{"done": true}\n']
    return Reply(200, {"content-type": "application/x-ndjson"}, lines, stream=True)


def _answer(request: ChatRequest, provider: ProviderContext) -> object:
    """The client module's function behind a ``lazy_hook`` (returns a fixed awaitable)."""

    async def answer() -> ChatResponse:
        return ChatResponse(
            content="lazy", model=request.model, provider=provider.name, finish_reason="stop"
        )

    return answer()


@pytest.fixture
def modules(monkeypatch: pytest.MonkeyPatch) -> dict[str, types.ModuleType]:
    """The codec and client modules, importable by name only while the test runs."""
    codec = types.ModuleType(CODEC_MODULE)
    codec.CODEC = SignedCodec()  # type: ignore[attr-defined]
    client = types.ModuleType(CLIENT_MODULE)
    client.answer = _answer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, CODEC_MODULE, codec)
    monkeypatch.setitem(sys.modules, CLIENT_MODULE, client)
    return {"codec": codec, "client": client}


def _plugin(base_url: str) -> types.ModuleType:
    """A plugin module whose every hook is bound from the core helpers, as the plugins do."""
    caps = frozenset({Capability.CHAT, Capability.STREAM, Capability.EMBED})
    auth = ApiKeyAuth(env=("HOOKS_TEST_KEY",), header="x-key", scheme=None)
    spec = ProviderSpec("hooks", "hooks", base_url, auth=auth, capabilities=caps)
    plugin = types.ModuleType("lmux_test_hooks_plugin")
    plugin.lmux_plug_providers, plugin.lmux_plug_wires = wire.spec_hooks(spec)  # type: ignore[attr-defined]
    hooks = wire.codec_hooks(CODEC_MODULE)
    plugin.lmux_plug_chat, plugin.lmux_plug_stream, plugin.lmux_plug_embed = hooks  # type: ignore[attr-defined]
    return plugin


@pytest.fixture
async def hooks(modules: dict[str, types.ModuleType]) -> AsyncIterator[tuple[Registry, WireServer]]:
    async with served_registry(
        scenario, lambda origin: [_plugin(origin)], "hooks", api_key=KEY, builtins=False
    ) as served:
        yield served


async def test_hooks_made_by_the_core_serve_a_plugin_module(
    hooks: tuple[Registry, WireServer],
) -> None:
    registry, server = hooks
    answer = await registry.achat("hooks/m", "hello")
    assert answer.content == "re: hello"
    chunks = [chunk async for chunk in registry.achat_stream("hooks/m", "hi")]
    assert "".join(chunk.delta or "" for chunk in chunks) == "ab"
    assert chunks[-1].finish_reason == FinishReason.STOP
    assert server.requests[0].headers["x-key"] == KEY  # the spec's auth, added by the driver


def test_spec_hooks_declare_the_specs_and_their_wires() -> None:
    one = ProviderSpec("one", "w1", "http://127.0.0.1:1")
    two = ProviderSpec("two", "w1", "http://127.0.0.1:2")
    three = ProviderSpec("three", "w2", "http://127.0.0.1:3")
    declared = wire.spec_hooks(one, two, three)
    assert list(declared.providers()) == [one, two, three]
    assert list(declared.wires()) == ["w1", "w2"]  # each wire once, in order


async def test_prepare_finishes_every_call_and_its_secrets_are_scrubbed(
    hooks: tuple[Registry, WireServer],
) -> None:
    registry, server = hooks
    await registry.achat("hooks/m", "hello")
    [chunk async for chunk in registry.achat_stream("hooks/m", "hi")]
    assert [r.headers["x-signature"] for r in server.requests] == [SIGNATURE, SIGNATURE]
    with pytest.raises(AuthenticationError) as caught:
        await registry.achat("hooks/m", "refuse")
    assert SIGNATURE not in str(caught.value)


async def test_embeddings_are_sent_in_parts_and_joined_in_order(
    hooks: tuple[Registry, WireServer],
) -> None:
    registry, server = hooks
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    answer = await registry.aembed("hooks/m", texts)
    assert [vector[0] for vector in answer.embeddings] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert answer.usage.input_tokens == 5  # summed over the parts
    sent = sorted(tuple(r.json()["inputs"]) for r in server.requests)
    assert sent == [("a", "bb"), ("ccc", "dddd"), ("eeeee",)]


async def test_lazy_hook_imports_its_module_on_the_first_call(
    modules: dict[str, types.ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, CLIENT_MODULE)
    hook = wire.lazy_hook(CLIENT_MODULE, "answer")
    spec = ProviderSpec("lazy", "lazy", "http://127.0.0.1:1")
    plugin = types.ModuleType("lmux_test_lazy_plugin")
    plugin.lmux_plug_providers = wire.spec_hooks(spec).providers  # type: ignore[attr-defined]
    plugin.lmux_plug_chat = hook  # type: ignore[attr-defined]
    registry = Registry([plugin], builtins=False)
    assert CLIENT_MODULE not in sys.modules  # registering did not import it
    monkeypatch.setitem(sys.modules, CLIENT_MODULE, modules["client"])
    try:
        answer = await registry.achat("lazy/m", "hi")
    finally:
        await registry.aclose()
    assert answer.content == "lazy"


def test_stream_event_reads_one_json_object_or_says_what_is_wrong() -> None:
    options = {"what": "acme event", "provider": "acme", "model": "m"}
    assert wire.stream_event(b'{"a": 1}', **options) == {"a": 1}
    with pytest.raises(ProviderError, match=r"malformed JSON in acme event: '\{nope'"):
        wire.stream_event("{nope", **options)
    with pytest.raises(ProviderError, match="acme event is not a JSON object"):
        wire.stream_event("[1, 2]", **options)


def test_one_per_input_refuses_answers_with_vectors_missing_or_extra() -> None:
    options = {"source": "Acme", "provider": "acme", "model": "m"}
    assert wire.one_per_input([[1.0], [2.0]], 2, **options) == [[1.0], [2.0]]
    with pytest.raises(ProviderError, match="Acme returned 1 embeddings for 2 inputs"):
        wire.one_per_input([[1.0]], 2, **options)
    with pytest.raises(ProviderError, match="Acme returned no predictions for 1 inputs"):
        wire.one_per_input({"not": "a list"}, 1, what="predictions", **options)


def test_sampling_puts_the_set_fields_under_the_wires_names() -> None:
    request = ChatRequest(model="m", messages=[], temperature=0.5, stop=("END",), max_tokens=9)
    names = {"max_tokens": "n", "stop": "s"}
    assert wire.sampling(request, provider="acme", **names) == {
        "temperature": 0.5,
        "n": 9,
        "s": ["END"],
    }
    assert wire.sampling(request, provider="acme", temperature=None, max_tokens=None) == {
        "stop": ["END"]
    }  # None: a field the wire does not carry
    too_few = ChatRequest(model="m", messages=[], max_tokens=0)
    with pytest.raises(InvalidRequestError, match="max_tokens must be >= 1"):
        wire.sampling(too_few, provider="acme")


def test_merge_extra_adds_to_nested_sections_and_sets_the_rest() -> None:
    body = {"config": {"a": 1}, "b": 2}
    merged = wire.merge_extra(body, {"config": {"c": 3}, "b": 4, "d": 5}, nested=("config",))
    assert merged == {"config": {"a": 1, "c": 3}, "b": 4, "d": 5}
    assert wire.merge_extra({"config": {"a": 1}}, {"config": {"c": 3}}) == {"config": {"c": 3}}


def test_json_object_passes_objects_and_names_anything_else() -> None:
    assert wire.json_object({"a": 1}, what="Acme response", provider="acme", model="m") == {"a": 1}
    with pytest.raises(ProviderError, match="Acme response is not a JSON object"):
        wire.json_object([1], what="Acme response", provider="acme", model="m")


def test_reclassed_keeps_every_field_and_the_cause() -> None:
    cause = ValueError("socket said no")
    error = InvalidRequestError(
        "bad key", provider="acme", model="m", status_code=400, request_id="r1", body="{}"
    )
    error.__cause__ = cause
    refined = wire.reclassed(error, AuthenticationError, request_id="r2")
    assert isinstance(refined, AuthenticationError)
    assert (refined.provider, refined.model, refined.status_code) == ("acme", "m", 400)
    assert (refined.request_id, refined.body, refined.message) == ("r2", "{}", "bad key")
    assert refined.__cause__ is cause
    assert refined.retryable is AuthenticationError.default_retryable
