"""Issue 15 configuration: files on disk are validated with the file and the path named."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lmux_plug
from lmux_plug import Registry
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import ProviderError
from lmux_plug.router import ConfigSource
from lmux_plug.router import ConfigValidationError
from lmux_plug.router import Deployment
from lmux_plug.router import LogicalModel
from lmux_plug.router import Router
from lmux_plug.router import RouterConfig
from lmux_plug.router import load_config
from lmux_plug.testing import MockProvider

GOOD = """
[router]
retries = 1

[models.fast]
deployments = ["echo/echo-1"]
fallbacks = ["smart"]

[models.smart]
deployments = [{ model = "echo/reverse", weight = 2, limits = { rpm = 60 } }]
"""


def write(tmp_path: Path, text: str, name: str = "lmux.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        load_config(path)
    assert isinstance(info.value, ConfigurationError)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: $") for line in lines), lines
    # Shown relative to the folder here, to compare with the expected lines.
    return [line.removeprefix(f"{path.parent}{os.sep}") for line in lines]


def test_good_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.retries == 1
    assert set(config.models) == {"fast", "smart"}
    assert config.models["smart"].deployments[0].effective_weight == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[router]\nretries = "many"\n[models.m]\ndeployments = ["echo/echo-1"]\n',
            "lmux.toml: $.router.retries: expected int, got 'many'",
        ),
        (
            '[router]\nretries = -3\n[models.m]\ndeployments = ["echo/echo-1"]\n',
            "lmux.toml: $.router.retries: must be >= 0, got -3",
        ),
        (
            '[router]\nretries = 2.5\n[models.m]\ndeployments = ["echo/echo-1"]\n',
            "lmux.toml: $.router.retries: expected int, got 2.5",
        ),
        (
            '[router]\nsingleflight = 1\n[models.m]\ndeployments = ["echo/echo-1"]\n',
            "lmux.toml: $.router.singleflight: expected true or false, got 1",
        ),
        (
            '[router]\nretriez = 1\n[models.m]\ndeployments = ["echo/echo-1"]\n',
            "lmux.toml: $.router.retriez: unknown key; did you mean 'retries'?",
        ),
        (
            (
                '[models.fast]\ndeployments = ["echo/echo-1"]\nfallbacks = ["smrt"]\n'
                '[models.smart]\ndeployments = ["echo/echo-1"]\n'
            ),
            "lmux.toml: $.models.fast.fallbacks[0]: unknown model 'smrt'",
        ),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\nfallbacks = ["fast"]\n',
            "lmux.toml: $.models.fast.fallbacks[0]: model 'fast' lists itself as a fallback",
        ),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\nfallbacks = ["a/b", "a/b"]\n',
            "lmux.toml: $.models.fast.fallbacks[1]: 'a/b' is listed twice",
        ),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\nfallbacks = "smart"\n',
            "lmux.toml: $.models.fast.fallbacks: expected a list, got 'smart'",
        ),
        (
            '[models.fast]\nstrategy = "fastest"\ndeployments = ["echo/echo-1"]\n',
            "lmux.toml: $.models.fast.strategy: expected one of",
        ),
        (
            '[models.fast]\ndeployments = [{ model = "echo/echo-1", weight = -1 }]\n',
            "lmux.toml: $.models.fast.deployments[0].weight: must be > 0, got -1",
        ),
        (
            '[models.fast]\ndeployments = [{ model = "echo/echo-1", limits = { rpm = "x" } }]\n',
            "lmux.toml: $.models.fast.deployments[0].limits.rpm: expected int, got 'x'",
        ),
        (
            '[models.fast]\ndeployments = [{ model = "echo/echo-1", wieght = 1 }]\n',
            "lmux.toml: $.models.fast.deployments[0].wieght: unknown key; did you mean 'weight'?",
        ),
        (
            '[models.fast]\ndeployments = ["no-slash"]\n',
            "lmux.toml: $.models.fast.deployments[0]: deployment model 'no-slash'",
        ),
        ("[models.fast]\n", "lmux.toml: $.models.fast.deployments: required key missing"),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\nretries = "many"\n',
            "lmux.toml: $.models.fast.retries: expected int, got 'many'",
        ),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\nretries = -3\n',
            "lmux.toml: $.models.fast.retries: must be >= 0, got -3",
        ),
        ("", "lmux.toml: $.models: missing: declare at least one [models.NAME]"),
        ("[router]\nretries = 1\n", "lmux.toml: $.models: missing"),
        ('[modles.fast]\ndeployments = ["echo/echo-1"]\n', "lmux.toml: $.modles: unknown table"),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\n[models.fast.params]\ntemperature = 9\n',
            "lmux.toml: $.models.fast.params.temperature: must be between 0 and 2, got 9",
        ),
        (
            '[models.fast]\ndeployments = ["echo/echo-1"]\n[models.fast.params]\ntemprature = 0\n',
            "lmux.toml: $.models.fast.params.temprature: unknown parameter",
        ),
    ],
)
def test_each_error_names_file_and_path(tmp_path: Path, text: str, expected: str) -> None:
    lines = errors_of(write(tmp_path, text))
    assert any(line.startswith(expected) for line in lines), lines


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        '[router]\nretries = "many"\ndeadline = -1\n'
        '[models.fast]\ndeployments = [{ model = "echo/echo-1", weight = 0 }]\n'
    )
    lines = errors_of(write(tmp_path, text))
    assert len(lines) == 3, lines
    assert all(line.startswith("lmux.toml: $.") for line in lines)


def test_every_bad_preset_parameter_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        '[models.fast]\ndeployments = ["echo/echo-1"]\n'
        '[models.fast.params]\ntemprature = 0.2\nmax_tokens = -1\ntop_p = "high"\n'
    )
    lines = errors_of(write(tmp_path, text))
    assert [line.split(": ")[1] for line in lines] == [
        "$.models.fast.params.temprature",
        "$.models.fast.params.max_tokens",
        "$.models.fast.params.top_p",
    ], lines


def test_pyproject_errors_name_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[project]\nname = "x"\n[tool.lmux_plug.router]\nretries = "many"\n'
        '[tool.lmux_plug.models.m]\ndeployments = ["echo/echo-1"]\n',
        "pyproject.toml",
    )
    with pytest.raises(ConfigValidationError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path} [tool.lmux_plug]: $.router.retries: expected int, got 'many'"
    )


def test_failed_hot_reload_keeps_last_good_config_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, GOOD)
    source = ConfigSource(path, check_interval=0.0)
    assert set(source.current().models) == {"fast", "smart"}
    # A half-written file: the editor saved only the first lines.
    path.write_text("[router]\nretries = 1\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    with caplog.at_level(logging.WARNING, logger="lmux_plug.router"):
        config = source.current()
    assert set(config.models) == {"fast", "smart"}
    assert source.last_error is not None
    record = next(r for r in caplog.records if r.name == "lmux_plug.router.config")
    assert "keeping the last good config" in record.getMessage()
    assert "$.models" in record.getMessage()


def test_preset_applies_default_parameters_and_system_prompt(tmp_path: Path) -> None:
    mock = MockProvider("mock", handler=lambda call: "ok")
    registry = Registry()
    registry.register("mock", mock)
    path = write(
        tmp_path,
        '[models.terse]\ndeployments = ["mock/m"]\nsystem = "Be terse."\n'
        "[models.terse.params]\ntemperature = 0.1\nmax_tokens = 50\n"
        'response_format = { type = "json_object" }\n',
    )
    router = Router(registry=registry, config_path=path)
    router.chat("terse", "hello")
    request = mock.last_call.request
    assert request.temperature == 0.1
    assert request.max_tokens == 50
    assert type(request.response_format).__name__ == "JsonObjectResponseFormat"
    assert request.messages[0].content == "Be terse."
    # The call's own parameters win, and its own system prompt is kept.
    # ``None`` means "not given": the preset's value stays.
    router.chat("terse", "hello", temperature=None)
    assert mock.last_call.request.temperature == 0.1
    router.chat(
        "terse",
        [{"role": "system", "content": "Mine."}, {"role": "user", "content": "x"}],
        temperature=0.9,
    )
    request = mock.last_call.request
    assert request.temperature == 0.9
    assert request.max_tokens == 50
    assert [m.content for m in request.messages] == ["Mine.", "x"]
    # Swapping the preset is editing the file: no redeploy.
    path.write_text(
        '[models.terse]\ndeployments = ["mock/m"]\n[models.terse.params]\ntemperature = 0.7\n'
    )
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert router.reload()
    router.chat("terse", "again")
    assert mock.last_call.request.temperature == 0.7
    assert mock.last_call.request.messages[0].content == "again"
    registry.close()


def test_batch_cli_reports_the_config_error(tmp_path: Path, batch_cli) -> None:
    config = write(
        tmp_path, '[router]\nretries = "many"\n[models.m]\ndeployments = ["echo/echo-1"]\n'
    )
    result, _ = batch_cli.over(
        tmp_path, '{"id": 1, "prompt": "hi"}\n', "m", "--config", str(config)
    )
    assert result.returncode == 2
    assert "$.router.retries: expected int, got 'many'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"retries": "many"}, "RouterConfig: $.router.retries: expected int, got 'many'"),
        ({"retries": -3}, "RouterConfig: $.router.retries: must be >= 0, got -3"),
        ({"deadline": 0}, "RouterConfig: $.router.deadline: must be > 0, got 0"),
        ({"singleflight": 1}, "RouterConfig: $.router.singleflight: expected true or false"),
        ({"cache_size": 2.5}, "RouterConfig: $.router.cache_size: expected int, got 2.5"),
    ],
)
def test_config_built_in_code_is_checked_too(settings: dict[str, object], expected: str) -> None:
    from lmux_plug.router import RouterConfig

    with pytest.raises(ConfigValidationError) as info:
        RouterConfig(models={"m": ["echo/echo-1"]}, **settings)  # type: ignore[arg-type]
    assert str(info.value).startswith(expected)


def test_dangling_fallback_in_code_is_refused() -> None:
    from lmux_plug.router import Deployment
    from lmux_plug.router import Limits
    from lmux_plug.router import LogicalModel

    model = LogicalModel("a", [Deployment("echo/echo-1")], fallbacks=("smrt",))
    with pytest.raises(ConfigValidationError, match=r"\$\.models\.a\.fallbacks\[0\]: unknown"):
        Router({"a": model}, registry=Registry())
    with pytest.raises(ConfigurationError, match="rpm must be a number, got '10'"):
        Limits(rpm="10")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="weight must be a number"):
        Deployment("echo/echo-1", weight=True)
    with pytest.raises(ConfigurationError, match="system must be a string"):
        LogicalModel("a", [Deployment("echo/echo-1")], system=3)  # type: ignore[arg-type]


# Typed as Any: these are the wrong shapes a user's untyped code may pass.
_router: Any = Router
_deployment: Any = Deployment
_logical: Any = LogicalModel


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: _router(RouterConfig()), "pass it as Router(config=...)"),
        (lambda: _router(3), "models must be a mapping of logical names"),
        (lambda: _router({"fast": 3}), "deployments must be a list of Deployment"),
        (lambda: _router({3: ["echo/echo-1"]}), "name must be a non-empty string, got 3"),
        (lambda: _deployment(3), "must be a 'provider/model' string, got 3"),
        (lambda: _logical("a", [3]), "must be a Deployment or a 'provider/model' string"),
        (lambda: _logical("a", "echo/echo-1", fallbacks=[3]), "fallback list must be a list"),
    ],
)
def test_router_built_in_code_with_wrong_shapes_names_what_is_wrong(
    build: Callable[[], object], expected: str
) -> None:
    # A user writing the README's Router(...) call by hand gets a ConfigurationError, never
    # an AttributeError or TypeError from inside the router.
    with pytest.raises(ConfigurationError, match=re.escape(expected)):
        build()


def test_a_single_name_is_one_deployment_or_one_fallback() -> None:
    model = LogicalModel("fast", "echo/echo-1", fallbacks="echo/reverse")
    assert [d.model for d in model.deployments] == ["echo/echo-1"]
    assert model.fallbacks == ("echo/reverse",)
    with Registry() as registry:  # closed: its loops are not left to a late __del__
        router = Router({"fast": "echo/echo-1"}, registry=registry)
        assert router.chat("fast", "hi").content == "hi"


def test_unknown_provider_is_refused_at_load_and_on_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    typo = write(tmp_path, '[models.m]\ndeployments = ["ehco/echo-1"]\n', "typo.toml")
    with pytest.raises(ConfigValidationError) as info:
        Router(registry=Registry(), config_path=typo)
    assert str(info.value) == (
        f"{typo}: $.models.m.deployments[0].model: unknown provider 'ehco' in 'ehco/echo-1'; "
        "did you mean 'echo/echo-1'?"
    )
    path = write(tmp_path, GOOD)
    router = Router(registry=Registry(), config_path=path)
    path.write_text('[models.fast]\ndeployments = ["echo/echo-1"]\nfallbacks = ["nowhere/x"]\n')
    os.utime(path, (time.time() + 5, time.time() + 5))
    with caplog.at_level(logging.WARNING, logger="lmux_plug.router"):
        assert not router.reload()
    assert set(router.config.models) == {"fast", "smart"}
    assert "$.models.fast.fallbacks[0]: unknown provider 'nowhere'" in caplog.text
    assert router.chat("fast", "still served").content == "still served"
    router.registry.close()


def test_a_key_in_the_wrong_table_says_where_it_goes(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[models.fast]\ndeployments = ["echo/echo-1"]\ndeadline = 3\ntemperature = 0.2\n'
    )
    assert errors_of(path) == [
        (
            "lmux.toml: $.models.fast.deadline: unknown key; deadline is a setting of the whole "
            "router: put it under [router]"
        ),
        (
            "lmux.toml: $.models.fast.temperature: unknown key; a preset parameter goes in "
            "[models.fast.params]"
        ),
    ]


def test_the_toml_examples_of_the_router_docs_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "router.md"
    blocks = docs.read_text("utf-8").split("```toml\n")[1:]
    assert len(blocks) >= 2
    monkeypatch.setenv("OPENAI_KEY_1", "k-docs-one")
    monkeypatch.setenv("OPENAI_KEY_2", "k-docs-two")
    full = load_config(write(tmp_path, blocks[0].split("```")[0]))
    assert set(full.models) == {"fast", "smart", "long"}
    # The presets example is a fragment: one [models.NAME] table with its params.
    presets = load_config(write(tmp_path, blocks[1].split("```")[0]))
    assert presets.models["summarizer"].params["max_tokens"] == 300
    assert presets.models["summarizer"].system == "Summarize in three sentences."


def test_a_misspelt_logical_model_gets_a_did_you_mean() -> None:
    with Registry() as registry, pytest.raises(lmux_plug.NotFoundError) as info:
        Router({"fast": ["echo/echo-1"]}, registry=registry).chat("fsat", "hi")
    assert "unknown logical model 'fsat' (did you mean 'fast'?)" in str(info.value)


def test_a_model_may_set_its_own_retries(tmp_path: Path) -> None:
    """``[models.X] retries`` replaces the router's for that model; a call's ``retries`` wins."""
    calls: list[str] = []

    def failing(call: Any) -> str:
        calls.append(call.request.model)
        raise ProviderError("upstream is down", status_code=503)

    registry = Registry()
    registry.register("flaky", MockProvider("flaky", handler=failing))
    path = write(
        tmp_path,
        "[router]\nretries = 3\nbackoff_base = 0\nbackoff_max = 0\nbreaker_threshold = 50\n"
        '[models.once]\ndeployments = ["flaky/a"]\nretries = 0\nfallbacks = ["steady"]\n'
        '[models.steady]\ndeployments = ["flaky/b"]\n',
    )
    router = Router(registry=registry, config_path=path)
    with pytest.raises(ProviderError):
        router.chat("once", "hi")
    # One attempt at its own model, then the fallback with the router's 3 retries.
    assert calls == ["a", "b", "b", "b", "b"]
    calls.clear()
    with pytest.raises(ProviderError):
        router.chat("once", "hi", retries=1)
    assert calls == ["a", "a", "b", "b"]
    with pytest.raises(ConfigurationError, match="retries must be an int >= 0"):
        LogicalModel("x", ["flaky/a"], retries=True)
    registry.close()
