"""``lmux-plug serve`` (serve_main): config loading, refusals, and a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import textwrap
import threading
import urllib.error
import urllib.request

import openai
import pytest

from lmux_plug.errors import ConfigurationError
from lmux_plug.gateway.keys import hash_key
from lmux_plug.gateway.serve import build_app
from lmux_plug.gateway.serve import load_toml
from lmux_plug.gateway.serve import serve_main
from lmux_plug.testing.fake_openai import stop_process
from tests.helpers import python

CLIENT_KEY = "vk-serve-test-client-0001"


def test_bad_config_exits_2(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert serve_main(["--config", str(missing), "--port", "0"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    assert serve_main(["--config", str(bad), "--port", "0"]) == 2
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[gateway]\nhots = 'x'\n")
    assert serve_main(["--config", str(unknown), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "not valid TOML" in err
    assert "hots" in err


def test_open_gateway_refused_on_public_address(capsys):
    assert serve_main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without virtual keys" in capsys.readouterr().err


def test_build_app_from_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_KEY", CLIENT_KEY)
    monkeypatch.setenv("FAKE_PROVIDER_KEY", "test-config-provider-key-123456")
    path = tmp_path / "lmux.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [gateway]
            max_body_bytes = 2048
            aliases = {{ quick = "echo/echo-1" }}

            [gateway.providers.echo]
            api_key_env = "FAKE_PROVIDER_KEY"

            [[gateway.keys]]
            name = "team"
            key_env = "TEAM_KEY"
            rpm = 5
            budget_usd = "1.5"
            models = ["echo/*", "quick"]

            [[gateway.keys]]
            name = "hashed"
            key_sha256 = "{hash_key("vk-other")}"
            """
        )
    )
    app = build_app(load_toml(path))
    state = app.state.gateway
    assert state.max_body_bytes == 2048
    team = state.keys.authenticate(f"Bearer {CLIENT_KEY}")
    assert (team.name, team.rpm, str(team.budget)) == ("team", 5, "1.5")
    assert state.keys.authenticate("Bearer vk-other").name == "hashed"
    # Aliases are the gateway's own: resolved before the call and the key check.
    assert state.model_of({"model": "quick"}, team) == "echo/echo-1"
    # Provider keys from the config are scrubbed from anything sent to a client.
    assert state.scrub("key test-config-provider-key-123456 leaked") == "key *** leaked"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[gateway.keys]]\nname='a'\n", "exactly one of"),
        ("[[gateway.keys]]\nkey='a'\nkey_env='B'\n", "exactly one of"),
        ("[[gateway.keys]]\nkey_env='NOT_SET_ANYWHERE_1234'\n", "is not set"),
        ("[[gateway.keys]]\nkey_sha256='abc'\n", "64 hex"),
        ("[[gateway.keys]]\nkey='a'\nrpm=0\n", "rpm"),
        ("[[gateway.keys]]\nkey='a'\nbudget_usd='lots'\n", "budget_usd"),
        ("[[gateway.keys]]\nkey='a'\ncolour='red'\n", r"keys\[0\]\.colour: unknown key"),
        ("[[gateway.keys]]\nkey='a'\n[[gateway.keys]]\nkey='a'\n", "are equal"),
        ("[gateway.providers.echo]\nregion='x'\n", r"providers\.echo\.region: unknown key"),
    ],
)
def test_config_errors(tmp_path, text, message):
    path = tmp_path / "lmux.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        build_app(load_toml(path))


def test_pyproject_table(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.lmux_plug.gateway]\nport = 4123\n")
    assert load_toml(path) == {"gateway": {"port": 4123}}


def test_serve_subprocess_with_router_and_keys(tmp_path, start_gateway):
    config = tmp_path / "lmux.toml"
    config.write_text(
        textwrap.dedent(
            """
            [gateway]
            host = "127.0.0.1"
            aliases = { quick = "echo/echo-1", speedy = "fast" }

            [[gateway.keys]]
            name = "ci"
            key_env = "LMUX_TEST_SERVE_KEY"

            [models.fast]
            [[models.fast.deployments]]
            model = "echo/echo-1"
            """
        )
    )
    env = {**os.environ, "LMUX_TEST_SERVE_KEY": CLIENT_KEY, "LMUX_PLUG_DISABLE": ""}
    process = start_gateway(config, env)
    try:
        line = _read_line(process, timeout=30)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}"
        with urllib.request.urlopen(url + "/health", timeout=10) as response:
            assert response.status == 200
        client = openai.OpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        wrong = openai.OpenAI(base_url=url + "/v1", api_key="vk-wrong", max_retries=0)
        reply = client.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "via router"}]
        )
        assert reply.choices[0].message.content == "via router"
        direct = client.chat.completions.create(
            model="echo/echo-1", messages=[{"role": "user", "content": "direct"}]
        )
        assert direct.choices[0].message.content == "direct"
        # [gateway] aliases work with a router too: to a provider model or a router model.
        for alias in ("quick", "speedy"):
            aliased = client.chat.completions.create(
                model=alias, messages=[{"role": "user", "content": alias}]
            )
            assert aliased.choices[0].message.content == alias
        assert {"quick", "speedy"} <= {m.id for m in client.models.list()}
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        # The router's stats, as JSON and through `lmux-plug stats`.
        # /stats needs a virtual key (it names internal deployments).
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/stats", timeout=10)
        assert refused.value.code == 401
        refused.value.close()
        request = urllib.request.Request(
            url + "/stats", headers={"authorization": f"Bearer {CLIENT_KEY}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            stats = json.loads(response.read())
        fast = next(v for k, v in stats["deployments"].items() if k.startswith("echo/echo-1"))
        # "fast" and the direct "echo/echo-1" (an implicit deployment) share one deployment.
        assert fast["requests"] == 4
        assert fast["successes"] == 4
        shown = python(
            "-m",
            "lmux_plug",
            "stats",
            "--url",
            url,
            env={**os.environ, "LMUX_PLUG_API_KEY": CLIENT_KEY},
            timeout=30,
        )
        assert shown.returncode == 0, shown.stderr
        assert "echo/echo-1" in shown.stdout
        assert "breaker" in shown.stdout
        client.close()
        wrong.close()
    finally:
        stop_process(process, grace=15)
        stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says so.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in stderr


def _read_line(process, timeout):
    result = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0]:
        process.kill()
        pytest.fail(f"gateway did not start: {process.stderr.read()}")
    return result[0]


def test_workers_need_a_shared_state_for_limits(tmp_path, capsys):
    config = tmp_path / "lmux.toml"
    config.write_text('[[gateway.keys]]\nkey = "vk-x"\nrpm = 5\n')
    assert serve_main(["--config", str(config), "--workers", "2", "--port", "0"]) == 2
    assert "state = 'redis://" in capsys.readouterr().err


def test_stats_command_defaults_to_the_serve_port():
    shown = python("-m", "lmux_plug", "stats", "--help", timeout=30, check=True)
    assert "http://127.0.0.1:4000" in shown.stdout
    serve_help = python("-m", "lmux_plug.gateway.serve", "--help", timeout=30, check=True)
    assert "default 4000" in serve_help.stdout
