"""Issue 12.17: a Hypothesis fuzz of the public call API.

Every input either gives an answer or a typed :class:`LmuxError`; a bad parameter is an
:class:`InvalidRequestError` naming it, raised before the provider is called; no
``PluginError`` (a plugin tripping over an unchecked value) and no foreign exception.
The provider's handler also checks that whatever reaches it has the documented types.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lmux_plug import ChatRequest
from lmux_plug import EmbeddingRequest
from lmux_plug import InvalidRequestError
from lmux_plug import JsonObjectResponseFormat
from lmux_plug import JsonSchemaResponseFormat
from lmux_plug import LmuxError
from lmux_plug import PluginError
from lmux_plug import Registry
from lmux_plug import TextResponseFormat
from lmux_plug import Tool
from lmux_plug import ToolChoice
from lmux_plug.params import CHAT_PARAMETERS
from lmux_plug.params import EMBED_PARAMETERS
from lmux_plug.testing import MockCall
from lmux_plug.testing import MockProvider
from tests.helpers import fuzz_scalars

EXAMPLES = int(os.environ.get("LMUX_FUZZ_EXAMPLES", "10000"))

scalars = fuzz_scalars(json_safe=False)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=3),
    ),
    max_leaves=8,
)
# Plausible values of each parameter, so the fuzz also reaches the provider.
plausible: dict[str, st.SearchStrategy[Any]] = {
    "temperature": st.floats(-1, 3),
    "top_p": st.floats(-0.5, 1.5),
    "max_tokens": st.integers(-2, 50),
    "stop": st.one_of(st.text(max_size=3), st.lists(st.text(max_size=3), max_size=3)),
    "seed": st.integers(),
    "tools": st.lists(
        st.fixed_dictionaries(
            {"type": st.just("function"), "function": st.fixed_dictionaries({"name": st.text()})}
        ),
        max_size=2,
    ),
    "tool_choice": st.sampled_from(["auto", "none", "required", "sometimes"]),
    "response_format": st.sampled_from(
        [{"type": "json_object"}, {"type": "text"}, {"type": "xml"}]
    ),
    "reasoning_effort": st.sampled_from(["low", "high", "extreme"]),
    "timeout": st.floats(-1, 100),
    "extra_headers": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    "extra_body": st.dictionaries(st.text(max_size=5), junk, max_size=2),
    "frequency_penalty": st.floats(-3, 3),
    "logprobs": st.booleans(),
    "top_logprobs": st.integers(-1, 25),
    "n": st.integers(0, 3),
    "dimensions": st.integers(-1, 10),
    "encoding_format": st.sampled_from(["float", "base64", "hex"]),
}
names = st.one_of(
    st.sampled_from(sorted(CHAT_PARAMETERS | EMBED_PARAMETERS)),
    st.sampled_from(["temprature", "max_token", "topp", "stream", "foo"]),
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
)


@st.composite
def keywords(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(names, max_size=4, unique=True))
    out = {}
    for name in chosen:
        good = plausible.get(name)
        out[name] = draw(good if good is not None and draw(st.booleans()) else junk)
    # api_key / base_url are not fuzzed: they select credentials and endpoints.
    out.pop("api_key", None)
    out.pop("base_url", None)
    return out


messages = st.one_of(
    st.text(max_size=5),
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=5)}),
            st.fixed_dictionaries(
                {"role": st.sampled_from(["assistant", "tool", "system", "user"])},
                optional={
                    "content": junk,
                    "tool_calls": junk,
                    "thinking": junk,
                    "tool_call_id": junk,
                    "name": junk,
                },
            ),
            st.dictionaries(
                st.sampled_from(
                    ["role", "content", "tool_calls", "name", "thinking", "tool_call_id"]
                ),
                junk,
            ),
            junk,
        ),
        max_size=3,
    ),
    junk,
)


def _typed_request(call: MockCall) -> str:
    """The handler: what reaches a provider has the documented types."""
    request = call.request
    if isinstance(request, EmbeddingRequest):
        assert request.inputs
        assert all(isinstance(t, str) for t in request.inputs)
        assert request.dimensions is None or (
            isinstance(request.dimensions, int) and request.dimensions >= 1
        )
        return "unused"
    assert isinstance(request, ChatRequest)
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = getattr(request, name)
        assert value is None or (
            not isinstance(value, bool) and math.isfinite(value) and low <= value <= high
        )
    assert request.max_tokens is None or (
        type(request.max_tokens) is int and request.max_tokens >= 1
    )
    assert request.stop is None or all(isinstance(s, str) for s in request.stop)
    assert request.tools is None or all(isinstance(t, Tool) for t in request.tools)
    assert request.tool_choice is None or isinstance(request.tool_choice, ToolChoice)
    assert request.response_format is None or isinstance(
        request.response_format,
        (TextResponseFormat, JsonObjectResponseFormat, JsonSchemaResponseFormat),
    )
    assert request.timeout is None or request.timeout > 0
    assert isinstance(request.extra, Mapping)
    assert all(isinstance(k, str) for k in request.extra)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in request.extra_headers.items())
    return "ok"


@pytest.fixture(scope="module")
def target() -> tuple[Registry, MockProvider]:
    mock = MockProvider("mock", handler=_typed_request)
    registry = Registry(builtins=False)
    registry.register("mock", mock)
    yield registry, mock
    registry.close()


def _check(error: LmuxError, given_names: set[str], calls_before: int, mock: MockProvider) -> None:
    assert not isinstance(error, PluginError), error
    if isinstance(error, InvalidRequestError):
        assert len(mock.calls) == calls_before, "rejected only after the provider was called"
        text = str(error)
        named = given_names | {"messages", "message", "inputs", "model"}
        assert any(name in text for name in named), text


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(
    kind=st.sampled_from(["chat", "stream", "embed"]),
    messages=messages,
    inputs=st.one_of(junk, st.text(max_size=4), st.lists(st.text(max_size=4), max_size=3)),
    params=keywords(),
)
def test_public_api_gives_typed_errors_only(
    target: tuple[Registry, MockProvider],
    kind: str,
    messages: Any,
    inputs: Any,
    params: dict[str, Any],
) -> None:
    registry, mock = target
    before = len(mock.calls)
    try:
        if kind == "chat":
            registry.chat("mock/mock-model", messages, **params)
        elif kind == "stream":
            list(registry.chat_stream("mock/mock-model", messages, **params))
        else:
            registry.embed("mock/mock-model", inputs, **params)
    except LmuxError as error:
        _check(error, set(params), before, mock)
