"""Router decisions are logged on ``lmux_plug.router`` with key fingerprints, never keys."""

from __future__ import annotations

import logging

import pytest

from lmux_plug.errors import ProviderError
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router.keys import fingerprint
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan

BAD_KEY = "sk-test-log-bad-000111"
GOOD_KEY = "sk-test-log-good-000222"


async def test_retries_fallbacks_cooldowns_breakers_and_evictions_are_logged(
    openai_registry, caplog
):
    caplog.set_level(logging.INFO, logger="lmux_plug")
    async with (
        FakeOpenAIServer(FaultPlan(faults={"503": 1.0}, retry_after=0.01)) as failing,
        FakeOpenAIServer(FaultPlan(require_key=GOOD_KEY)) as keyed,
    ):
        config = RouterConfig(
            models={
                "primary": LogicalModel(
                    "primary",
                    [
                        Deployment(
                            "openai/fake-model",
                            base_url=failing.url,
                            name="down",
                            api_keys=(GOOD_KEY,),
                        )
                    ],
                    fallbacks=("backup",),
                ),
                "backup": LogicalModel(
                    "backup",
                    [
                        Deployment(
                            "openai/fake-model",
                            base_url=keyed.url,
                            name="keyed",
                            api_keys=(BAD_KEY, GOOD_KEY),
                        )
                    ],
                ),
            },
            retries=1,
            backoff_base=0.001,
            breaker_threshold=2,
            breaker_cooldown=5.0,
        )
        router = Router(config=config, registry=openai_registry)
        response = await router.achat("primary", "hi")
        assert response.content == "echo: hi"
        with pytest.raises(ProviderError):
            await router.achat("primary", "again", fallback_models=[])
    records = [r for r in caplog.records if r.name == "lmux_plug.router"]
    text = "\n".join(r.getMessage() for r in records)
    assert "retrying primary after ProviderError on down" in text
    assert "cools down" in text
    assert "breaker down: closed -> open" in text
    assert "falling back from primary to backup" in text
    assert f"API key {fingerprint_of(BAD_KEY)} of deployment keyed rejected" in text
    assert BAD_KEY not in caplog.text
    assert GOOD_KEY not in caplog.text


def fingerprint_of(key: str) -> str:
    from lmux_plug._types import Secret

    return fingerprint(Secret(key))
