"""Issue 15 testing aids: ``echo/`` answers tool and structured-output snippets offline.

The snippets are the usual ones (a tool loop, a pydantic schema as ``json_schema``); the
JSON is validated by pydantic itself, not by our code.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Literal

import pydantic
import pytest

import lmux_plug
from lmux_plug import FinishReason
from lmux_plug import Registry
from lmux_plug._json_instance import instance_of
from lmux_plug.openai import OpenAI

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture
def registry():
    with Registry() as registry:
        yield registry


def test_tool_loop_runs_offline(registry: Registry) -> None:
    messages: list[object] = [{"role": "user", "content": "Weather in Paris?"}]
    first = registry.chat("echo/echo-1", messages, tools=[WEATHER, TIME])
    assert first.finish_reason is FinishReason.TOOL_CALLS
    (call,) = first.tool_calls
    assert call.name == "get_weather"
    arguments = json.loads(call.arguments)
    assert arguments["unit"] in ("celsius", "fahrenheit")
    assert 1 <= arguments["days"] <= 7
    assert isinstance(arguments["city"], str)
    # Deterministic: the same request gives the same call.
    assert registry.chat("echo/echo-1", messages, tools=[WEATHER, TIME]).tool_calls == (call,)
    messages.append(first.message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    final = registry.chat("echo/echo-1", messages, tools=[WEATHER, TIME])
    assert final.tool_calls == ()
    assert final.content == "sunny, 21C"


def test_tool_choice_is_followed(registry: Registry) -> None:
    named = registry.chat(
        "echo/echo-1",
        "what time?",
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.name for c in named.tool_calls] == ["get_time"]
    assert json.loads(named.tool_calls[0].arguments) == {}
    none = registry.chat("echo/echo-1", "just talk", tools=[WEATHER], tool_choice="none")
    assert none.tool_calls == ()
    assert none.content == "just talk"


def test_streamed_tool_call(registry: Registry) -> None:
    chunks = list(registry.chat_stream("echo/echo-1", "Paris", tools=[WEATHER]))
    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert [d.name for d in deltas] == ["get_weather"]
    assert json.loads(deltas[0].arguments)["city"]
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(min_length=5, max_length=5)


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=18, le=120)
    score: float = pydantic.Field(gt=0, lt=1)
    email: str | None = None
    favourite: Colour
    kind: Literal["human"]
    tags: list[str] = pydantic.Field(min_length=2)
    home: Address
    others: list[Address] = []
    scores: dict[str, int] = {}


def test_json_schema_answer_validates(registry: Registry) -> None:
    schema = Person.model_json_schema()
    response = registry.chat(
        "echo/echo-1",
        "describe someone",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    person = Person.model_validate_json(response.content or "")
    assert person.kind == "human"
    assert len(person.tags) >= 2
    assert 18 <= person.age <= 120
    streamed = "".join(
        c.delta
        for c in registry.chat_stream(
            "echo/echo-1",
            "describe someone",
            response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        )
    )
    assert Person.model_validate_json(streamed) == person


def test_json_object_answer_is_json(registry: Registry) -> None:
    response = registry.chat("echo/echo-1", "hi", response_format={"type": "json_object"})
    assert json.loads(response.content or "") == {"echo": "hi"}


def test_openai_snippet_with_tools_runs_with_no_server(lmux_registry: Registry) -> None:
    client = OpenAI()
    reply = client.chat.completions.create(
        model="echo/echo-1",
        messages=[{"role": "user", "content": "Weather in Oslo"}],
        tools=[WEATHER],
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert reply.choices[0].finish_reason == "tool_calls"
    assert lmux_plug.chat("echo/echo-1", "plain").content == "plain"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"type": "integer", "multipleOf": 5}, "minItems": 3},
        {"type": ["null", "number"], "exclusiveMinimum": 10},
        {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/x"}], "$defs": {"x": {"const": 7}}},
        {"allOf": [{"properties": {"a": {"type": "boolean"}}}, {"required": ["b"]}]},
        {"type": "string", "format": "date-time"},
        {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
    ],
)
def test_instances_of_assorted_schemas(schema: dict[str, object]) -> None:
    value = instance_of(schema, "seed")
    adapter = pydantic.TypeAdapter(object)  # structure only; checked by hand below
    adapter.validate_python(value)
    if schema.get("type") == "array":
        assert len(value) >= 3
        assert all(v % 5 == 0 for v in value)
    elif "exclusiveMinimum" in schema:
        assert value > 10
    elif "anyOf" in schema:
        assert value == 7
    elif "allOf" in schema:
        assert value["a"] is True
        assert "b" in value
    elif schema.get("format") == "date-time":
        assert value == "2024-01-01T00:00:00Z"
    else:
        assert len(value) >= 2
        assert all(isinstance(v, int) for v in value.values())


def test_unique_items_are_distinct(registry: Registry) -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "items": {"type": "string", "enum": ["red", "green", "blue"]},
                "minItems": 3,
                "uniqueItems": True,
            },
            "ids": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 4},
                "minItems": 4,
                "uniqueItems": True,
            },
            "names": {
                "type": "array",
                "items": {"type": "string", "maxLength": 3},
                "minItems": 3,
                "uniqueItems": True,
            },
        },
        "required": ["tags", "ids", "names"],
        "additionalProperties": False,
    }
    response = registry.chat(
        "echo/echo-1",
        "pick colours",
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
    )
    answer = json.loads(response.content or "")
    assert sorted(answer["tags"]) == ["blue", "green", "red"]
    assert sorted(answer["ids"]) == [1, 2, 3, 4]
    assert len(set(answer["names"])) == 3
    assert all(len(name) <= 3 for name in answer["names"])


class Ticket(pydantic.BaseModel):
    code: str = pydantic.Field(pattern=r"^[A-Z]{3}[0-9]{3}$")
    day: str = pydantic.Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    slug: str = pydantic.Field(pattern=r"^[a-z]+$", max_length=3)
    currency: str = pydantic.Field(pattern=r"^[A-Z]{3}$")


def test_string_patterns_are_met(registry: Registry) -> None:
    # pydantic checks each pattern: a JSON answer that ignored one would not validate.
    response = registry.chat(
        "echo/echo-1",
        "book it",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "ticket", "schema": Ticket.model_json_schema()},
        },
    )
    ticket = Ticket.model_validate_json(response.content or "")
    assert ticket.slug == "boo"  # the prompt, cut to three letters
