"""Issue 15 "the drop-in client must be a drop-in", written as openai-SDK code is written.

The snippets are what a user has in an application built on the ``openai`` package, with
only the import changed to ``lmux_plug.openai``; the provider is a real OpenAI-format
HTTP server on 127.0.0.1 (``FakeOpenAIServer``) reached through the openai plugin.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import lmux_plug
import lmux_plug.openai as dropin
from lmux_plug import ConfigurationError
from lmux_plug import Registry
from lmux_plug.openai import OpenAI
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from tests.helpers import python

KEY = "sk-test-dropin-000"


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[OpenAI]:
    registry = Registry.from_entry_points()
    registry.configure("openai", base_url=server.url, api_key=KEY)
    with OpenAI(registry=registry) as client:
        yield client


def test_appending_the_returned_message_continues_the_conversation(client: OpenAI) -> None:
    messages: list[object] = [{"role": "user", "content": "What is 2+2?"}]
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    messages.append(resp.choices[0].message)
    messages.append({"role": "user", "content": "And 3+3?"})
    again = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert again.choices[0].message.content


def test_appending_an_openai_sdk_message_object_works(client: OpenAI) -> None:
    from openai.types.chat import ChatCompletionMessage

    sdk_message = ChatCompletionMessage(role="assistant", content="4")
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "2+2?"},
            sdk_message,
            {"role": "user", "content": "ok"},
        ],
    )
    assert resp.choices[0].message.content


def test_except_openai_rate_limit_error_catches(server: FakeOpenAIServer, client: OpenAI) -> None:
    server.plan.faults = {"429": 1.0}
    # Written as openai-SDK code is: `except openai.RateLimitError`.
    try:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    except openai.RateLimitError as caught:
        error = caught
    else:
        pytest.fail("no RateLimitError")
    assert isinstance(error, dropin.RateLimitError)
    assert isinstance(error, lmux_plug.RateLimitError)
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == 429
    assert KEY not in str(error)


@pytest.mark.parametrize(
    ("fault", "sdk_class", "lmux_class"),
    [
        ("500", openai.InternalServerError, lmux_plug.ProviderError),
        ("401", openai.AuthenticationError, lmux_plug.AuthenticationError),
        ("400", openai.BadRequestError, lmux_plug.InvalidRequestError),
        ("404", openai.NotFoundError, lmux_plug.NotFoundError),
    ],
)
def test_status_errors_are_the_openai_classes(
    server: FakeOpenAIServer, client: OpenAI, fault: str, sdk_class: type, lmux_class: type
) -> None:
    server.plan.faults = {fault: 1.0}
    with pytest.raises(sdk_class) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert isinstance(info.value, lmux_class)
    assert isinstance(info.value, openai.APIError)
    assert info.value.status_code == int(fault)


def test_local_errors_are_openai_classes_too(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], temperature="hot"
        )
    assert isinstance(info.value, lmux_plug.InvalidRequestError)
    assert "temperature" in str(info.value)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="nowhere/model", messages=[{"role": "user", "content": "x"}]
        )


def test_stream_errors_are_openai_classes(server: FakeOpenAIServer, client: OpenAI) -> None:
    server.plan.faults = {"stream-error": 1.0}
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    assert isinstance(info.value, lmux_plug.LmuxError)


def test_same_names_exported_without_openai(tmp_path: Path) -> None:
    # Hide the openai package the way an install without it does.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['openai'] = None\n")
    code = textwrap.dedent(
        """
        import lmux_plug, lmux_plug.openai as dropin
        from lmux_plug.openai import OpenAI, RateLimitError, APIError, BadRequestError
        from lmux_plug.testing import MockProvider
        mock = MockProvider('mock').enqueue(lmux_plug.RateLimitError('slow down', status_code=429))
        registry = lmux_plug.Registry()
        registry.register('mock', mock)
        try:
            OpenAI(registry=registry).chat.completions.create(
                model='mock/m', messages=[{'role': 'user', 'content': 'hi'}])
        except RateLimitError as exc:
            assert isinstance(exc, APIError) and isinstance(exc, lmux_plug.RateLimitError)
            print('caught', type(exc).__name__, exc.status_code)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = python("-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "caught RateLimitError 429"


def test_router_with_api_key_is_a_clear_typed_error() -> None:
    from lmux_plug.router import Router

    router = Router({"fast": ["echo/echo-1"]}, registry=Registry())
    with pytest.raises(ConfigurationError, match=r"router=.*api_key"):
        OpenAI(router=router, api_key="sk-test-x")
    with pytest.raises(ConfigurationError, match="base_url"):
        dropin.AsyncOpenAI(router=router, base_url="http://127.0.0.1:1/v1")
    # Without them, the router serves the drop-in.
    reply = OpenAI(router=router).chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "routed"}]
    )
    assert reply.choices[0].message.content == "routed"


def test_models_retrieve_as_the_openai_package_has_it(client: OpenAI) -> None:
    model = client.models.retrieve("openai/gpt-4o-mini")
    assert (model.id, model.object) == ("openai/gpt-4o-mini", "model")
    assert model.id in {m.id for m in client.models.list().data}
    with pytest.raises(openai.NotFoundError) as info:  # was an AttributeError: no retrieve
        client.models.retrieve("openai/gpt-4o-mnii")
    assert "did you mean 'openai/gpt-4o-mini'?" in str(info.value)
    assert info.value.status_code == 404


def test_a_fallback_that_could_never_be_reached_is_refused_before_any_call(
    server: FakeOpenAIServer, client: OpenAI
) -> None:
    # It was met only when the primary failed, as a not-found that moved on silently.
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            fallback_models=["opena/gpt-4o"],
        )
    assert "fallback_models[0]: 'opena/gpt-4o'" in str(info.value)
    assert "did you mean 'openai'?" in str(info.value)
    assert server.stats["requests"] == 0
