"""The shared codec helpers in ``lmux_plug.codec``."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmux_plug import InvalidRequestError
from lmux_plug import ToolCall
from lmux_plug.codec import JsonNesting
from lmux_plug.codec import add_turn
from lmux_plug.codec import count_of
from lmux_plug.codec import objects_of
from lmux_plug.codec import reasoning_level
from lmux_plug.codec import tool_arguments
from lmux_plug.codec import tool_call_id
from lmux_plug.testing.strategies import json_values


def test_add_turn_merges_consecutive_turns_of_one_role() -> None:
    turns: list[dict[str, object]] = []
    add_turn(turns, "user", ["text"])
    add_turn(turns, "user", ["tool result"])
    add_turn(turns, "assistant", ["answer"])
    assert turns == [
        {"role": "user", "content": ["text", "tool result"]},
        {"role": "assistant", "content": ["answer"]},
    ]
    contents: list[dict[str, object]] = []
    add_turn(contents, "model", ["part"], key="parts")  # Gemini's spelling
    assert contents == [{"role": "model", "parts": ["part"]}]


def test_count_of_reads_non_negative_ints_only() -> None:
    body = {"a": 7, "b": -1, "c": "3", "d": None, "e": 0}
    assert [count_of(body, k) for k in ("a", "b", "c", "d", "e", "missing")] == [7, 0, 0, 0, 0, 0]


def test_tool_arguments_parses_objects_and_names_bad_ones() -> None:
    assert tool_arguments(ToolCall("c1", "f", '{"x": 1}'), index=2, provider="p", model="m") == {
        "x": 1
    }
    assert tool_arguments(ToolCall("c1", "f", "  "), index=2, provider="p", model="m") == {}
    with pytest.raises(InvalidRequestError, match=r"message 2: tool call 'c1' arguments are not"):
        tool_arguments(ToolCall("c1", "f", "{"), index=2, provider="p", model="m")
    with pytest.raises(InvalidRequestError, match="must be a JSON object") as caught:
        tool_arguments(ToolCall("c1", "f", "[1]"), index=0, provider="p", model="m")
    assert (caught.value.provider, caught.value.model) == ("p", "m")


def test_tool_call_id_keeps_given_ids_and_derives_stable_ones() -> None:
    assert tool_call_id("given", "f", {}, 0) == "given"
    derived = tool_call_id(None, "f", {"b": 1, "a": 2}, "resp", 3)
    seed = 'resp:3:f:{"a": 2, "b": 1}'
    assert derived == "call_" + hashlib.sha256(seed.encode()).hexdigest()[:16]
    assert tool_call_id("", "f", {"a": 2, "b": 1}, "resp", 3) == derived
    assert tool_call_id(None, "f", {"a": 2, "b": 1}, "resp", 4) != derived


def test_reasoning_level_checks_the_effort() -> None:
    assert reasoning_level("HIGH", provider="p", model="m") == "high"
    with pytest.raises(
        InvalidRequestError, match="none, minimal, low, medium, high, xhigh, got 'max'"
    ):
        reasoning_level("max", provider="p", model="m")


def test_objects_of_keeps_the_objects_of_a_list_only() -> None:
    first, second = {"type": "text"}, {"type": "tool_use"}
    assert objects_of([first, "stray", None, 3, second, ["nested"]]) == [first, second]
    for not_a_list in (None, {"type": "text"}, "text", ({"type": "text"},)):
        assert objects_of(not_a_list) == []


@given(
    st.one_of(st.lists(json_values()), st.dictionaries(st.text(), json_values())),
    st.lists(st.integers(0, 400), max_size=6),
)
def test_json_nesting_finds_the_end_of_a_value_fed_in_any_pieces(
    value: object, cuts: list[int]
) -> None:
    # Brackets, quotes and backslashes inside strings must not move the end.
    text = json.dumps(value) + ' {"after": "[}"}'
    end = len(json.dumps(value))
    nesting = JsonNesting()
    found, offset = None, 0
    for left, right in zip([0, *sorted(cuts)], [*sorted(cuts), len(text)], strict=True):
        piece = text[left:right] if right > left else ""
        if found is None and (at := nesting.end_in(piece)) is not None:
            found = offset + at
        offset += len(piece)
    assert found == end


def test_json_nesting_can_count_objects_only() -> None:
    nesting = JsonNesting("{", "}")
    text = '[{"a": [1, "}"]}, {"b": {}}]'
    first = nesting.end_in(text, text.index("{"))
    assert text[:first] == '[{"a": [1, "}"]}'
    assert nesting.depth == 0
    assert nesting.end_in(text, first) == len(text) - 1
