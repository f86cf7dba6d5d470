"""A real gateway on uvicorn (127.0.0.1, free port, background thread) over a mock provider."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import openai
import pytest

from lmux_plug import ModelPricing
from lmux_plug import Registry
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.testing import MockProvider

GOOD_KEY = "vk-good-client-key-0001"
LIMITED_KEY = "vk-limited-client-key-0002"
BUDGET_KEY = "vk-budget-client-key-0003"
RESTRICTED_KEY = "vk-restricted-client-key-0004"
PROVIDER_KEY = "test-provider-secret-abcdef123456"


class Gateway:
    """Handles to one running gateway."""

    def __init__(self, url, app, mock, registry):
        self.url = url
        self.root = url.removesuffix("/v1")
        self.app = app
        self.state = app.state.gateway
        self.mock = mock
        self.registry = registry
        self.open_clients = []
        self.keys = SimpleNamespace(
            good=GOOD_KEY,
            limited=LIMITED_KEY,
            budget=BUDGET_KEY,
            restricted=RESTRICTED_KEY,
            provider=PROVIDER_KEY,
        )

    def client(self, key=GOOD_KEY, **options):
        # Sync clients are closed after each test (see _fresh_mock): no leaked sockets.
        client = openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, **options)
        self.open_clients.append(client)
        return client

    def async_client(self, key=GOOD_KEY, **options):
        return openai.AsyncOpenAI(base_url=self.url, api_key=key, max_retries=0, **options)


def make_keys():
    return KeyStore(
        [
            VirtualKey("good", hash_key(GOOD_KEY)),
            VirtualKey("limited", hash_key(LIMITED_KEY), rpm=2, window=60.0),
            VirtualKey("budget", hash_key(BUDGET_KEY), budget=Decimal("0.0001")),
            VirtualKey("restricted", hash_key(RESTRICTED_KEY), models=("mock/allowed-*",)),
        ]
    )


@pytest.fixture(scope="module")
def gateway():
    registry = Registry()
    # A price makes the budget key spend: 1 USD per million input and output tokens.
    mock = MockProvider(
        "mock", pricing=ModelPricing(input=Decimal("0.000001"), output=Decimal("0.000001"))
    )
    registry.register("mock", mock, api_key=PROVIDER_KEY)
    app = create_app(
        registry=registry, keys=make_keys(), max_body_bytes=64 * 1024, body_timeout=2.0
    )
    with run_in_thread(app) as url:
        yield Gateway(url, app, mock, registry)


@pytest.fixture(autouse=True)
def _fresh_mock(request):
    if "gateway" not in request.fixturenames:
        yield
        return
    gateway = request.getfixturevalue("gateway")
    gateway.mock.reset()
    yield
    while gateway.open_clients:
        gateway.open_clients.pop().close()
