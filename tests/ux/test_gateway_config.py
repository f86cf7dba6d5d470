"""Issue 15 configuration, gateway side: ``[gateway]`` is checked as strictly as the router's
tables (file and field path in every line), and what the file configures holds through the
official ``openai`` SDK: aliases next to a router, presets on chat and streams, parameters
refused with an OpenAI-shaped 400 before the provider is called.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from lmux_plug import Registry
from lmux_plug.errors import ConfigurationError
from lmux_plug.gateway.config import check_gateway_config
from lmux_plug.gateway.serve import build_app
from lmux_plug.gateway.serve import load_toml
from lmux_plug.gateway.serve import run_in_thread
from lmux_plug.router.config import ConfigValidationError
from lmux_plug.router.config import parse_config
from lmux_plug.testing import MockProvider
from tests.helpers import python

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
ROUTED = """
[gateway]
aliases = { quick = "terse", direct = "mock/plain" }

[models.terse]
deployments = ["mock/m"]
system = "Be terse."

[models.terse.params]
temperature = 0.1
max_tokens = 50
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lmux.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[gateway]\nport = "x"\n', "$.gateway.port: expected int, got 'x'"),
        ("[gateway]\nport = 70000\n", "$.gateway.port: must be between 0 and 65535, got 70000"),
        ("[gateway]\nhots = 'a'\n", "$.gateway.hots: unknown key; did you mean 'host'?"),
        ("[gateway]\nworkers = 0\n", "$.gateway.workers: must be >= 1, got 0"),
        ("[gateway]\nbody_timeout = -1\n", "$.gateway.body_timeout: must be > 0, got -1"),
        ("[gateway]\nallow_open = 'yes'\n", "$.gateway.allow_open: expected true or false"),
        ("[gatway]\nport = 1\n", "$.gatway: unknown table; did you mean 'gateway'?"),
        (
            "[gateway]\nmetrics_auth = 'opne'\n",
            (
                "$.gateway.metrics_auth: expected one of 'key', 'open', got 'opne' "
                "(did you mean 'open'?)"
            ),
        ),
        ("[gateway]\nstate = 'postgres://db'\n", "$.gateway.state: expected 'memory' or a redis"),
        (
            (
                "[gateway]\naliases = { quick = 'tersee' }\n[models.terse]\n"
                "deployments = ['echo/echo-1']\n"
            ),
            (
                "$.gateway.aliases.quick: unknown model 'tersee' (not a logical model here, "
                "nor 'provider/model'); did you mean 'terse'?"
            ),
        ),
        ("[gateway]\naliases = { quick = 3 }\n", "$.gateway.aliases.quick: expected a string"),
        (
            "[gateway.providers.openai]\nbase_url = 'api.openai.com'\n",
            "$.gateway.providers.openai.base_url: expected an http(s) URL",
        ),
        (
            "[gateway.providers.openai]\napi_key_env = 'LMUX_TEST_UNSET_VARIABLE_9'\n",
            (
                "$.gateway.providers.openai.api_key_env: environment variable "
                "LMUX_TEST_UNSET_VARIABLE_9 is not set"
            ),
        ),
        ("[[gateway.keys]]\nkey = 'a'\nrpm = -1\n", "$.gateway.keys[0].rpm: must be > 0, got -1"),
        ("[[gateway.keys]]\nkey = 'a'\nrpm = 'ten'\n", "$.gateway.keys[0].rpm: expected int"),
        (
            "[[gateway.keys]]\nkey = 'a'\nbudget_usd = -3\n",
            "$.gateway.keys[0].budget_usd: must be >= 0, got -3",
        ),
        ("[[gateway.keys]]\nname = 'a'\n", "$.gateway.keys[0]: needs exactly one of key"),
        (
            "[[gateway.keys]]\nkey = 'a'\nbudget_usd = true\n",
            "$.gateway.keys[0].budget_usd: expected",
        ),
        (
            "[[gateway.keys]]\nkey = 'a'\nbudget_usd = 'lots'\n",
            "$.gateway.keys[0].budget_usd: expected",
        ),
        ("[gateway]\ndefault_provider = ''\n", "$.gateway.default_provider: must not be empty"),
        (
            "[gateway]\nunpriced_price = { input = '5', ouptut = '15' }\n",
            "$.gateway.unpriced_price.ouptut: unknown key; did you mean 'output'?",
        ),
        (
            (
                '[gateway]\nport = 4000\n[router]\nretries = "many"\n[models.m]\n'
                'deployments = ["echo/echo-1"]\n'
            ),
            "$.router.retries: expected int, got 'many'",
        ),
    ],
)
def test_gateway_config_errors_name_file_and_path(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        build_app(load_toml(path), registry=Registry(), path=str(path))
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"{path}: {expected}") for line in lines), lines


