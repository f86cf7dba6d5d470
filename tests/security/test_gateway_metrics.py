"""``/metrics`` behind a key, with labels that never show a base URL (issue 12, findings 5-6).

A real gateway on 127.0.0.1 over a router whose deployments have internal base URLs (one
with credentials in it). ``/metrics`` answers 401 without a valid virtual key (unless the
operator chose ``metrics_auth = "open"``), and its deployment labels are the deployment's
name or its model, never ``model@base_url``.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from lmux_plug import Registry
from lmux_plug.errors import ConfigurationError
from lmux_plug.gateway.app import create_app
from lmux_plug.gateway.keys import KeyStore
from lmux_plug.gateway.keys import VirtualKey
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import build_app
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.testing import MockProvider

KEY = "vk-metrics-reader-0001"
INTERNAL = "http://svc-user:svc-pass-77@10.1.2.3:8080/v1?token=tok-internal-4242"
HI = [{"role": "user", "content": "hi"}]


def _router() -> Router:
    registry = Registry()
    registry.register("mock", MockProvider("mock", handler=lambda call: "ok"))
    deployments = [
        Deployment("mock/model-a", base_url=INTERNAL),
        Deployment("mock/model-a", base_url="http://10.9.9.9:9000/v1"),
        Deployment("mock/model-b", base_url=INTERNAL, name="b-primary"),
    ]
    return Router({"pool": LogicalModel("pool", deployments)}, registry=registry)


def _get(url: str, path: str, key: str | None) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _call(url: str, router: Router) -> None:
    import openai

    with openai.OpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
        for _ in range(6):  # spread over the three deployments
            client.chat.completions.create(model="pool", messages=HI)


def test_metrics_need_a_key_and_show_no_base_url() -> None:
    router = _router()
    app = create_app(router=router, keys=KeyStore([VirtualKey("reader", hash_key(KEY))]))
    with run_in_thread(app) as url:
        _call(url, router)
        for key in (None, "vk-wrong"):
            status, body = _get(url, "/metrics", key)
            assert status == 401, body
            assert "lmux_" not in body
        status, text = _get(url, "/metrics", KEY)
    assert status == 200
    for leak in ("10.1.2.3", "svc-pass", "tok-internal", "10.9.9.9", "@http", "://"):
        assert leak not in text, leak
    assert 'lmux_router_requests_total{deployment="mock/model-a"}' in text
    assert 'lmux_router_requests_total{deployment="mock/model-a#2"}' in text
    assert 'lmux_router_requests_total{deployment="b-primary"}' in text
    assert sum(entry["requests"] for entry in router.stats()["deployments"].values()) == 6


def test_stats_show_no_credentials_of_a_base_url() -> None:
    app = create_app(router=_router(), keys=KeyStore([VirtualKey("reader", hash_key(KEY))]))
    with run_in_thread(app) as url:
        assert _get(url, "/stats", None)[0] == 401
        status, text = _get(url, "/stats", KEY)
    assert status == 200
    for leak in ("svc-user", "svc-pass", "tok-internal", "token="):
        assert leak not in text, leak
    assert "mock/model-a@http://10.1.2.3:8080/v1" in json.loads(text)["deployments"]


def test_metrics_can_be_opened_on_purpose() -> None:
    app = create_app(
        router=_router(), keys=KeyStore([VirtualKey("reader", hash_key(KEY))]), metrics_auth="open"
    )
    with run_in_thread(app) as url:
        status, text = _get(url, "/metrics", None)
    assert status == 200
    assert "lmux_gateway_in_flight_requests" in text
    assert "10.1.2.3" not in text


def test_metrics_auth_is_checked_at_startup() -> None:
    with pytest.raises(ConfigurationError, match="metrics_auth"):
        build_app({"gateway": {"metrics_auth": "none"}}, registry=Registry())
