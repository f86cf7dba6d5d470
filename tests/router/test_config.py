"""Deployments and logical models in code and TOML; reload without restart."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import NotFoundError
from lmux_plug.router import ConfigSource
from lmux_plug.router import Deployment
from lmux_plug.router import Limits
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router import find_config_file
from lmux_plug.router import load_config
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan

TOML = """
[router]
retries = 4
deadline = 30

[models.fast]
strategy = "sticky"
fallbacks = ["smart"]
context_fallbacks = ["long"]

[[models.fast.deployments]]
model = "fake/fake-model"
base_url = "{url}"
api_key_env = ["LMUX_TEST_ROUTER_KEY_A"]
weight = 2
limits = {{ rpm = 600, tpm = 100000, burst = 5 }}

[[models.fast.deployments]]
model = "fake/other"
tier = "fallback"
name = "backup"

[models.smart]
deployments = ["echo/echo-1"]

[models.long]
deployments = ["echo/reverse"]
"""


def test_toml_file_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setenv("LMUX_TEST_ROUTER_KEY_A", "sk-from-env-123456")
    path = tmp_path / "lmux.toml"
    path.write_text(TOML.format(url="http://127.0.0.1:1/v1"))
    config = load_config(path)
    assert config.retries == 4
    assert config.deadline == 30
    fast = config.models["fast"]
    assert fast.strategy == "sticky"
    assert fast.fallbacks == ("smart",)
    primary, backup = fast.deployments
    assert primary.limits == Limits(rpm=600, tpm=100000, burst=5)
    assert primary.api_keys[0].reveal() == "sk-from-env-123456"
    assert "sk-from-env" not in repr(config)
    assert primary.effective_weight == 2
    assert backup.tier == "fallback"
    assert backup.id == "backup"
    assert config.models["smart"].deployments[0].model == "echo/echo-1"


def test_pyproject_section_and_discovery(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.lmux_plug.router]\nretries = 7\n\n'
        '[tool.lmux_plug.models.m]\ndeployments = ["echo/echo-1"]\n'
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    found = find_config_file(nested)
    assert found == tmp_path / "pyproject.toml"
    assert load_config(found).retries == 7
    (tmp_path / "lmux.toml").write_text('[models.z]\ndeployments = ["echo/echo-1"]\n')
    assert find_config_file(nested) == tmp_path / "lmux.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[router]\nretriez = 1\n", "retriez"),
        ('[models.m]\ndeployments = ["no-slash"]\n', "provider/model"),
        ("[models.m]\ndeployments = []\n", "no deployments"),
        ('[models.m]\nstrategy = "fastest"\ndeployments = ["echo/e"]\n', "strategy"),
        ('[[models.m.deployments]]\nmodel = "echo/e"\nlimits = { rpm = -1 }\n', "rpm"),
        ('[[models.m.deployments]]\nmodel = "echo/e"\nlimits = { rpz = 1 }\n', "rpz"),
        (
            '[[models.m.deployments]]\nmodel = "echo/e"\napi_key_env = ["LMUX_TEST_UNSET_VAR_X"]\n',
            "LMUX_TEST_UNSET_VAR_X",
        ),
        ("[models.m\n", "invalid TOML"),
    ],
)
def test_bad_config_is_a_configuration_error(tmp_path, text, message):
    path = tmp_path / "lmux.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_config(path)


def test_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_code_configuration_and_ids():
    model = LogicalModel("m", ["echo/echo-1", Deployment("echo/echo-1", base_url="http://x/v1")])
    assert [d.id for d in model.deployments] == ["echo/echo-1", "echo/echo-1@http://x/v1"]
    with pytest.raises(ConfigurationError, match="same id"):
        LogicalModel("m", ["echo/echo-1", "echo/echo-1"])
    with pytest.raises(ConfigurationError, match="tier"):
        Deployment("echo/echo-1", tier="backup")  # type: ignore[arg-type]
    assert Deployment("a/b", limits=Limits(rpm=90)).effective_weight == 90
    assert Deployment("a/b").effective_weight == 1


async def test_unknown_logical_model_is_not_found(registry):
    router = Router({"m": ["echo/echo-1"]}, registry=registry)
    with pytest.raises(NotFoundError, match="unknown logical model 'n'"):
        await router.achat("n", "hi")
    response = await router.achat("echo/echo-1", "direct")  # provider/model works directly
    assert response.content == "direct"


async def test_reload_swaps_config_for_new_calls_only(tmp_path, registry):
    async with FakeOpenAIServer(FaultPlan(latency=0.5)) as old, FakeOpenAIServer() as new:
        path = tmp_path / "lmux.toml"
        path.write_text(
            f'[[models.m.deployments]]\nmodel = "fake/fake-model"\nbase_url = "{old.url}"\n'
        )
        router = Router(registry=registry, config_path=path)
        in_flight = asyncio.create_task(router.achat("m", "slow one"))
        for _ in range(200):  # until the slow call reached the old server
            if old.stats["requests"]:
                break
            await asyncio.sleep(0.01)
        assert old.stats["requests"] == 1
        path.write_text(
            f'[[models.m.deployments]]\nmodel = "fake/fake-model"\nbase_url = "{new.url}"\n'
        )
        os.utime(path, (time.time() + 5, time.time() + 5))
        assert router.reload()
        response = await router.achat("m", "after reload")
        assert response.content == "echo: after reload"
        assert new.stats["status_200"] == 1
        finished = await in_flight  # the old call finished on the old snapshot
        assert finished.content == "echo: slow one"
        assert old.stats["status_200"] == 1
        # A broken file keeps the last good snapshot.
        path.write_text("[models.m\n")
        assert not router.reload()
        assert (await router.achat("m", "still")).content == "echo: still"


def test_config_source_notices_changes(tmp_path):
    path = tmp_path / "lmux.toml"
    models = '[models.m]\ndeployments = ["echo/echo-1"]\n'
    path.write_text("[router]\nretries = 1\n" + models)
    source = ConfigSource(path, check_interval=0.0)
    assert source.current().retries == 1
    path.write_text("[router]\nretries = 2\n" + models)
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert source.current().retries == 2
    path.write_text("[router]\nretriez = 2\n" + models)
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert source.current().retries == 2
    assert source.last_error is not None


def test_router_config_defaults():
    config = RouterConfig()
    assert config.retries == 2
    assert config.models == {}