def test_every_problem_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "[gateway]\nport = 'x'\nworkers = 0\nhots = 'a'\n")
    with pytest.raises(ConfigValidationError) as info:
        build_app(load_toml(path), registry=Registry(), path=str(path))
    assert [p.path for p in info.value.problems] == [
        "$.gateway.port",
        "$.gateway.hots",
        "$.gateway.workers",
    ]


def test_serve_prints_the_problems_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[gateway]\nport = 'x'\n[gatway]\nhost = 'a'\n")
    result = python("-m", "lmux_plug", "serve", "--config", str(path), timeout=120)
    assert result.returncode == 2
    assert f"{path}: $.gateway.port: expected int, got 'x'" in result.stderr
    assert f"{path}: $.gatway: unknown table; did you mean 'gateway'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_stats_default_url_is_the_port_serve_listens_on() -> None:
    def help_of(command: str) -> str:
        return python("-m", "lmux_plug", command, "--help", timeout=120, check=True).stdout

    def default_ports(text: str) -> set[str]:
        # Port-like numbers in the "(default ...)" notes of the help (127.0.0.1 is no port).
        notes = re.findall(r"\(default[^)]*\)", " ".join(text.split()))
        return {port for note in notes for port in re.findall(r"\b\d{4,5}\b", note)}

    assert default_ports(help_of("serve")) == default_ports(help_of("stats")) == {"4000"}


@pytest.fixture
def routed(tmp_path: Path) -> Iterator[tuple[openai.OpenAI, MockProvider]]:
    mock = MockProvider("mock", handler=lambda call: "ok")
    registry = Registry()
    registry.register("mock", mock)
    path = write(tmp_path, ROUTED)
    app = build_app(load_toml(path), registry=registry, path=str(path))
    with run_in_thread(app) as url:
        yield openai.OpenAI(base_url=url, api_key="unused-open-gateway", max_retries=0), mock
    registry.close()


def test_aliases_and_presets_hold_through_the_sdk(
    routed: tuple[openai.OpenAI, MockProvider],
) -> None:
    client, mock = routed
    for model in ("terse", "quick"):  # the router's name, and a gateway alias of it
        client.chat.completions.create(model=model, messages=HI)
        request = mock.last_call.request
        assert (request.temperature, request.max_tokens) == (0.1, 50)
        assert [m.content for m in request.messages] == ["Be terse.", "hi"]
    chunks = list(client.chat.completions.create(model="quick", messages=HI, stream=True))
    assert chunks
    assert mock.last_call.request.temperature == 0.1
    assert mock.last_call.request.messages[0].content == "Be terse."
    # The call's own parameter wins over the preset.
    client.chat.completions.create(model="quick", messages=HI, temperature=0.9)
    assert mock.last_call.request.temperature == 0.9
    assert mock.last_call.request.max_tokens == 50
    # An alias of a provider/model, next to the router, and no preset there.
    client.chat.completions.create(model="direct", messages=HI)
    assert mock.last_call.request.model == "plain"
    assert mock.last_call.request.temperature is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"top_p": 2}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": True}, "max_tokens"),
        ({"stop": 5}, "stop"),
    ],
)
def test_bad_parameters_are_an_openai_400_before_the_provider(
    routed: tuple[openai.OpenAI, MockProvider], fields: dict[str, object], param: str
) -> None:
    client, mock = routed
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="quick", messages=HI, **fields)  # type: ignore[call-overload]
    assert info.value.status_code == 400
    assert isinstance(info.value.body, dict)
    assert info.value.body.get("param") == param
    assert mock.calls == []


