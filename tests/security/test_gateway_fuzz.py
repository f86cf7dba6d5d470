"""A Hypothesis fuzz of request bodies against a real gateway on 127.0.0.1.

10,000 chat and embeddings bodies, well-formed and not (wrong types in every field, deep
nesting, odd numbers, unknown fields): the gateway answers each with a 200 or an
OpenAI-format 4xx, never a 500 and never an untyped exception in its log.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider
from tests.helpers import fuzz_scalars

KEY = "vk-fuzz-client-key-0001"
BUDGET_KEY = "vk-fuzz-budget-key-0002"

scalars = fuzz_scalars(json_safe=True)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


odd = st.one_of(json_values, st.integers(60, 80).map(_nested))
valid_messages = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["system", "user", "developer"]),
                "content": st.text(max_size=30),
            }
        ),
        st.just(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            }
        ),
        st.just({"role": "tool", "tool_call_id": "c1", "content": "42"}),
        st.just({"role": "user", "content": [{"type": "text", "text": "hi"}]}),
    ),
    min_size=1,
    max_size=3,
)
# Well-formed values of each field; the fuzz swaps some for odd ones (wrong types, deep
# nesting, out of range) so that it reaches every check and the call path behind them.
valid_fields = {
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "presence_penalty": st.floats(-2, 2),
    "max_tokens": st.integers(1, 50),
    "max_completion_tokens": st.integers(1, 50),
    "seed": st.integers(-(2**31), 2**31),
    "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=3), max_size=4)),
    "tools": st.just([{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    "tool_choice": st.sampled_from(["none", "auto", "required"]),
    "response_format": st.sampled_from(
        [
            {"type": "text"},
            {"type": "json_object"},
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        ]
    ),
    "logprobs": st.booleans(),
    "user": st.text(max_size=5),
    "stream": st.booleans(),
    "stream_options": st.just({"include_usage": True}),
    "parallel_tool_calls": st.booleans(),
    "metadata": st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    "fallback_models": st.just(["mock/mock-model"]),
    "retries": st.integers(0, 2),
    "extra_field": json_values,
}
odd_fields = [*valid_fields, "model", "messages", "n", "top_logprobs", "logit_bias", "functions"]
models = st.sampled_from(
    ["mock/mock-model", "mock-model", "mock/other", "nope/x", "mock/a/../b", "mock/a?b", "", "x"]
)


@st.composite
def chat_bodies(draw):
    body = {"model": "mock/mock-model", "messages": draw(valid_messages)}
    body.update(draw(st.fixed_dictionaries({}, optional=valid_fields)))
    for field in draw(st.lists(st.sampled_from(odd_fields), max_size=2, unique=True)):
        body[field] = draw(st.one_of(odd, models) if field == "model" else odd)
    return "/v1/chat/completions", body


@st.composite
def embedding_bodies(draw):
    body = {
        "model": "mock/mock-model",
        "input": draw(
            st.one_of(st.text(max_size=20), st.lists(st.text(max_size=5), min_size=1, max_size=3))
        ),
    }
    fields = ["model", "input", "encoding_format", "dimensions", "user", "fallback_models"]
    for field in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
        body[field] = draw(odd)
    return "/v1/embeddings", body


requests = st.tuples(
    st.one_of(chat_bodies(), chat_bodies(), embedding_bodies()),
    st.sampled_from([KEY, BUDGET_KEY]),
    st.one_of(
        st.just(None),
        st.just(None),
        st.just(None),
        st.sampled_from([b"", b"{", b"[]", b"null", b'"x"', b"\xff"]),
    ),
)


class _Client:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.connection = http.client.HTTPConnection(*self.address, timeout=30)

    def post(self, path: str, raw: bytes, key: str) -> tuple[int, bytes]:
        for _ in range(2):  # a closed keep-alive connection is reopened once
            try:
                self.connection.request(
                    "POST",
                    path,
                    body=raw,
                    headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
                )
                response = self.connection.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection(*self.address, timeout=30)
        raise AssertionError("the gateway closed the connection twice")


@pytest.fixture(scope="module")
def fuzz_gateway():
    mock = MockProvider("mock", pricing=ModelPricing(input=Decimal("1e-9"), output=Decimal("1e-9")))
    mock.handler = lambda call: "fuzzed"
    registry = Registry()
    registry.register("mock", mock)
    keys = KeyStore(
        [
            VirtualKey("fuzz", hash_key(KEY)),
            VirtualKey("budget", hash_key(BUDGET_KEY), budget=Decimal(1000)),
        ]
    )
    app = create_app(registry=registry, keys=keys)
    with run_in_thread(app) as url:
        client = _Client(url)
        yield client
        client.connection.close()


@pytest.mark.slow
# 10,000 requests one after the other: about 5 minutes on 2 busy cores, more than the
# suite's default timeout for a hang (pytest-timeout); a hang still fails, later.
@pytest.mark.timeout(1800)
def test_fuzzed_bodies_never_give_a_500(fuzz_gateway, caplog):
    caplog.set_level(logging.ERROR, logger="lmux_plug")
    seen: dict[int, int] = {}

    @settings(
        max_examples=int(os.environ.get("FUZZ_N", "10000")),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests)
    def check(request):
        (path, body), key, raw = request
        payload = raw if raw is not None else json.dumps(body).encode()
        status, data = fuzz_gateway.post(path, payload, key)
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (status, data[:500], payload[:500])
        if status != 200:
            error = json.loads(data)["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert isinstance(error["message"], str)
            assert error["message"]

    check()
    # The fuzz reached both the happy path and the refusals.
    examples = sum(seen.values())
    assert seen.get(200, 0) > examples / 10
    assert seen.get(400, 0) > examples / 5
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:2000]
