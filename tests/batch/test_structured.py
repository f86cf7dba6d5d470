from __future__ import annotations

import dataclasses
import enum
import json
from typing import Literal
from typing import Optional

import attrs
import pytest

from lmux_plug import ConfigurationError
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import LmuxError
from lmux_plug.batch import OutputParseError
from lmux_plug.batch import StructuredOutput
from lmux_plug.batch import agenerate_batch
from lmux_plug.batch.structured import schema_for_type
from lmux_plug.batch.structured import validate
from lmux_plug.testing import MockCall
from lmux_plug.testing import MockProvider
from lmux_plug.testing.fake_openai import FaultPlan


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@attrs.frozen
class Address:
    city: str
    zip: Optional[str]  # noqa: UP045 - checks the typing.Optional spelling too


@attrs.frozen
class Person:
    """A person."""

    name: str
    age: int
    tags: list[str]
    address: Address
    mood: Mood
    kind: Literal["a", "b"]
    score: float | None = None


@dataclasses.dataclass
class Point:
    x: int
    y: int


PERSON = {
    "name": "Ada",
    "age": 36,
    "tags": ["math"],
    "address": {"city": "London", "zip": None},
    "mood": "happy",
    "kind": "a",
    "score": 1.5,
}


def test_schema_from_attrs_is_strict_and_complete():
    schema = schema_for_type(Person)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "age", "tags", "address", "mood", "kind", "score"]
    assert schema["description"] == "A person."
    props = schema["properties"]
    assert props["age"] == {"type": "integer"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["address"]["properties"]["zip"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    assert props["mood"] == {"enum": ["happy", "sad"]}
    assert props["kind"] == {"enum": ["a", "b"]}
    assert validate(PERSON, schema) == []


def test_parse_attrs_and_dataclass():
    person = StructuredOutput.from_spec(Person).parse(json.dumps(PERSON))
    assert person == Person("Ada", 36, ["math"], Address("London", None), Mood.HAPPY, "a", 1.5)
    out = StructuredOutput.from_spec(Point)
    assert out.response_format.name == "Point"
    assert out.response_format.strict is True
    assert out.parse('```json\n{"x": 1, "y": 2}\n```') == Point(1, 2)  # fenced answers too


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"x": 1}', "missing 'y'"),
        ('{"x": "1", "y": 2}', r"\$\.x: expected integer, got str"),
        ('{"x": 1, "y": 2, "z": 3}', "unexpected property 'z'"),
        ("not json", "not valid JSON"),
        ("", "no text"),
        (None, "no text"),
        ("[1, 2]", "expected object"),
    ],
)
def test_parse_failures_are_typed_and_carry_raw(text, match):
    with pytest.raises(OutputParseError, match=match) as caught:
        StructuredOutput.from_spec(Point).parse(text, provider="p", model="m")
    assert isinstance(caught.value, LmuxError)
    assert caught.value.raw == text
    assert caught.value.provider == "p"


def test_pydantic_model():
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str
        qty: int

    out = StructuredOutput.from_spec(Item)
    assert out.kind == "pydantic"
    assert out.response_format.schema["properties"]["qty"]["type"] == "integer"
    assert out.parse('{"name": "a", "qty": 2}') == Item(name="a", qty=2)
    with pytest.raises(OutputParseError, match="does not fit Item") as caught:
        out.parse('{"name": "a", "qty": "lots"}')
    assert caught.value.raw == '{"name": "a", "qty": "lots"}'


@pytest.mark.parametrize(
    "spec",
    [
        {
            "type": "object",
            "title": "Thing",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
        },
        {
            "name": "Thing",
            "schema": {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "required": ["a"],
            },
        },
        {
            "type": "json_schema",
            "json_schema": {
                "name": "Thing",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "required": ["a"],
                },
            },
        },
    ],
)
def test_dict_schemas_in_every_spelling(spec):
    out = StructuredOutput.from_spec(spec)
    assert isinstance(out.response_format, JsonSchemaResponseFormat)
    assert out.response_format.name == "Thing"
    assert out.parse('{"a": 1}') == {"a": 1}
    with pytest.raises(OutputParseError, match="missing 'a'"):
        out.parse("{}")


def test_schema_refs_and_any_of():
    schema = {
        "type": "object",
        "$defs": {
            "P": {"type": "object", "properties": {"v": {"type": "number"}}, "required": ["v"]}
        },
        "properties": {
            "p": {"$ref": "#/$defs/P"},
            "n": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        },
        "required": ["p", "n"],
    }
    assert validate({"p": {"v": 1}, "n": None}, schema) == []
    assert validate({"p": {"v": "x"}, "n": 3}, schema) == [
        "$.p.v: expected number, got str",
        "$.n: matches none of the 2 allowed shapes",
    ]


@pytest.mark.parametrize("spec", [42, "a string", {}, list[int], dict])
def test_bad_specs_raise_configuration_error(spec):
    with pytest.raises(ConfigurationError):
        StructuredOutput.from_spec(spec)


@attrs.define
class Node:
    child: Node | None


@attrs.define
class Odd:
    when: complex


def test_recursive_and_unsupported_types_are_refused():
    with pytest.raises(ConfigurationError, match="recursive"):
        StructuredOutput.from_spec(Node)
    with pytest.raises(ConfigurationError, match="no JSON-schema equivalent"):
        StructuredOutput.from_spec(Odd)


# --------------------------------------------------------------------------- through the engine


@pytest.mark.parametrize("fake_server", [FaultPlan(reply='{"x": 3, "y": 4}')], indirect=True)
async def test_structured_batch_over_real_socket(fake_server, fake_registry):
    fake_server.record_requests = True
    batch = await agenerate_batch(
        "fake/fake-model", ["a", "b", "c"], client=fake_registry, response_format=Point
    )
    assert batch.error_count == 0
    assert [r.output_parsed for r in batch.results] == [Point(3, 4)] * 3
    sent = fake_server.requests[0].json()["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Point"
    assert sent["json_schema"]["schema"]["required"] == ["x", "y"]


async def test_parse_failure_is_a_per_item_error_never_none(registry):
    def handler(call: MockCall) -> str:
        n = int(call.messages[-1].content)
        return json.dumps({"x": n, "y": n}) if n % 3 else "sorry, no JSON"

    mock = MockProvider("mock", handler=handler)
    registry.register("mock", mock)
    batch = await agenerate_batch(
        "mock/m", [str(i) for i in range(9)], client=registry, response_format=Point
    )
    for i in range(9):
        if i % 3:
            assert batch.results[i].output_parsed == Point(i, i)
            assert batch.results[i].output_text == json.dumps({"x": i, "y": i})
        else:
            assert batch.results[i] is None
            error = batch.errors[i]
            assert isinstance(error, OutputParseError)
            assert error.raw == "sorry, no JSON"
            assert error.provider == "mock"
    assert isinstance(mock.last_call.request.response_format, JsonSchemaResponseFormat)


async def test_bad_response_format_fails_before_any_call(registry):
    mock = MockProvider("mock")
    registry.register("mock", mock)
    with pytest.raises(ConfigurationError):
        await agenerate_batch("mock/m", ["a"], client=registry, response_format=3)
    assert mock.calls == []
