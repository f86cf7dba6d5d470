"""Registry semantics: routing, errors before I/O, auth order, hooks, sync/async API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given

import lmux_plug
from lmux_plug import ApiKeyAuth
from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import ConfigurationError
from lmux_plug import Credentials
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import ModelPricing
from lmux_plug import NotFoundError
from lmux_plug import PluginError
from lmux_plug import ProviderSpec
from lmux_plug import Registry
from lmux_plug import Secret
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage
from lmux_plug import hookimpl
from lmux_plug import per_million_tokens
from lmux_plug.registry import split_model
from lmux_plug.testing import MockProvider
from lmux_plug.testing import strategies as lst


@given(lst.model_strings())
def test_model_string_parsing_gives_a_result_or_a_typed_error(model: str) -> None:
    registry = Registry()
    try:
        route, model_id = registry.resolve(model)
    except LmuxError as exc:
        assert isinstance(exc, (InvalidRequestError, NotFoundError))
    else:
        assert f"{route.spec.name}/{model_id}" == model


def test_model_ids_keep_their_slashes() -> None:
    assert split_model("openrouter/anthropic/claude-3") == ("openrouter", "anthropic/claude-3")
    mock = MockProvider()
    registry = Registry()
    registry.register("openrouter", mock)
    registry.chat("openrouter/anthropic/claude-3", "hi")
    assert mock.last_call.model == "anthropic/claude-3"


def test_unknown_prefix_lists_known_ones_and_the_closest() -> None:
    registry = Registry()
    registry.register("openai", MockProvider("openai"))
    with pytest.raises(NotFoundError) as info:
        registry.chat("opena/gpt-4o", "hi")
    message = str(info.value)
    assert "did you mean 'openai'" in message
    assert "echo" in message
    assert info.value.provider == "opena"


def test_a_string_without_slash_needs_an_alias() -> None:
    registry = Registry()
    with pytest.raises(InvalidRequestError, match="provider/model"):
        registry.chat("gpt-4o", "hi")
    registry.alias("fast", "echo/echo-1")
    assert registry.chat("fast", "hi").content == "hi"


def test_registering_a_prefix_twice_needs_replace() -> None:
    registry = Registry()
    registry.register("m", MockProvider())
    with pytest.raises(ConfigurationError, match="replace=True"):
        registry.register("m", MockProvider())
    second = MockProvider()
    registry.register("m", second, replace=True)
    registry.chat("m/x", "hi")
    assert len(second.calls) == 1


def test_undeclared_capability_fails_before_any_call() -> None:
    mock = MockProvider(capabilities={Capability.CHAT})
    registry = Registry()
    registry.register("m", mock)
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    image = [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]
    attempts = [
        lambda: registry.chat("m/x", "hi", tools=[tool]),
        lambda: registry.chat("m/x", [{"role": "user", "content": image}]),
        lambda: registry.chat("m/x", "hi", response_format={"type": "json_object"}),
        lambda: list(registry.chat_stream("m/x", "hi")),
        lambda: registry.embed("m/x", ["a"]),
    ]
    for attempt in attempts:
        with pytest.raises(UnsupportedFeatureError) as info:
            attempt()
        assert info.value.provider == "m"
    assert mock.calls == []


def test_capability_checks_follow_a_replaced_provider() -> None:
    # The registry remembers what a model can do per route; replacing the provider
    # under a prefix must not keep the old answer.
    tool = {"type": "function", "function": {"name": "f"}}
    registry = Registry()
    registry.register("m", MockProvider(capabilities={Capability.CHAT}))
    with pytest.raises(UnsupportedFeatureError, match="does not support tools"):
        registry.chat("m/x", "hi", tools=[tool])
    registry.chat("m/x", "hi")
    with_tools = MockProvider(capabilities={Capability.CHAT, Capability.TOOLS})
    registry.register("m", with_tools, replace=True)
    registry.chat("m/x", "hi", tools=[tool])
    assert with_tools.last_call.params["tools"][0].function.name == "f"
    registry.register("m", MockProvider(capabilities={Capability.STREAM}), replace=True)
    with pytest.raises(UnsupportedFeatureError, match="does not support chat"):
        registry.chat("m/x", "hi")


def test_bad_parameters_are_typed_errors_before_io() -> None:
    mock = MockProvider()
    registry = Registry()
    registry.register("m", mock)
    with pytest.raises(InvalidRequestError):
        registry.chat("m/x", [{"role": "nobody"}])
    with pytest.raises(InvalidRequestError):
        registry.chat("m/x", "hi", tool_choice="maybe")
    with pytest.raises(InvalidRequestError):
        registry.embed("m/x", [])
    assert mock.calls == []


def test_parameters_reach_the_plugin_typed() -> None:
    mock = MockProvider()
    registry = Registry()
    registry.register("m", mock)
    registry.chat(
        "m/x",
        "hi",
        temperature=0.5,
        max_tokens=7,
        stop="END",
        seed=3,
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice="required",
        response_format={"type": "json_object"},
        timeout=9.0,
        extra_headers={"x-trace": "1"},
        extra_body={"logprobs": True},
        top_k=5,
    )
    params = mock.last_call.params
    assert params["temperature"] == 0.5
    assert params["max_tokens"] == 7
    assert params["stop"] == ("END",)
    assert params["seed"] == 3
    assert params["tools"][0].function.name == "f"
    assert params["tool_choice"].mode == "required"
    assert params["response_format"].type == "json_object"
    assert params["timeout"] == 9.0
    assert params["extra_headers"] == {"x-trace": "1"}
    assert params["extra"] == {"logprobs": True, "top_k": 5}


def test_a_call_without_parameters_is_the_default_request() -> None:
    mock = MockProvider()
    registry = Registry()
    registry.register("m", mock)
    registry.chat("m/x", "hi")
    bare = mock.last_call.request
    registry.chat("m/x", [{"role": "user", "content": "hi"}], stop=None, extra_body={})
    assert bare == mock.last_call.request == ChatRequest(model="x", messages=[UserMessage("hi")])
    assert mock.last_call.params == mock.calls[0].params


# -- auth ------------------------------------------------------------------------------


def keyed_mock() -> MockProvider:
    return MockProvider(api_key_env="LMUX_TEST_MOCK_KEY")


def test_missing_key_names_the_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMUX_TEST_MOCK_KEY", raising=False)
    mock = keyed_mock()
    registry = Registry()
    registry.register("m", mock)
    with pytest.raises(AuthenticationError, match="LMUX_TEST_MOCK_KEY"):
        registry.chat("m/x", "hi")
    assert mock.calls == []


def test_check_raises_what_a_call_would_meet_without_calling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LMUX_TEST_MOCK_KEY", raising=False)
    mock = MockProvider(api_key_env="LMUX_TEST_MOCK_KEY", capabilities={Capability.CHAT})
    registry = Registry()
    registry.register("m", mock)
    with pytest.raises(NotFoundError):
        registry.check("nope/x")
    with pytest.raises(UnsupportedFeatureError, match="does not support embed"):
        registry.check("m/x", [Capability.EMBED], credentials=False)
    registry.check("m/x", [Capability.CHAT], credentials=False)
    with pytest.raises(AuthenticationError, match="LMUX_TEST_MOCK_KEY"):
        registry.check("m/x", [Capability.CHAT])
    monkeypatch.setenv("LMUX_TEST_MOCK_KEY", "from-env")
    registry.check("m/x", [Capability.CHAT])
    assert mock.calls == []


def test_auth_order_explicit_then_hook_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMUX_TEST_MOCK_KEY", "from-env")
    mock = keyed_mock()

    class KeyPlugin:
        @hookimpl
        def lmux_plug_auth(self, provider: ProviderSpec) -> Credentials | None:
            return Credentials(api_key=Secret("from-hook")) if provider.name == "m" else None

    registry = Registry()
    registry.register("m", mock)
    registry.chat("m/x", "hi")
    assert mock.last_call.provider.credentials.api_key.reveal() == "from-env"
    registry.add_plugin(KeyPlugin())
    registry.chat("m/x", "hi")
    assert mock.last_call.provider.credentials.api_key.reveal() == "from-hook"
    registry.chat("m/x", "hi", api_key="explicit")
    assert mock.last_call.provider.credentials.api_key.reveal() == "explicit"


def test_key_never_appears_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "test-very-secret-value-0123456789"
    monkeypatch.setenv("LMUX_TEST_MOCK_KEY", key)
    mock = keyed_mock()
    registry = Registry()
    registry.register("m", mock)
    registry.chat("m/x", "hi")
    context = mock.last_call.provider
    for shown in (repr(context), str(context), repr(mock.last_call), repr(context.credentials)):
        assert key not in shown
    assert context.auth_headers()["authorization"] == f"Bearer {key}"


# -- hooks -----------------------------------------------------------------------------


def test_hook_chat_reaches_only_the_owner_and_wrappers_run_around_it() -> None:
    seen: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def lmux_plug_chat(self, request: Any, provider: Any) -> Any:
            seen.append(f"before {provider.name}")
            inner = yield

            async def wrapped() -> ChatResponse:
                response: ChatResponse = await inner
                seen.append("after")
                return response

            return wrapped()

    first, second = MockProvider("a"), MockProvider("b")
    registry = Registry(plugins=[Wrapper()])
    registry.register("a", first)
    registry.register("b", second)
    registry.chat("b/x", "hi")
    assert (len(first.calls), len(second.calls)) == (0, 1)
    assert seen == ["before b", "after"]


def test_hook_stream_passes_chunks_and_adds_cost() -> None:
    mock = MockProvider(
        pricing=ModelPricing(input=per_million_tokens("1"), output=per_million_tokens("2"))
    )
    registry = Registry()
    registry.register("m", mock)
    chunks = list(registry.chat_stream("m/mock-model", "hi"))
    assert "".join(c.delta for c in chunks) == "mock response"
    terminal = [c for c in chunks if c.finish_reason is not None]
    assert len(terminal) == 1
    assert terminal[0].usage is not None
    assert terminal[0].cost is not None


def test_hook_embed_keeps_order() -> None:
    registry = Registry()
    response = registry.embed("echo/echo-1", ["a", "b", "c"], dimensions=4)
    again = [registry.embed("echo/echo-1", t, dimensions=4).embeddings[0] for t in "abc"]
    assert list(response.embeddings) == again


def test_hook_pricing_plugin_overrides_the_declared_table() -> None:
    mock = MockProvider(
        pricing=ModelPricing(input=per_million_tokens("1"), output=per_million_tokens("1"))
    )

    class Prices:
        @hookimpl(tryfirst=True)
        def lmux_plug_pricing(self, provider: ProviderSpec, model: str) -> ModelPricing | None:
            return ModelPricing(input=per_million_tokens("1000000"), output=0)

    registry = Registry()
    registry.register("m", mock)
    declared = registry.chat("m/mock-model", "hi")
    assert declared.cost is not None
    assert declared.cost.output == declared.usage.output_tokens * per_million_tokens("1")
    registry.add_plugin(Prices())
    response = registry.chat("m/mock-model", "hi")
    assert response.cost is not None
    assert response.cost.input == response.usage.input_tokens


def test_cost_is_none_when_no_price_is_known() -> None:
    registry = Registry()
    registry.register("m", MockProvider())
    assert registry.chat("m/unpriced", "hi").cost is None


def test_hook_auth_is_asked_with_the_spec() -> None:
    asked: list[str] = []

    class Auth:
        @hookimpl
        def lmux_plug_auth(self, provider: ProviderSpec) -> Credentials | None:
            asked.append(provider.name)
            return None

    registry = Registry(plugins=[Auth()])
    registry.chat("echo/echo-1", "hi")
    assert asked == ["echo"]


def test_hook_providers_declares_routes() -> None:
    class Declares:
        @hookimpl
        def lmux_plug_providers(self) -> list[ProviderSpec]:
            return [ProviderSpec(name="acme", wire="acme", base_url="https://acme.test/v1")]

    registry = Registry(plugins=[Declares()])
    assert registry.provider("acme").wire == "acme"
    assert [p.name for p in registry.plugins()] == ["echo", registry.plugins()[1].name]


def test_a_plugin_bug_becomes_plugin_error_with_the_cause() -> None:
    registry = Registry()
    registry.register("m", MockProvider(handler=lambda call: {}["missing"]))
    with pytest.raises(PluginError) as info:
        registry.chat("m/x", "hi")
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.provider == "m"


def test_errors_get_provider_and_model_context() -> None:
    registry = Registry()
    mock = MockProvider()
    mock.enqueue(lmux_plug.RateLimitError("slow down", retry_after=2.0))
    registry.register("m", mock)
    with pytest.raises(lmux_plug.RateLimitError) as info:
        registry.chat("m/x", "hi")
    assert (info.value.provider, info.value.model, info.value.retry_after) == ("m", "x", 2.0)
    assert info.value.retryable


def test_user_declared_spec_is_served_by_the_wire_owner() -> None:
    registry = Registry()
    registry.register(
        "mine", ProviderSpec(name="ignored", wire="echo", base_url="https://mine.test")
    )
    assert registry.chat("mine/echo-1", "hello").provider == "mine"
    with pytest.raises(ConfigurationError, match="no installed plugin speaks wire"):
        registry.register(
            "x", ProviderSpec(name="x", wire="smoke-signals", base_url="https://x.test")
        )


def test_declared_auth_env_and_base_url_override(monkeypatch: pytest.MonkeyPatch) -> None:
    mock = MockProvider()
    registry = Registry()
    registry.register("m", mock, base_url="https://override.test")
    registry.chat("m/x", "hi")
    assert mock.last_call.provider.base_url == "https://override.test"
    registry.chat("m/x", "hi", base_url="https://per-call.test")
    assert mock.last_call.provider.base_url == "https://per-call.test"
    spec = ProviderSpec(
        name="k",
        wire="mock",
        base_url="https://k.test",
        auth=ApiKeyAuth(env=("K_KEY",), header="x-api-key", scheme=None),
    )
    monkeypatch.setenv("K_KEY", "abc")
    registry.register("k", spec)
    registry.chat("k/x", "hi")
    assert mock.last_call.provider.auth_headers()["x-api-key"] == "abc"


# -- sync / async ----------------------------------------------------------------------


async def test_async_api_and_stream() -> None:
    async with Registry() as registry:
        response = await registry.achat("echo/echo-1", [{"role": "user", "content": "a b c"}])
        chunks = [c async for c in registry.achat_stream("echo/echo-1", "a b c")]
        vectors = await registry.aembed("echo/echo-1", ["x"])
    assert response.content == "a b c"
    assert "".join(c.delta for c in chunks) == "a b c"
    assert len(vectors.embeddings) == 1


async def test_sync_api_works_under_a_running_loop() -> None:
    """Notebook case: sync call from inside a running event loop."""
    with Registry() as registry:
        assert registry.chat("echo/echo-1", "inside a loop").content == "inside a loop"
        assert [c.delta for c in registry.chat_stream("echo/echo-1", "x y")][:2] == ["x ", "y"]


def test_sync_api_works_from_threads() -> None:
    results: list[str | None] = []
    with Registry() as registry:

        def work(i: int) -> None:
            results.append(registry.chat("echo/echo-1", f"thread {i}").content)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert sorted(results) == [f"thread {i}" for i in range(4)]  # type: ignore[type-var]


def test_leaving_a_sync_stream_early_closes_the_plugin_iterator() -> None:
    closed = asyncio.Event()
    state: dict[str, bool] = {}

    class Endless:
        @hookimpl
        def lmux_plug_providers(self) -> list[ProviderSpec]:
            return [ProviderSpec(name="endless", wire="endless", base_url="https://e.test")]

        @hookimpl
        def lmux_plug_stream(self, request: Any, provider: Any) -> AsyncIterator[Any]:
            async def gen() -> AsyncIterator[Any]:
                try:
                    while True:
                        yield lmux_plug.ChatChunk(delta="x")
                finally:
                    state["closed"] = True
                    closed.set()

            return gen()

    with Registry(plugins=[Endless()]) as registry:
        for i, _chunk in enumerate(registry.chat_stream("endless/x", "hi")):
            if i == 3:
                break
        assert state.get("closed") is True


def test_module_level_api_uses_the_default_registry(lmux_registry: Registry) -> None:
    assert lmux_plug.default_registry() is lmux_registry
    assert lmux_plug.chat("echo/reverse", "abc").content == "cba"


def test_a_failing_pricing_plugin_gives_no_cost_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BadPrices:
        @hookimpl(tryfirst=True)
        def lmux_plug_pricing(self, provider: ProviderSpec, model: str) -> ModelPricing | None:
            raise RuntimeError("price feed down")

    registry = Registry(plugins=[BadPrices()])
    response = registry.chat("echo/echo-1", "hi")
    assert response.content == "hi"
    assert response.cost is None
    assert "pricing hook failed" in caplog.text


def test_secrets_to_scrub_lists_configured_and_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMUX_TEST_MOCK_KEY", "test-from-env-key")
    registry = Registry()
    registry.register("m", keyed_mock(), api_key="test-configured-key")
    registry.register("n", MockProvider("n"))
    assert set(registry.secrets_to_scrub()) == {"test-configured-key", "test-from-env-key"}
