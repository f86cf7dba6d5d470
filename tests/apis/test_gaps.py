"""Gaps the real traffic showed: error classes from real bodies, narrow declarations."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ContextLengthExceededError
from lmux_plug import RateLimitError
from lmux_plug import Registry
from lmux_plug._http_errors import error_from_response


def _error(status: int, body: dict[str, object], provider: str) -> Exception:
    return error_from_response(status, {}, json.dumps(body).encode(), provider=provider)


@pytest.mark.parametrize(
    "body",
    [
        {
            "error": {
                "message": "Prompt is too long for this model.",
                "type": "invalid_request_error",
                "code": 400,
            }
        },
        {
            "error": {
                "message": "Request has too many prompt tokens",
                "type": "too_many_prompt_tokens",
                "code": 400,
            }
        },
    ],
)
def test_perplexity_overflow_is_context_length(body: dict[str, object]) -> None:
    assert isinstance(_error(400, body, "perplexity"), ContextLengthExceededError)


def test_xai_bad_key_on_400_is_authentication() -> None:
    body = {
        "code": "Client specified an invalid argument",
        "error": "Incorrect API key provided: xa***56. You can obtain an API key from https://console.x.ai.",
    }
    error = _error(400, body, "xai")
    assert isinstance(error, AuthenticationError)
    assert not error.retryable


def test_openai_request_too_large_429_is_not_retryable() -> None:
    body = {
        "error": {
            "message": "Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 91234.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    error = _error(429, body, "openai")
    assert isinstance(error, RateLimitError)
    assert error.retryable is False
    plain = _error(
        429, {"error": {"message": "Rate limit reached for requests", "type": "requests"}}, "openai"
    )
    assert plain.retryable is True


def test_declarations_match_the_real_apis() -> None:
    registry = Registry.from_entry_points()
    assert Capability.REASONING in registry.provider("deepseek").capabilities_of(
        "deepseek-reasoner"
    )
    assert Capability.REASONING in registry.provider("mistral").capabilities_of(
        "mistral-small-latest"
    )
    assert Capability.FILES in registry.provider("openai").capabilities_of("gpt-5-nano")
    assert Capability.EMBED in registry.provider("openrouter").capabilities


async def test_embed_splits_by_the_declared_maximum() -> None:
    import attrs

    from lmux_plug import ModelPricing
    from lmux_plug.testing import MockProvider

    mock = MockProvider(pricing=ModelPricing(input="0.001", output="0"))
    mock.spec = attrs.evolve(mock.spec, options={"max_embed_inputs": 2})
    registry = Registry(builtins=False)
    registry.register("m", mock)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    response = await registry.aembed("m/mock-model", texts)
    assert [call.request.inputs for call in mock.calls] == [
        ("a", "bb"),
        ("ccc", "dddd"),
        ("eeeee",),
    ]
    assert [v[0] for v in response.embeddings] == [1.0, 2.0, 3.0, 4.0, 5.0]  # input order
    assert response.usage.input_tokens == 6  # ceil(len/4) per text, summed over the parts
    assert response.cost is not None
    assert response.cost.total == 6 * ModelPricing(input="0.001", output="0").input
    mock.reset()
    await registry.aembed("m/mock-model", texts[:2])
    assert len(mock.calls) == 1
    assert Registry.from_entry_points().provider("openai").options["max_embed_inputs"] == 2048


def test_chat_response_format_class_gives_parsed_object() -> None:
    import dataclasses

    from lmux_plug.batch.structured import OutputParseError
    from lmux_plug.testing import MockProvider

    @dataclasses.dataclass
    class City:
        name: str
        population: int

    mock = MockProvider().enqueue('{"name": "Paris", "population": 2100000}', "not json at all")
    registry = Registry(builtins=False)
    registry.register("m", mock)
    response = registry.chat("m/mock-model", "Biggest French city?", response_format=City)
    assert response.parsed == City("Paris", 2100000)
    sent = mock.last_call.request.response_format
    assert sent.name == "City"
    assert sent.schema["required"] == ["name", "population"]
    with pytest.raises(OutputParseError) as info:
        registry.chat("m/mock-model", "again", response_format=City)
    assert info.value.raw == "not json at all"
    plain = registry.chat("m/mock-model", "no format")
    assert plain.parsed is None
    registry.close()


def test_chat_response_format_pydantic_model_with_echo() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        text: str
        count: int

    registry = Registry()
    response = registry.chat("echo/echo-1", "anything", response_format=Answer)
    assert isinstance(response.parsed, Answer)
    registry.close()


async def test_json_mode_emulated_without_touching_the_callers_messages() -> None:
    import attrs

    from lmux_plug import SystemMessage
    from lmux_plug.batch.structured import OutputParseError
    from lmux_plug.testing import MockProvider

    mock = MockProvider()
    mock.spec = attrs.evolve(mock.spec, options={"emulate_json": ("json_schema",)})
    registry = Registry(builtins=False)
    registry.register("m", mock)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    messages = [{"role": "user", "content": "Give n."}]
    fmt = {"type": "json_schema", "json_schema": {"name": "N", "schema": schema}}
    mock.enqueue('Sure! ```json\n{"n": 3}\n```', '{"n": "three"}', "no json here", '{"x": 1}')
    response = await registry.achat("m/mock-model", messages, response_format=fmt)
    assert response.content == '{"n": 3}'
    sent = mock.last_call.request
    assert sent.response_format is None
    assert isinstance(sent.messages[0], SystemMessage)
    assert '"required":["n"]' in sent.messages[0].content
    assert messages == [{"role": "user", "content": "Give n."}]  # the caller's list, unchanged
    with pytest.raises(OutputParseError, match="does not fit"):
        await registry.achat("m/mock-model", messages, response_format=fmt)
    with pytest.raises(OutputParseError, match="no JSON") as info:
        await registry.achat("m/mock-model", messages, response_format=fmt)
    assert info.value.raw == "no json here"
    # json_object is native here: sent as it is, the answer untouched.
    plain = await registry.achat("m/mock-model", messages, response_format={"type": "json_object"})
    assert mock.last_call.request.response_format is not None
    assert plain.content == '{"x": 1}'


def test_deepseek_and_perplexity_declare_emulated_json() -> None:
    registry = Registry.from_entry_points()
    deepseek = registry.provider("deepseek")
    assert Capability.JSON_SCHEMA in deepseek.capabilities_of("deepseek-chat")
    assert deepseek.options["emulate_json"] == ("json_schema",)
    perplexity = registry.provider("perplexity")
    assert Capability.JSON_OBJECT in perplexity.capabilities_of("sonar")
    assert perplexity.options["emulate_json"] == ("json_object",)


def _emulating_registry(kind: str) -> tuple[Registry, Any]:
    import attrs

    from lmux_plug.testing import MockProvider

    mock = MockProvider()
    mock.spec = attrs.evolve(mock.spec, options={"emulate_json": (kind,)})
    registry = Registry(builtins=False)
    registry.register("m", mock)
    return registry, mock


def _pieces(text: str, cuts: list[int]) -> list[Any]:
    from lmux_plug import ChatChunk

    bounds = [0, *sorted({c % (len(text) + 1) for c in cuts}), len(text)]
    chunks = [ChatChunk(delta=text[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
    return [*chunks, ChatChunk(finish_reason="stop")]


_N_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "N",
        "schema": {
            "type": "object",
            "properties": {"n": {"type": "integer"}, "s": {"type": "string"}},
            "required": ["n"],
        },
    },
}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            '```json\n{"n": 3, "s": "a } ] \\" {"}\n```\nHope this helps!',
            '{"n": 3, "s": "a } ] \\" {"}',
        ),
        ('  {"n": 3}', '{"n": 3}'),
        ('Sure! Here it is: {"n": 3} -- done', '{"n": 3}'),
        ('```\n{"n": 3, "s": "ü€😀"}```', '{"n": 3, "s": "ü€😀"}'),
    ],
)
@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
@settings(max_examples=60)
def test_streamed_emulated_json_is_cut_to_the_value_at_every_split(
    answer: str, expected: str, cuts: list[int]
) -> None:
    registry, mock = _emulating_registry("json_schema")
    mock.enqueue(_pieces(answer, cuts))
    chunks = list(registry.chat_stream("m/mock-model", "Give n.", response_format=_N_SCHEMA))
    text = "".join(c.delta for c in chunks)
    assert json.loads(text) == json.loads(expected)
    assert text.strip() == expected
    assert chunks[-1].finish_reason == "stop"
    registry.close()


def test_streamed_emulated_json_streams_the_value_as_it_arrives() -> None:
    registry, mock = _emulating_registry("json_object")
    mock.enqueue(_pieces('```json\n{"n": 1, "s": "long text"}\n```', [9, 20, 30]))
    deltas = [
        c.delta
        for c in registry.chat_stream("m/mock-model", "x", response_format={"type": "json_object"})
    ]
    # The fence line is dropped, the value comes in the pieces it arrived in, the fence after
    # it is dropped too.
    assert deltas[:4] == ["{", '"n": 1, "s"', ': "long te', 'xt"}']
    assert "".join(deltas) == '{"n": 1, "s": "long text"}'
    registry.close()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("no json here at all", "no JSON"),
        ('{"n": "three"}', "does not fit"),
        ('```json\n{"n": 3', "no JSON"),
        ('{"a": {"n": 3}', "incomplete"),
    ],
)
def test_streamed_emulated_json_that_is_wrong_is_an_output_parse_error(
    answer: str, problem: str
) -> None:
    from lmux_plug.batch.structured import OutputParseError

    registry, mock = _emulating_registry("json_schema")
    mock.enqueue(_pieces(answer, [3, 7]))
    with pytest.raises(OutputParseError, match=problem) as info:
        list(registry.chat_stream("m/mock-model", "Give n.", response_format=_N_SCHEMA))
    assert info.value.raw == answer
    registry.close()
