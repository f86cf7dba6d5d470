"""Issue 15, the drop-in walk-through continued: openai-SDK snippets with only the import changed.

Each test is code as it is written against the ``openai`` package (tool-call round trips,
streams with ``stream_options``, ``except openai.<Error>`` around chat, embeddings and
streams, sync and async), run against a real OpenAI-format server on 127.0.0.1 or the
offline ``echo/`` provider. Misspelt keywords and bad values are refused before any I/O.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import CreateEmbeddingResponse as SdkEmbeddings
from openai.types.chat import ChatCompletion as SdkCompletion

import lmux_plug
from lmux_plug import ConfigurationError
from lmux_plug import Registry
from lmux_plug.openai import AsyncOpenAI
from lmux_plug.openai import OpenAI
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from tests.helpers import HI
from tests.helpers import WEATHER_TOOL

KEY = "k-test-snippets-0"


@pytest.fixture
def registry(server: FakeOpenAIServer) -> Iterator[Registry]:
    with Registry.from_entry_points() as registry:
        registry.configure("openai", base_url=server.url, api_key=KEY)
        yield registry


def test_tool_call_round_trip_as_the_sdk_docs_write_it() -> None:
    with OpenAI(registry=Registry()) as client:
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        resp = client.chat.completions.create(
            model="echo/echo-1", messages=messages, tools=[WEATHER_TOOL]
        )
        assert resp.choices[0].finish_reason == "tool_calls"
        message = resp.choices[0].message
        messages.append(message)  # the assistant message, tool_calls and all
        for call in message.tool_calls or []:
            args = json.loads(call.function.arguments)
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"city": args})}
            )
        final = client.chat.completions.create(
            model="echo/echo-1", messages=messages, tools=[WEATHER_TOOL]
        )
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content
    # The answers validate as the openai package's own types.
    assert SdkCompletion.model_validate(resp.model_dump()).choices[0].message.tool_calls
    assert SdkCompletion.model_validate(final.model_dump()).usage is not None


def test_stream_with_include_usage(registry: Registry) -> None:
    with OpenAI(registry=registry) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                usage = chunk.usage
    assert text
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


_FAULTS = [
    ("429", openai.RateLimitError, lmux_plug.RateLimitError),
    ("401", openai.AuthenticationError, lmux_plug.AuthenticationError),
    ("404", openai.NotFoundError, lmux_plug.NotFoundError),
    ("400", openai.BadRequestError, lmux_plug.InvalidRequestError),
    ("500", openai.InternalServerError, lmux_plug.ProviderError),
    ("timeout", openai.APITimeoutError, lmux_plug.TimeoutError),
    ("reset", openai.APIConnectionError, lmux_plug.ProviderError),
]


def _sync_call(client: OpenAI, kind: str) -> object:
    if kind == "embeddings":
        return client.embeddings.create(model="text-embedding-3-small", input="x")
    if kind == "stream":
        return list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    return client.chat.completions.create(model="gpt-4o-mini", messages=HI)


async def _async_call(client: AsyncOpenAI, kind: str) -> object:
    if kind == "embeddings":
        return await client.embeddings.create(model="text-embedding-3-small", input="x")
    if kind == "stream":
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        return [chunk async for chunk in stream]
    return await client.chat.completions.create(model="gpt-4o-mini", messages=HI)


@pytest.mark.parametrize("case", _FAULTS, ids=[fault for fault, _, _ in _FAULTS])
@pytest.mark.parametrize("kind", ["chat", "embeddings", "stream"])
def test_except_openai_classes_catch_every_failure(
    server: FakeOpenAIServer,
    registry: Registry,
    case: tuple[str, type[Exception], type[Exception]],
    kind: str,
) -> None:
    fault, sdk_class, lmux_class = case
    # A hung upstream is cut by the client's timeout, as with the openai package.
    with OpenAI(registry=registry, timeout=0.5) as client:
        server.inject(fault)
        with pytest.raises(sdk_class) as sync_info:
            _sync_call(client, kind)

    async def run() -> BaseException:
        async with AsyncOpenAI(registry=registry, timeout=0.5) as client:
            server.inject(fault)
            try:
                await _async_call(client, kind)
            except openai.APIError as exc:
                return exc
        pytest.fail("no error")

    async_error = asyncio.run(run())
    for error in (sync_info.value, async_error):
        assert isinstance(error, sdk_class)
        assert isinstance(error, lmux_class)
        assert KEY not in str(error)


def test_streamed_error_mid_answer_is_an_openai_error(
    server: FakeOpenAIServer, registry: Registry
) -> None:
    server.inject("stream-error")
    with OpenAI(registry=registry) as client, pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
            pass
    assert isinstance(info.value, lmux_plug.LmuxError)


@pytest.mark.parametrize(
    ("call", "named", "hint"),
    [
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, temprature=0),
         "temprature", "did you mean 'temperature'"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, max_token=5),
         "max_token", "did you mean 'max_tokens'"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True, temprature=0),
         "temprature", "did you mean 'temperature'"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, temperature="hot"),
         "temperature", "expected a number"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=-1),
         "max_tokens", "at least 1"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, top_p=2),
         "top_p", "between 0 and 1"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, n=0),
         "n", "only n=1"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=True),
         "max_tokens", "expected an integer"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, frequency_penalty=5),
         "frequency_penalty", "between -2 and 2"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, stream="yes"),
         "stream", "true or false"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True,
            stream_options={"include_usgae": True}),
         "stream_options.include_usgae", "did you mean 'include_usage'"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True, stream_options=["include_usage"]),
         "stream_options", "expected a mapping"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": 1}),
         "stream_options.include_usage", "true or false"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream_options={"include_usage": True}),
         "stream_options", "only allowed with stream=True"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, extra_query={"api-version": "1"}),
         "extra_query", "not supported"),
        (lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=HI, retries="many"),
         "retries", "expected an integer"),
        (lambda c: c.chat.completions.create(
            model="gpt-4o-mini", messages=HI, fallback_models="openai/gpt-4o"),
         "fallback_models", "list of model names"),
        (lambda c: c.embeddings.create(model="text-embedding-3-small", input="x", dimensoins=3),
         "dimensoins", "did you mean 'dimensions'"),
        (lambda c: c.embeddings.create(model="text-embedding-3-small", input="x", dimensions=0),
         "dimensions", "at least 1"),
        (lambda c: c.embeddings.create(
            model="text-embedding-3-small", input="x", encoding_format="bytes"),
         "encoding_format", "'float' or 'base64'"),
    ],
)  # fmt: skip
def test_bad_keyword_is_bad_request_before_any_io(
    server: FakeOpenAIServer,
    registry: Registry,
    call: Callable[[Any], object],
    named: str,
    hint: str,
) -> None:
    with OpenAI(registry=registry) as client, pytest.raises(openai.BadRequestError) as info:
        call(client)
    assert isinstance(info.value, lmux_plug.InvalidParameterError)
    assert info.value.param == named
    assert hint in str(info.value)
    assert server.requests == []


def test_async_client_refuses_a_misspelt_keyword(
    server: FakeOpenAIServer, registry: Registry
) -> None:
    async def run() -> None:
        async with AsyncOpenAI(registry=registry) as client:
            with pytest.raises(openai.BadRequestError, match="did you mean 'temperature'"):
                await client.chat.completions.create(model="gpt-4o-mini", messages=HI, temprature=0)
            with pytest.raises(openai.BadRequestError, match="did you mean 'dimensions'"):
                await client.embeddings.create(
                    model="text-embedding-3-small", input="x", dimension=3
                )

    asyncio.run(run())
    assert server.requests == []


def test_provider_fields_go_through_extra_body(
    server: FakeOpenAIServer, registry: Registry
) -> None:
    with OpenAI(registry=registry) as client:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=HI, extra_body={"temprature_like_field": 1}
        )
        client.embeddings.create(
            model="text-embedding-3-small", input="x", extra_body={"truncate": "END"}
        )
    chat, embed = (json.loads(r.body) for r in server.requests)
    assert chat["temprature_like_field"] == 1
    assert embed["truncate"] == "END"


def test_every_keyword_of_the_sdk_create_is_accepted() -> None:
    from openai.resources.chat.completions import Completions as SdkCompletions
    from openai.resources.embeddings import Embeddings as SdkEmbeddingsResource

    from lmux_plug.openai._client import AsyncCompletions
    from lmux_plug.openai._client import AsyncEmbeddings
    from lmux_plug.openai._fields import EMBED_CREATE_FIELDS
    from lmux_plug.openai._fields import ChatCreateArguments

    # Chat's keywords are typed once in a TypedDict (the overloads unpack it), so the ones
    # it takes beyond its signature are the TypedDict's keys.
    chat_keywords = ChatCreateArguments.__required_keys__ | ChatCreateArguments.__optional_keys__
    for sdk, ours, extra in (
        (SdkCompletions.create, AsyncCompletions.create, chat_keywords),
        (SdkEmbeddingsResource.create, AsyncEmbeddings.create, EMBED_CREATE_FIELDS),
    ):
        wanted = set(inspect.signature(sdk).parameters) - {"self", "extra_query"}
        named = set(inspect.signature(ours).parameters)
        assert wanted <= named | extra, sorted(wanted - named - extra)


def test_embeddings_answer_validates_as_the_sdk_type() -> None:
    with OpenAI(registry=Registry()) as client:
        resp = client.embeddings.create(model="echo/echo-1", input=["a", "b"])
    parsed = SdkEmbeddings.model_validate(resp.model_dump())
    assert len(parsed.data) == 2
    assert resp.usage.prompt_tokens == parsed.usage.prompt_tokens


def test_client_attributes_read_as_the_sdks() -> None:
    with OpenAI(registry=Registry(), api_key="k-test-attr-1", max_retries=2) as client:
        assert (client.api_key, client.max_retries) == ("k-test-attr-1", 2)
        assert "k-test-attr-1" not in repr(client)
        assert client.with_options(timeout=5.0).timeout == 5.0
    assert OpenAI(registry=Registry()).api_key is None


def test_misspelt_client_option_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'max_retries'"):
        OpenAI(max_retires=3)
    # The openai package's own options port unchanged (and are ignored).
    OpenAI(organization="org-x", project="p", http_client=None).close()
    # The client's own options are checked when it is made, named as they were given.
    with pytest.raises(ConfigurationError, match=r"OpenAI\(max_retries=\.\.\.\): expected an int"):
        OpenAI(max_retries="3")
    with pytest.raises(ConfigurationError, match=r"AsyncOpenAI\(timeout=\.\.\.\): must be a pos"):
        AsyncOpenAI(timeout=-1)
    with pytest.raises(ConfigurationError, match=r"default_headers=\.\.\.\): expected a string"):
        OpenAI(default_headers={"x-team": 7})
    with pytest.raises(ConfigurationError, match=r"default_provider=\.\.\.\): expected a provider"):
        OpenAI(default_provider="")


def test_create_overloads_type_check(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from typing_extensions import assert_type
            from lmux_plug.openai import AsyncOpenAI, AsyncStream, OpenAI, Stream
            from lmux_plug.openai.types import ChatCompletion, CreateEmbeddingResponse

            client = OpenAI()
            msgs = [{"role": "user", "content": "hi"}]
            assert_type(client.chat.completions.create(model="m", messages=msgs), ChatCompletion)
            assert_type(
                client.chat.completions.create(model="m", messages=msgs, stream=True), Stream
            )
            assert_type(client.embeddings.create(model="m", input="x"), CreateEmbeddingResponse)

            async def main() -> None:
                async with AsyncOpenAI() as aclient:
                    done = await aclient.chat.completions.create(model="m", messages=msgs)
                    assert_type(done, ChatCompletion)
                    stream = await aclient.chat.completions.create(
                        model="m", messages=msgs, stream=True
                    )
                    assert_type(stream, AsyncStream)
                    text: str | None = done.choices[0].message.content
                    tokens: int = done.usage.prompt_tokens if done.usage else 0
                    print(text, tokens)
            """
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            str(snippet),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_presets_of_a_router_file_hold_through_the_drop_in(tmp_path: Path) -> None:
    from lmux_plug.router import Router
    from lmux_plug.testing import MockProvider

    mock = MockProvider("mock", handler=lambda call: "ok")
    registry = Registry()
    registry.register("mock", mock)
    config = tmp_path / "lmux.toml"
    config.write_text(
        '[models.terse]\ndeployments = ["mock/m"]\nsystem = "Be terse."\n'
        "[models.terse.params]\ntemperature = 0.1\nmax_tokens = 50\n"
    )
    router = Router(registry=registry, config_path=config)

    def seen() -> tuple[object, ...]:
        request = mock.last_call.request
        return request.temperature, request.max_tokens, request.messages[0].content

    with OpenAI(router=router) as client:
        client.chat.completions.create(model="terse", messages=HI)
        assert seen() == (0.1, 50, "Be terse.")
        list(client.chat.completions.create(model="terse", messages=HI, stream=True))
        assert seen() == (0.1, 50, "Be terse.")
        client.chat.completions.create(model="terse", messages=HI, temperature=0.7)
        assert seen() == (0.7, 50, "Be terse.")

    async def run() -> None:
        async with AsyncOpenAI(router=router) as client:
            await client.chat.completions.create(model="terse", messages=HI, max_tokens=5)

    asyncio.run(run())
    assert seen() == (0.1, 5, "Be terse.")
    registry.close()
