"""Issue 15 observability: what a user sees on stdlib ``logging``, under documented names.

A router over a local server that fails, read back through ``caplog`` as an application's
handler would see it: never a key, never the password of a base URL with user info.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from lmux_plug import Registry
from lmux_plug.errors import ProviderError
from lmux_plug.resilience import ManualClock
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan

ROOT = Path(__file__).parents[2]
KEY = "test-key-logging-aaa111"
PASSWORD = "pw-logging-bbb222"


def test_a_failing_router_logs_without_secrets(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)  # basic auth alone, no bearer key
    caplog.set_level(logging.DEBUG, logger="lmux_plug")
    with (
        FakeOpenAIServer(FaultPlan(faults={"503": 1.0}, retry_after=0.01)).run_in_thread() as down,
        Registry.from_entry_points() as registry,
    ):
        # A self-hosted server behind basic auth (user info), falling back to a keyed one.
        url = down.url.replace("http://", f"http://alice:{PASSWORD}@")
        config = RouterConfig(
            models={
                "fast": LogicalModel(
                    "fast", [Deployment("vllm/m", base_url=url)], fallbacks=("keyed",)
                ),
                "keyed": LogicalModel(
                    "keyed", [Deployment("openai/m", base_url=down.url, api_keys=(KEY,))]
                ),
            },
            retries=2,
            backoff_base=0.001,
            breaker_threshold=2,
        )
        router = Router(config=config, registry=registry)
        with pytest.raises(ProviderError):
            router.chat("fast", "hi")
        assert down.stats["requests"] >= 2
        stats = str(router.stats())
    text = caplog.text
    assert "retrying fast after ProviderError" in text
    assert "closed -> open" in text
    assert "falling back from fast to keyed" in text
    assert "vllm/m@http://u-" in text  # the deployment, its user info a fingerprint
    for secret in (KEY, PASSWORD):
        assert secret not in text
        assert secret not in stats
    for record in caplog.records:
        assert record.name in documented_logger_names(), record.name


def test_a_failed_reload_is_logged_with_the_file_and_keeps_the_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lmux_plug")
    config = tmp_path / "lmux.toml"
    config.write_text('[models.fast]\ndeployments = ["echo/echo-1"]\n')
    with Registry.from_entry_points() as registry:
        router = Router(config_path=config, registry=registry)
        config.write_text("[models.fast]\nretries = 'many'\n")
        assert router.reload() is False
        assert router.chat("fast", "still here").content == "still here"
        time.sleep(0.01)  # a distinct modification time on coarse file systems
        config.write_text('[models.fast]\ndeployments = ["echo/reverse"]\n')
        assert router.reload() is True
    (failed,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert failed.name == "lmux_plug.router.config"
    assert "keeping the last good config" in failed.getMessage()
    assert "lmux.toml" in failed.getMessage()
    reloaded = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.name for r in reloaded] == ["lmux_plug.router.config"]


def documented_logger_names() -> set[str]:
    """The logger names the docs list (docs/router.md, section Logging)."""
    text = (ROOT / "docs" / "router.md").read_text()
    section = text.split("## Logging", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(lmux_plug(?:\.\w+)*)`", section))


def test_every_logger_of_the_package_is_documented() -> None:
    used = set()
    for path in (ROOT / "lmux_plug").rglob("*.py"):
        used.update(
            re.findall(
                r"""(?:getLogger|scrubbed_logger)\(\s*["'](lmux_plug[\w.]*)["']""", path.read_text()
            )
        )
    assert used
    assert used <= documented_logger_names(), used - documented_logger_names()


def test_a_breaker_cycle_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lmux_plug.router")
    clock = ManualClock()  # the cooldown passes when the test says so
    with (
        FakeOpenAIServer(FaultPlan(retry_after=None)).run_in_thread() as server,
        Registry.from_entry_points() as registry,
    ):
        registry.configure("openai", api_key=KEY)
        model = LogicalModel("m", [Deployment("openai/x", base_url=server.url, name="d")])
        config = RouterConfig(models={"m": model}, retries=0, breaker_threshold=1)
        router = Router(config=config, registry=registry, clock=clock)
        server.inject("503")
        with pytest.raises(ProviderError):
            router.chat("m", "fails")
        clock.advance(config.breaker_cooldown + 1)
        assert router.chat("m", "probe").content == "echo: probe"
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("breaker")]
    assert messages == ["breaker d: closed -> open for 5.000s", "breaker d: half-open -> closed"]
    levels = [r.levelname for r in caplog.records if r.getMessage().startswith("breaker")]
    assert levels == ["WARNING", "INFO"]


def test_the_drop_in_clients_retries_and_fallbacks_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lmux_plug.openai import OpenAI

    caplog.set_level(logging.INFO, logger="lmux_plug")
    with (
        FakeOpenAIServer(FaultPlan(faults={"503": 1.0}, retry_after=0.01)).run_in_thread() as down,
        Registry.from_entry_points() as registry,
    ):
        registry.configure("openai", base_url=down.url, api_key=KEY)
        reply = OpenAI(registry=registry).chat.completions.create(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            fallback_models=["echo/echo-1"],
            retries=1,
        )
    assert reply.choices[0].message.content == "hi"  # answered by the fallback
    messages = [r.getMessage() for r in caplog.records if r.name == "lmux_plug.retry"]
    assert any(m.startswith("retrying openai/gpt-4o-mini") for m in messages), messages
    assert any("falling back from openai/gpt-4o-mini to echo/echo-1" in m for m in messages)
    assert KEY not in caplog.text
    assert {r.name for r in caplog.records} <= documented_logger_names()
