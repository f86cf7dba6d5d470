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


@attrs.frozen(slots=False)
class _DictWithConverter:
    items: tuple[int, ...] = attrs.field(converter=tuple)
    note: str | None = None


@attrs.frozen(slots=False)
class _DictChecked:
    count: int = 0

    def __attrs_post_init__(self) -> None:
        if self.count < 0:
            msg = "count must be >= 0"
            raise ValueError(msg)


@attrs.frozen(slots=False, cache_hash=True)
class _DictCachedHash:
    value: int


@attrs.frozen
class _SlottedBase:
    base: int


@attrs.frozen(slots=False)
class _DictOnSlots(_SlottedBase):
    extra: int = 0


def test_a_dict_copy_of_plain_fields_skips_init_and_keeps_the_original():
    # Only fields without converter or validator are copied without __init__.
    one = _DictWithConverter([1, 2])
    copied = evolve(one, note="n")
    assert copied == _DictWithConverter((1, 2), "n")
    assert one.note is None
    assert copied.__dict__ == {"items": (1, 2), "note": "n"}
    # A converted field still goes through __init__.
    assert evolve(one, items=[3]).items == (3,)


@pytest.mark.parametrize(
    ("instance", "changes"),
    [
        (_DictWithConverter([1]), {"note": "x"}),
        (_DictWithConverter([1]), {"items": [2], "note": "y"}),
        (_DictChecked(1), {"count": 2}),
        (_DictCachedHash(1), {"value": 2}),
        (_DictOnSlots(1, 2), {"extra": 3}),
    ],
)
def test_dict_classes_copy_as_attrs_evolve(instance, changes):
    _same(evolve(instance, **changes), attrs.evolve(instance, **changes))


def test_post_init_and_cached_hash_are_not_skipped():
    # __attrs_post_init__ validates: a copy may not skip it.
    with pytest.raises(ValueError, match="count must be >= 0"):
        evolve(_DictChecked(1), count=-1)
    # A cached hash is not carried over to a copy with another value.
    one = _DictCachedHash(1)
    hash(one)  # fills the cache
    assert hash(evolve(one, value=2)) == hash(_DictCachedHash(2))
    # A slotted base's values are not in the instance dict.
    assert evolve(_DictOnSlots(1, 2), extra=5) == _DictOnSlots(1, 5)


def test_a_negative_usage_count_is_refused_and_named():
    with pytest.raises(ValueError, match="cache_read_tokens must be >= 0, got -2"):
        Usage(input_tokens=1, cache_read_tokens=-2)
    with pytest.raises(ValueError, match="input_tokens must be >= 0, got -1"):
        Usage(input_tokens=-1, reasoning_tokens=-3)
    usage = Usage(input_tokens=1)
    with pytest.raises(ValueError, match="output_tokens must be >= 0"):
        evolve(usage, output_tokens=-1)
