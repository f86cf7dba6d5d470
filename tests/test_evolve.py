"""The hot-path ``evolve`` copies exactly as ``attrs.evolve`` does, whatever the class."""

from __future__ import annotations

import attrs
import pytest

from lmux_plug._evolve import evolve
from lmux_plug._types import ChatResponse
from lmux_plug._types import Usage


@attrs.frozen
class _One:
    value: int


@attrs.frozen
class _Private:
    _secret: str
    count: int = attrs.field(default=0, converter=int)
    derived: int = attrs.field(init=False, default=7)


@attrs.frozen
class _KwOnly:
    a: int
    b: int = attrs.field(kw_only=True, default=2)


@attrs.frozen
class _Empty:
    pass


def _same(left: object, right: object) -> None:
    assert type(left) is type(right)
    assert attrs.asdict(left, recurse=False) == attrs.asdict(right, recurse=False)  # type: ignore[arg-type]


def test_a_response_copy_is_the_attrs_copy_with_the_changes():
    response = ChatResponse(
        content="hi",
        model="m",
        provider="p",
        usage=Usage(input_tokens=3, output_tokens=4),
        headers={"x-request-id": "1"},
        latency=0.5,
    )
    for changes in ({"attempts": (1,)}, {"latency": 2.0, "cost": None}, {}):
        copied = evolve(response, **changes)
        _same(copied, attrs.evolve(response, **changes))
        assert copied is not response
    assert response.attempts == ()  # the original is untouched
    # Converters run on the copy: a list given for a tuple field is stored as a tuple.
    assert evolve(response, tool_calls=[]).tool_calls == ()


@pytest.mark.parametrize(
    ("instance", "changes"),
    [
        (_One(1), {"value": 2}),
        (_One(1), {}),
        (_Private("s", 1), {"secret": "t"}),
        (_Private("s", 1), {"count": "5"}),
        (_Private("s", 1), {"secret": "t", "count": 3}),
        (_KwOnly(1, b=3), {"a": 5}),
        (_KwOnly(1, b=3), {"b": 9}),
        (_Empty(), {}),
    ],
)
def test_every_kind_of_class_copies_as_attrs_evolve(instance, changes):
    _same(evolve(instance, **changes), attrs.evolve(instance, **changes))


def test_an_unknown_field_is_a_type_error_as_with_attrs():
    with pytest.raises(TypeError):
        attrs.evolve(_One(1), nope=2)
    with pytest.raises(TypeError):
        evolve(_One(1), nope=2)
    with pytest.raises(TypeError):
        evolve(_Private("s"), _secret="t")  # the init argument is "secret"