def test_provider_fields_through_extra_body_pass(
    routed: tuple[openai.OpenAI, MockProvider],
) -> None:
    client, mock = routed
    client.chat.completions.create(model="quick", messages=HI, extra_body={"top_k": 3})
    assert mock.last_call.request.extra == {"top_k": 3}


def test_env_is_not_interpolated_in_values(tmp_path: Path) -> None:
    # Keys stay out of files: a file names environment variables (api_key_env, key_env);
    # a "${VAR}" in a value is kept as written, not expanded.
    os.environ.setdefault("LMUX_TEST_GATEWAY_HOST", "example")
    path = write(tmp_path, "[gateway]\naliases = { a = 'echo/${LMUX_TEST_GATEWAY_HOST}' }\n")
    app = build_app(load_toml(path), registry=Registry(), path=str(path))
    assert app.state.gateway.aliases == {"a": "echo/${LMUX_TEST_GATEWAY_HOST}"}


def test_providers_and_alias_targets_must_be_installed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[gateway]\naliases = { a = 'ehco/echo-1', b = 'echo/echo-1' }\n"
        "[gateway.providers.ecoh]\nbase_url = 'http://127.0.0.1:9/v1'\n"
        "[gateway.providers.anthropic]\n",
    )
    with pytest.raises(ConfigValidationError) as info:
        build_app(load_toml(path), registry=Registry(), path=str(path))
    assert str(info.value).splitlines() == [
        f"{path}: $.gateway.providers.ecoh: unknown provider; did you mean 'echo'?",
        (
            f"{path}: $.gateway.providers.anthropic: provider 'anthropic' needs its plugin: "
            "pip install lmux-plug-anthropic (from a clone of lmux-plug: pip install -e "
            "plugins/anthropic)"
        ),
        (
            f"{path}: $.gateway.aliases.a: unknown provider 'ehco' in 'ehco/echo-1'; "
            "did you mean 'echo/echo-1'?"
        ),
    ]


def test_the_config_example_of_the_gateway_docs_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
    example = docs.read_text("utf-8").split("```toml\n")[1].split("```")[0]
    # The one placeholder a reader fills in; the key variable the example names is set.
    path = write(tmp_path, example.replace("<sha256 hex of the key>", "ab" * 32))
    monkeypatch.setenv("OPENAI_API_KEY", "k-docs-example")
    config = load_toml(path)
    check_gateway_config(config, str(path))
    assert parse_config(config, str(path)).models["fast"].deployments[0].model == (
        "openai/gpt-4o-mini"
    )


def test_bad_embedding_parameters_are_an_openai_400(
    routed: tuple[openai.OpenAI, MockProvider],
) -> None:
    client, mock = routed
    cases = (({"dimensions": 0}, "dimensions"), ({"encoding_format": "hex"}, "encoding_format"))
    for fields, param in cases:
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model="mock/e", input="x", **fields)  # type: ignore[arg-type]
        assert info.value.status_code == 400
        assert isinstance(info.value.body, dict)
        assert info.value.body.get("param") == param
    assert mock.calls == []


def test_gateway_and_router_problems_are_listed_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[gateway]\nport = 'x'\n[router]\nretries = -1\n[models.m]\ndeployments = ['echo/echo-1']\n",
    )
    with pytest.raises(ConfigValidationError) as info:
        build_app(load_toml(path), registry=Registry(), path=str(path))
    assert [p.path for p in info.value.problems] == ["$.gateway.port", "$.router.retries"]


def test_pyproject_errors_say_where_the_paths_start(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n[tool.lmux_plug.gateway]\nport = "x"\n')
    with pytest.raises(ConfigValidationError) as info:
        build_app(load_toml(path), registry=Registry(), path=str(path))
    assert str(info.value) == f"{path} [tool.lmux_plug]: $.gateway.port: expected int, got 'x'"


@pytest.mark.parametrize(
    "text",
    [
        "[gateway]\nstate = 'rediss+bad://admin:hunter2-secret@cache:6379/0'\n",
        "[gateway.providers.openai]\nbase_url = 'ftp://admin:hunter2-secret@files.example'\n",
    ],
)
def test_a_bad_url_is_named_without_its_password(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        build_app(load_toml(path), registry=Registry(), path=str(path))
    message = str(info.value)
    assert "expected" in message
    assert "hunter2" not in message
    assert "admin" not in message
