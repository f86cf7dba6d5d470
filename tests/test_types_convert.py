"""Converter round trips for every core type, and OpenAI-style dict acceptance."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmux_plug import AssistantMessage
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import Cost
from lmux_plug import EmbeddingResponse
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import Message
from lmux_plug import ModelPricing
from lmux_plug import Secret
from lmux_plug import SystemMessage
from lmux_plug import TextContent
from lmux_plug import ToolCall
from lmux_plug import ToolMessage
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.convert import converter
from lmux_plug.convert import message_to_openai
from lmux_plug.convert import to_message
from lmux_plug.convert import to_messages
from lmux_plug.convert import to_response_format
from lmux_plug.convert import to_tool
from lmux_plug.convert import to_tool_choice
from lmux_plug.testing import strategies as lst


def round_trip(value: Any, cls: Any) -> Any:
    conv = converter()
    return conv.structure(conv.unstructure(value), cls)


@pytest.mark.parametrize(
    ("values", "cls"),
    [
        (lst.chat_requests, ChatRequest),
        (lst.chat_responses, ChatResponse),
        (lst.chat_chunks, ChatChunk),
        (lst.embedding_responses, EmbeddingResponse),
        (lst.usages, Usage),
        (lst.model_pricings, ModelPricing),
        (lst.costs, Cost),
    ],
    ids=lambda p: getattr(p, "__name__", ""),
)
@given(data=st.data())
def test_every_core_type_round_trips(values: Any, cls: type, data: st.DataObject) -> None:
    value = data.draw(values())
    assert round_trip(value, cls) == value


@given(lst.messages())
def test_every_message_round_trips_through_the_union(messages: list[Message]) -> None:
    for message in messages:
        assert round_trip(message, Message) == message


@given(lst.messages())
def test_openai_dicts_convert_back_to_the_same_messages(messages: list[Message]) -> None:
    for message in messages:
        assert to_message(message_to_openai(message)) == _without_local_fields(message)


def _without_local_fields(message: Message) -> Message:
    """Fields OpenAI's shape has no place for (cache markers, ToolMessage.name)."""
    import attrs

    if isinstance(message, ToolMessage):
        return attrs.evolve(message, name=None)
    return message


def test_plain_dicts_are_accepted(chat_style_turns: list[dict[str, Any]]) -> None:
    messages = to_messages(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            *chat_style_turns,
        ]
    )
    assert messages[0] == SystemMessage("be brief")
    assert messages[1] == UserMessage("hi")
    assert messages[2] == UserMessage(
        (TextContent("what is this?"), ImageContent("https://x.test/a.png", detail="low"))
    )
    assert messages[3] == AssistantMessage(tool_calls=(ToolCall("call_2", "look", '{"a": 1}'),))
    assert messages[4] == ToolMessage("a cat", "call_2")


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"role": "wizard", "content": "x"}, "unknown role"),
        ({"role": "user", "content": 3}, "user content"),
        ({"role": "tool", "content": "x"}, "tool_call_id"),
        ({"role": "user", "content": [{"type": "video"}]}, "unsupported content part"),
        ("not a dict", "must be a dict"),
    ],
)
def test_bad_messages_raise_invalid_request_naming_the_problem(bad: Any, needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle) as info:
        to_messages([{"role": "user", "content": "ok"}, bad])
    assert "messages[1]" in str(info.value)


def test_empty_message_list_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        to_messages([])


def test_tools_tool_choice_and_response_formats_from_dicts() -> None:
    tool = to_tool(
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    )
    assert tool.function.name == "f"
    assert to_tool_choice("required").mode == "required"
    assert to_tool_choice({"type": "function", "function": {"name": "f"}}).function_name == "f"
    fmt = to_response_format(
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    )
    assert fmt is not None
    assert fmt.type == "json_schema"
    for bad_call, arg in (
        (to_tool, {"x": 1}),
        (to_tool_choice, "sometimes"),
        (to_response_format, {"type": "yaml"}),
    ):
        with pytest.raises(InvalidRequestError):
            bad_call(arg)


@given(st.text(min_size=1))
def test_secret_never_shows_its_value(value: str) -> None:
    secret = Secret(value)
    assert secret.reveal() == value
    # What is shown does not depend on the value at all.
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}"):
        assert shown == "Secret('**********')"
    assert repr([secret]) == "[Secret('**********')]"


def test_usage_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="input_tokens"):
        Usage(input_tokens=-1)
