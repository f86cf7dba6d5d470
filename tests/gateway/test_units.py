"""Keys, error mapping, scrubbing and metrics without a server."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmux_plug import errors
from lmux_plug.gateway.accounts import Accounts
from lmux_plug.gateway.errors import GatewayError
from lmux_plug.gateway.errors import Scrubber
from lmux_plug.gateway.errors import error_status
from lmux_plug.gateway.errors import from_lmux
from lmux_plug.gateway.keys import ENV_KEYS
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.metrics import Metrics
from lmux_plug.openai._wire import chat_params
from lmux_plug.openai._wire import embedding_dict
from lmux_plug.openai._wire import normalize_model


async def test_rpm_window_slides():
    key = VirtualKey("k", hash_key("x"), rpm=2, window=0.5)
    accounts = Accounts()
    for _ in range(2):
        await accounts.settle(await accounts.admit(key), None)
    with pytest.raises(GatewayError) as info:
        await accounts.admit(key)
    assert info.value.status == 429
    assert info.value.headers["retry-after"] == "1"
    await asyncio.sleep(0.55)
    await accounts.admit(key)  # the first calls have left the window


async def test_budget_reserves_then_settles():
    key = VirtualKey("k", hash_key("x"), budget=Decimal("0.01"), models=("openai/*",))
    accounts = Accounts()
    key.check_model("openai/gpt-4o")
    with pytest.raises(GatewayError) as info:
        key.check_model("anthropic/claude")
    assert info.value.status == 403
    first = await accounts.admit(key, Decimal("0.006"))
    # The reservation counts as spent: a second worst case of 0.006 does not fit.
    with pytest.raises(GatewayError) as info:
        await accounts.admit(key, Decimal("0.006"))
    assert (info.value.status, info.value.code) == (429, "budget_exceeded")
    await accounts.settle(first, Decimal("0.001"))
    assert await accounts.spent(key) == Decimal("0.001")
    second = await accounts.admit(key, Decimal("0.006"))
    await accounts.settle(second, None)  # None keeps the whole reservation
    assert await accounts.spent(key) == Decimal("0.007")


def test_keys_from_env():
    store = KeyStore.from_config(environ={ENV_KEYS: "alice=vk-a,vk-b"})
    assert store.authenticate("Bearer vk-a").name == "alice"
    assert store.authenticate("bearer vk-b").name == "env-1"
    assert len(store) == 2
    with pytest.raises(GatewayError) as info:
        store.authenticate("Bearer vk-c")
    assert info.value.status == 401
    # The store keeps hashes only.
    assert "vk-a" not in repr(list(store))


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidRequestError("x"), 400),
        (errors.ContentFilterError("x"), 400),
        (errors.UnsupportedFeatureError("x"), 400),
        (errors.AuthenticationError("x"), 401),
        (errors.AuthenticationError("x", status_code=403), 403),
        (errors.NotFoundError("x"), 404),
        (errors.TimeoutError("x"), 408),
        (errors.RateLimitError("x"), 429),
        (errors.ConfigurationError("x"), 500),
        (errors.PluginError("x"), 500),
        (errors.ProviderError("x"), 502),
        (errors.ProviderError("x", status_code=503), 503),
        (errors.ProviderError("x", status_code=529), 503),
    ],
)
def test_status_mapping(error, status):
    assert error_status(error)[0] == status


@given(st.text(max_size=200), st.sampled_from(["sk-proj-abcdef123456", "Bearer abcdefgh12345678"]))
def test_scrubber_removes_keys_anywhere(prefix, secret):
    scrub = Scrubber(["my-secret-value"])
    text = scrub(prefix + secret + " my-secret-value " + prefix)
    assert "my-secret-value" not in text
    assert secret.split()[-1] not in text


def test_rate_limit_error_gets_retry_after():
    error = from_lmux(errors.RateLimitError("slow", retry_after=1.2), Scrubber())
    assert error.headers == {"retry-after": "2", "retry-after-ms": "1200"}


def test_metrics_render():
    metrics = Metrics(known_models=lambda: {'m"odel'}, keys=["team"])
    metrics.observe("/v1/chat/completions", 200, 0.003)
    metrics.observe("/v1/chat/completions", 429, 0.0001)
    metrics.usage('m"odel', 3, 4)
    metrics.spend("team", Decimal("0.5"))
    text = metrics.render()
    assert (
        'lmux_gateway_request_duration_seconds_bucket{le="0.005",route="/v1/chat/completions"} 2.0'
        in text
    )
    assert 'lmux_gateway_request_duration_seconds_count{route="/v1/chat/completions"} 2.0' in text
    assert 'lmux_gateway_tokens_total{kind="completion",model="m\\"odel"} 4.0' in text
    assert 'lmux_gateway_cost_usd_total{key="team"} 0.5' in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_chat_params_never_forward_keywords():
    params = chat_params(
        {
            "model": "x",
            "api_key": "k",
            "base_url": "http://evil",
            "extra_headers": {"a": "b"},
            "logprobs": True,
        }
    )
    assert params == {"extra_body": {"logprobs": True}}


def test_normalize_model():
    assert normalize_model("gpt-4o") == "openai/gpt-4o"
    assert normalize_model("anthropic/claude-x") == "anthropic/claude-x"
    with pytest.raises(errors.InvalidRequestError):
        normalize_model(None)


def test_embedding_base64_is_float32_little_endian():
    import base64
    import struct

    from lmux_plug import EmbeddingResponse

    data = embedding_dict(
        EmbeddingResponse([[1.5, -2.0]], "m", "p"), model="p/m", encoding_format="base64"
    )
    raw = base64.b64decode(data["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (1.5, -2.0)
    assert json.dumps(data)
