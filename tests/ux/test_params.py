"""Issue 15 "parameters are checked": what a user sees for misspelt or bad keywords."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lmux_plug
from lmux_plug import InvalidParameterError
from lmux_plug import InvalidRequestError
from lmux_plug import Registry
from lmux_plug.testing import MockProvider


@pytest.fixture
def mock() -> Any:
    provider = MockProvider("mock", handler=lambda call: "fine")
    with Registry() as registry:
        registry.register("mock", provider)
        yield registry, provider


@pytest.mark.parametrize(
    ("given", "named", "hint"),
    [
        ({"temprature": 0}, "temprature", "did you mean 'temperature'"),
        ({"max_token": 5}, "max_token", "did you mean 'max_tokens'"),
        ({"temperature": "hot"}, "temperature", "expected a number"),
        ({"temperature": 7}, "temperature", "between 0 and 2"),
        ({"temperature": float("nan")}, "temperature", "between 0 and 2"),
        ({"max_tokens": -1}, "max_tokens", "at least 1"),
        ({"max_tokens": True}, "max_tokens", "expected an integer"),
        ({"max_tokens": 2.5}, "max_tokens", "expected an integer"),
        ({"stop": 5}, "stop", "list of strings"),
        ({"stop": True}, "stop", "list of strings"),
        ({"stop": ["a", 1]}, "stop", "list of strings"),
        ({"extra_body": [[1, 2, 3]]}, "extra_body", "expected a mapping"),
        ({"top_p": 1.5}, "top_p", "between 0 and 1"),
        ({"tools": "search"}, "tools", "list of tools"),
        ({"tools": [{"nope": 1}]}, "tools[0]", "function.name"),
        ({"tool_choice": "sometimes"}, "tool_choice", "auto"),
        ({"response_format": {"type": "xml"}}, "response_format", "unsupported"),
        ({"reasoning_effort": "hihg"}, "reasoning_effort", "did you mean 'high'"),
        ({"timeout": 0}, "timeout", "positive"),
        ({"extra_headers": {"x-a": 1}}, "extra_headers['x-a']", "expected a string"),
        ({"extra_headers": {"x-a": "b\r\nHost: evil"}}, "extra_headers", "forbidden"),
        ({"n": 3}, "n", "only n=1 is supported"),
        ({"frequency_penalty": 9}, "frequency_penalty", "between -2 and 2"),
        ({"stream": True}, "stream", "_stream twin"),
        ({"functions": []}, "functions", "use tools="),
        ({"retries": 3}, "retries", "lmux_plug.router.Router"),
        ({"fallback_models": ["mock/b"]}, "fallback_models", "a routing option"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_bad_chat_parameter_is_named_before_any_call(
    mock: Any, given: dict[str, Any], named: str, hint: str, stream: bool
) -> None:
    registry, provider = mock

    def call() -> object:
        if stream:
            return list(registry.chat_stream("mock/m", "hi", **given))
        return registry.chat("mock/m", "hi", **given)

    with pytest.raises(InvalidParameterError) as info:
        call()
    assert isinstance(info.value, InvalidRequestError)
    assert info.value.param == named
    assert str(info.value).startswith(f"{named}: ")
    assert hint in str(info.value)
    assert provider.calls == []


async def test_async_twins_check_too(mock: Any) -> None:
    registry, provider = mock
    with pytest.raises(InvalidParameterError, match="temprature"):
        await registry.achat("mock/m", "hi", temprature=0)
    with pytest.raises(InvalidParameterError, match="inputs"):
        await registry.aembed("mock/m", None)
    assert provider.calls == []


@pytest.mark.parametrize(
    ("inputs", "params", "named"),
    [
        (None, {}, "inputs"),
        (1.5, {}, "inputs"),
        ([], {}, "inputs"),
        (["a", 2], {}, "inputs"),
        (b"bytes", {}, "inputs"),
        ("a", {"dimensions": 0}, "dimensions"),
        ("a", {"dimensions": "8"}, "dimensions"),
        ("a", {"encoding_format": "hex"}, "encoding_format"),
        ("a", {"dimension": 8}, "dimension"),
        ("a", {"extra_body": [[1, 2, 3]]}, "extra_body"),
    ],
)
def test_bad_embed_input_is_named(
    mock: Any, inputs: Any, params: dict[str, Any], named: str
) -> None:
    registry, provider = mock
    with pytest.raises(InvalidParameterError) as info:
        registry.embed("mock/m", inputs, **params)
    assert info.value.param == named
    assert provider.calls == []


def test_unknown_fields_go_through_extra_body(mock: Any) -> None:
    registry, provider = mock
    registry.chat(
        "mock/m",
        "hi",
        temperature=0.5,
        max_completion_tokens=7,
        stop="END",
        frequency_penalty=0.5,
        extra_body={"temprature": 1, "top_k": 3},
    )
    request = provider.last_call.request
    assert request.temperature == 0.5
    assert request.max_tokens == 7
    assert request.stop == ("END",)
    assert dict(request.extra) == {"frequency_penalty": 0.5, "temprature": 1, "top_k": 3}


def test_none_means_not_given(mock: Any) -> None:
    registry, provider = mock
    registry.chat("mock/m", "hi", temperature=None, max_tokens=None, stop=None, tools=None)
    request = provider.last_call.request
    assert (request.temperature, request.max_tokens, request.stop, request.tools) == (
        None,
        None,
        None,
        None,
    )


def test_module_functions_check_parameters(lmux_mock: MockProvider) -> None:
    lmux_mock.enqueue("ok")
    assert lmux_plug.chat("mock/m", "hi", temperature=0.2).content == "ok"
    with pytest.raises(InvalidParameterError, match=r"did you mean 'max_tokens'"):
        lmux_plug.chat("mock/m", "hi", max_token=5)
    with pytest.raises(InvalidParameterError, match="inputs"):
        lmux_plug.embed("mock/m", None)  # type: ignore[arg-type]


def test_secret_header_values_are_not_shown(mock: Any) -> None:
    registry, _ = mock
    with pytest.raises(InvalidParameterError) as info:
        registry.chat("mock/m", "hi", extra_headers={"authorization": b"Bearer sk-hidden-123"})
    assert "sk-hidden" not in str(info.value)


@pytest.mark.parametrize(
    ("given", "named", "hint"),
    [
        ({"temprature": 0}, "temprature", "did you mean 'temperature'"),
        ({"top_p": 2}, "top_p", "between 0 and 1"),
        ({"retries": "many"}, "retries", "expected an integer"),
        ({"retries": -3}, "retries", "at least 0"),
        ({"retries": True}, "retries", "expected an integer"),
        ({"deadline": -1}, "deadline", "positive"),
        ({"deadline": "soon"}, "deadline", "number of seconds"),
        ({"attempt_timeout": 0}, "attempt_timeout", "positive"),
        ({"fallback_models": "mock/other"}, "fallback_models", "list of model names"),
        ({"fallback_models": [""]}, "fallback_models", "list of model names"),
        ({"context_fallbacks": "big"}, "context_fallbacks", "list of model names"),
        # A fallback the chain could never reach was found only when it was needed.
        ({"fallback_models": ["mokc/m"]}, "fallback_models[0]", "did you mean 'mock'?"),
        ({"fallback_models": ["fsat"]}, "fallback_models[0]", "did you mean 'fast'?"),
        ({"context_fallbacks": ["mock/m", "nowhere/x"]}, "context_fallbacks[1]", "'nowhere'"),
        ({"sticky_key": 42}, "sticky_key", "expected a string"),
        ({"cache": "yes"}, "cache", "true or false"),
        ({"cache_ttl": -5}, "cache_ttl", ">= 0"),
        ({"cache_ttl": "long"}, "cache_ttl", "number of seconds"),
        ({"singleflight": 1}, "singleflight", "true or false"),
        ({"content_filter_fallback": "on"}, "content_filter_fallback", "true or false"),
    ],
)
@pytest.mark.parametrize("how", ["chat", "stream", "achat"])
def test_router_checks_call_options_before_any_call(
    mock: Any, given: dict[str, Any], named: str, hint: str, how: str
) -> None:
    import asyncio

    from lmux_plug.router import Router

    registry, provider = mock
    router = Router({"fast": ["mock/m"]}, registry=registry)
    if how == "stream" and named == "singleflight":
        hint = "unknown parameter"  # streams are never shared: not an option of chat_stream

    def call() -> object:
        if how == "stream":
            return list(router.chat_stream("fast", "hi", **given))
        if how == "achat":
            return asyncio.run(router.achat("fast", "hi", **given))
        return router.chat("fast", "hi", **given)

    with pytest.raises(InvalidParameterError) as info:
        call()
    assert info.value.param == named
    assert hint in str(info.value)
    assert provider.calls == []


def test_router_embed_checks_its_options(mock: Any) -> None:
    from lmux_plug.router import Router

    registry, provider = mock
    router = Router({"fast": ["mock/m"]}, registry=registry)
    with pytest.raises(InvalidParameterError, match="did you mean 'dimensions'"):
        router.embed("fast", "x", dimensoins=3)
    with pytest.raises(InvalidParameterError, match="retries"):
        router.embed("fast", "x", retries=-1)
    with pytest.raises(InvalidParameterError, match="deadline"):
        router.embed("fast", "x", deadline=0)
    assert provider.calls == []


@pytest.mark.parametrize(
    ("call", "named", "hint"),
    [
        (lambda: lmux_plug.create_response("echo/echo-1", "hi", temprature=0),
         "temprature", "did you mean 'temperature'"),
        (lambda: lmux_plug.create_response("echo/echo-1", "hi", temperature="hot"),
         "temperature", "expected a number"),
        (lambda: lmux_plug.create_response("echo/echo-1", "hi", max_output_tokens=-1),
         "max_output_tokens", "at least 1"),
        (lambda: lmux_plug.create_response("echo/echo-1", "hi", top_p=2),
         "top_p", "between 0 and 1"),
        (lambda: lmux_plug.complete("echo/echo-1", "hi", max_token=5),
         "max_token", "did you mean 'max_tokens'"),
        (lambda: lmux_plug.complete("echo/echo-1", "hi", max_tokens=True),
         "max_tokens", "expected an integer"),
        (lambda: lmux_plug.complete("echo/echo-1", "hi", temperature=9),
         "temperature", "between 0 and 2"),
        (lambda: lmux_plug.transcribe("echo/echo-1", b"RIFF", languag="en"),
         "languag", "did you mean 'language'"),
        (lambda: lmux_plug.transcribe("echo/echo-1", b"RIFF", temperature=2),
         "temperature", "between 0 and 1"),
    ],
)  # fmt: skip
def test_the_other_apis_check_their_keywords(call: Any, named: str, hint: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert info.value.param == named
    assert hint in str(info.value)


def test_the_other_apis_send_api_and_extra_body_fields() -> None:
    response = lmux_plug.create_response(
        "echo/echo-1", "hi", truncation="auto", extra_body={"provider_field": 1}
    )
    assert response.output_text == "hi"
    assert lmux_plug.complete("echo/echo-1", "hi", extra_body={"x": 1}).choices[0]


def test_gateway_passes_sdk_extra_body_and_refuses_bad_values() -> None:
    import openai

    from lmux_plug.gateway.serve import build_app
    from lmux_plug.gateway.serve import run_in_thread

    with (
        run_in_thread(build_app(None, registry=Registry())) as url,
        # Closed here: its pooled socket would otherwise be reported unclosed at some
        # later garbage collection, in whichever test runs then.
        openai.OpenAI(base_url=url, api_key="unused-open-gateway", max_retries=0) as client,
    ):
        # A provider's own field, sent by the SDK from extra_body as a body field.
        answer = client.responses.create(
            model="echo/echo-1", input="hi", extra_body={"provider_field": 1}
        )
        assert answer.output_text == "hi"
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model="echo/echo-1", input="hi", temperature=9)
        assert info.value.status_code == 400
        assert "temperature" in str(info.value)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--temperature", "7"], "--temperature: must be between 0 and 2, got 7.0"),
        (["--max-tokens", "0"], "--max-tokens: must be at least 1, got 0"),
        (["--top-p", "1.5"], "--top-p: must be between 0 and 1, got 1.5"),
    ],
)
def test_batch_cli_refuses_a_bad_parameter_before_any_line(
    tmp_path: Path, batch_cli, option: list[str], expected: str
) -> None:
    result, out = batch_cli.over(
        tmp_path, '{"id": 1, "prompt": "hi"}\n{"id": 2, "prompt": "yo"}\n', "echo/echo-1", *option
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert not out.exists()


def test_a_bare_or_uninstalled_model_name_says_what_to_write_or_install() -> None:
    # The CLI gave these hints; the library said only "not of the form 'provider/model'"
    # and "unknown provider prefix 'openai' (known: echo)".
    with Registry() as registry:
        registry.register("mock", MockProvider("mock", handler=lambda call: "fine"))
        with pytest.raises(InvalidRequestError) as bare:
            registry.chat("echo-1", "hi")
        assert "not of the form 'provider/model'" in str(bare.value)
        assert "did you mean 'echo/echo-1'?" in str(bare.value)
        with pytest.raises(lmux_plug.NotFoundError) as missing:
            registry.chat("openai/gpt-4o-mini", "hi")
        assert "pip install lmux-plug-openai" in str(missing.value)
        with pytest.raises(lmux_plug.NotFoundError) as typo:
            registry.chat("mokc/m", "hi")
        assert "did you mean 'mock'?" in str(typo.value)
