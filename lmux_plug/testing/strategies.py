"""Hypothesis strategies for the core types, for our tests and plugin authors' tests.

Names are plural nouns, as Hypothesis names things: ``messages()``, ``chat_requests()``,
``usages()``, ``model_strings()`` ... Registered with ``st.register_type_strategy`` by the
``hypothesis`` entry point, so ``st.from_type(ChatRequest)`` works too.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from lmux_plug._pricing import Cost
from lmux_plug._pricing import ModelPricing
from lmux_plug._pricing import PricingTier
from lmux_plug._types import AssistantMessage
from lmux_plug._types import AudioContent
from lmux_plug._types import ChatChunk
from lmux_plug._types import ChatRequest
from lmux_plug._types import ChatResponse
from lmux_plug._types import DeveloperMessage
from lmux_plug._types import EmbeddingResponse
from lmux_plug._types import FileContent
from lmux_plug._types import FinishReason
from lmux_plug._types import FunctionDefinition
from lmux_plug._types import ImageContent
from lmux_plug._types import JsonObjectResponseFormat
from lmux_plug._types import JsonSchemaResponseFormat
from lmux_plug._types import Message
from lmux_plug._types import SystemMessage
from lmux_plug._types import TextContent
from lmux_plug._types import TextResponseFormat
from lmux_plug._types import Tool
from lmux_plug._types import ToolCall
from lmux_plug._types import ToolCallDelta
from lmux_plug._types import ToolChoice
from lmux_plug._types import ToolMessage
from lmux_plug._types import Usage
from lmux_plug._types import UserMessage

__all__ = [
    "chat_chunks",
    "chat_requests",
    "chat_responses",
    "content_parts",
    "costs",
    "embedding_responses",
    "json_values",
    "messages",
    "model_pricings",
    "model_strings",
    "response_formats",
    "tool_calls",
    "tools",
    "usages",
]

_texts = st.text(max_size=40)
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
_prices = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)
_counts = st.integers(min_value=0, max_value=2_000_000)


def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """JSON-compatible values (no NaN)."""
    leaves = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _texts
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(_ids, children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def usages() -> st.SearchStrategy[Usage]:
    """Consistent usage: cached tokens never exceed input tokens."""

    @st.composite
    def build(draw: st.DrawFn) -> Usage:
        input_tokens = draw(_counts)
        cache_read = draw(st.integers(0, input_tokens))
        cache_creation = draw(st.integers(0, input_tokens - cache_read))
        output = draw(_counts)
        reasoning = draw(st.integers(0, output))
        return Usage(input_tokens, output, cache_read, cache_creation, reasoning)

    return build()


def content_parts() -> st.SearchStrategy[Any]:
    """Text, image, audio and file parts."""
    return st.one_of(
        st.builds(TextContent, _texts),
        st.builds(
            ImageContent,
            st.sampled_from(["https://example.com/a.png", "data:image/png;base64,AAAA"]),
        ),
        st.builds(AudioContent, st.just("AAAA"), st.sampled_from(["wav", "mp3"])),
        st.builds(FileContent, st.just("JVBERi0="), filename=st.none() | st.just("a.pdf")),
    )


def tool_calls() -> st.SearchStrategy[ToolCall]:
    """Tool calls with JSON-object arguments."""
    return st.builds(
        ToolCall,
        id=_ids,
        name=_ids,
        arguments=st.dictionaries(_ids, json_values(4), max_size=3).map(json.dumps),
    )


def messages(*, min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[list[Message]]:
    """Lists of messages of every role."""
    one = st.one_of(
        st.builds(SystemMessage, _texts),
        st.builds(DeveloperMessage, _texts),
        st.builds(
            UserMessage, _texts | st.lists(content_parts(), min_size=1, max_size=3).map(tuple)
        ),
        st.builds(
            AssistantMessage,
            content=st.none() | _texts,
            tool_calls=st.lists(tool_calls(), max_size=2).map(tuple),
        ),
        st.builds(ToolMessage, _texts, _ids),
    )
    return st.lists(one, min_size=min_size, max_size=max_size)


def tools() -> st.SearchStrategy[Tool]:
    """Function tools with small object schemas."""
    return st.builds(
        Tool,
        st.builds(
            FunctionDefinition,
            name=_ids,
            description=st.none() | _texts,
            parameters=st.just({"type": "object", "properties": {"x": {"type": "string"}}}),
        ),
    )


def response_formats() -> st.SearchStrategy[Any]:
    """Text, JSON-object and JSON-schema formats."""
    return st.one_of(
        st.just(TextResponseFormat()),
        st.just(JsonObjectResponseFormat()),
        st.builds(
            JsonSchemaResponseFormat,
            name=_ids,
            schema=st.just({"type": "object", "properties": {"a": {"type": "integer"}}}),
        ),
    )


def chat_requests() -> st.SearchStrategy[ChatRequest]:
    """Chat requests with any mix of the typed parameters."""
    return st.builds(
        ChatRequest,
        model=_ids,
        messages=messages().map(tuple),
        temperature=st.none() | st.floats(0, 2),
        max_tokens=st.none() | st.integers(1, 4096),
        stop=st.none() | st.lists(_ids, min_size=1, max_size=2).map(tuple),
        seed=st.none() | st.integers(0, 2**31),
        tools=st.none() | st.lists(tools(), min_size=1, max_size=2).map(tuple),
        tool_choice=st.none()
        | st.sampled_from([ToolChoice(), ToolChoice("required"), ToolChoice.function("f")]),
        response_format=st.none() | response_formats(),
    )


def model_pricings() -> st.SearchStrategy[ModelPricing]:
    """Pricing with optional cache rates and up to two tiers."""
    tier = st.builds(
        PricingTier,
        above_input_tokens=st.integers(1, 1_000_000),
        input=_prices,
        output=_prices,
        cache_read=st.none() | _prices,
        cache_write=st.none() | _prices,
    )
    return st.builds(
        ModelPricing,
        input=_prices,
        output=_prices,
        cache_read=st.none() | _prices,
        cache_write=st.none() | _prices,
        tiers=st.lists(tier, max_size=2, unique_by=lambda t: t.above_input_tokens).map(tuple),
    )


def costs() -> st.SearchStrategy[Cost]:
    """Non-negative costs."""
    return st.builds(Cost, _prices, _prices, _prices, _prices)


def chat_responses() -> st.SearchStrategy[ChatResponse]:
    """Chat responses (without raw payloads)."""
    return st.builds(
        ChatResponse,
        content=st.none() | _texts,
        model=_ids,
        provider=_ids,
        finish_reason=st.sampled_from(FinishReason),
        tool_calls=st.lists(tool_calls(), max_size=2).map(tuple),
        usage=usages(),
        cost=st.none() | costs(),
        request_id=st.none() | _ids,
    )


def chat_chunks() -> st.SearchStrategy[ChatChunk]:
    """Stream chunks."""
    return st.builds(
        ChatChunk,
        delta=_texts,
        tool_call_deltas=st.lists(
            st.builds(
                ToolCallDelta,
                index=st.integers(0, 3),
                id=st.none() | _ids,
                name=st.none() | _ids,
                arguments=_texts,
            ),
            max_size=2,
        ).map(tuple),
        finish_reason=st.none() | st.sampled_from(FinishReason),
        usage=st.none() | usages(),
    )


def embedding_responses() -> st.SearchStrategy[EmbeddingResponse]:
    """Embedding responses with equal-length vectors."""
    return st.integers(1, 8).flatmap(
        lambda dim: st.builds(
            EmbeddingResponse,
            embeddings=st.lists(
                st.lists(st.floats(-1, 1, allow_nan=False), min_size=dim, max_size=dim).map(tuple),
                min_size=1,
                max_size=4,
            ).map(tuple),
            model=_ids,
            provider=_ids,
            usage=usages(),
        )
    )


def model_strings() -> st.SearchStrategy[str]:
    """Arbitrary strings, biased towards ``prefix/model`` shapes and edge cases."""
    return st.one_of(
        st.text(max_size=30),
        st.builds(lambda a, b: f"{a}/{b}", st.text(max_size=10), st.text(max_size=20)),
        st.sampled_from(
            ["", "/", "a/", "/b", "echo/echo-1", "openrouter/anthropic/claude-3", " echo/x"]
        ),
    )


def _hypothesis_setup_hook() -> None:
    """Register strategies so ``st.from_type`` builds core types (hypothesis entry point)."""
    st.register_type_strategy(Usage, usages())
    st.register_type_strategy(ChatRequest, chat_requests())
    st.register_type_strategy(ChatResponse, chat_responses())
    st.register_type_strategy(ChatChunk, chat_chunks())
    st.register_type_strategy(ModelPricing, model_pricings())
    st.register_type_strategy(Cost, costs())
    st.register_type_strategy(EmbeddingResponse, embedding_responses())
