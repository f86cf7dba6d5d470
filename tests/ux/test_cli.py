"""Issue 15 CLI items, run as a user runs them: ``python -m lmux_plug`` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import lmux_plug
from lmux_plug.testing.fake_openai import FakeOpenAIServer
from lmux_plug.testing.fake_openai import FaultPlan
from tests.helpers import python


def run(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return python(
        "-m",
        "lmux_plug",
        *args,
        stdin=stdin if stdin is not None else "",
        env=env,
        cwd=cwd,
    )


def test_chat_on_the_embedded_default() -> None:
    result = run("chat", "echo/echo-1", "Hello there", "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello there\n"
    assert "in / " in result.stderr
    assert "cost $0" in result.stderr


def test_chat_streams_with_a_system_prompt() -> None:
    result = run("chat", "echo/reverse", "abc def", "--stream", "--system", "be brief")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fed cba\n"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("nowhere/model", "unknown provider 'nowhere'"),
        ("no-slash", "provider/model"),
        ("gpt-4o-mini", "did you mean 'openai/gpt-4o-mini'?"),
        ("echo-1", "did you mean 'echo/echo-1'?"),
    ],
)
def test_a_model_chat_cannot_use_is_a_usage_error_that_says_why(model: str, expected: str) -> None:
    # An unknown provider or a name without one is found before any call; a bare model
    # name another provider serves gets a did-you-mean.
    result = run("chat", model, "hi")
    assert result.returncode == 2
    assert expected in result.stderr


def test_models_lists_the_embedded_default_with_prices() -> None:
    result = run("models", "--provider", "echo")
    assert result.returncode == 0, result.stderr
    assert "echo/echo-1" in result.stdout
    assert "$0" in result.stdout


def test_plugins_lists_the_builtin() -> None:
    result = run("plugins")
    assert result.returncode == 0, result.stderr
    assert "echo" in result.stdout
    assert "chat,completions,embed,json_object,json_schema,responses,stream,tools" in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lmux-plug {lmux_plug.__version__}"


@pytest.mark.parametrize(
    ("command", "hidden", "install"),
    [
        (
            ("serve", "--port", "0"),
            ("starlette", "uvicorn"),
            "pip install 'lmux-plug[gateway]' (from a clone of lmux-plug: pip install -e '.[gateway]')",
        ),
        (
            ("certify", "echo"),
            ("lmux_plug_contract",),
            "pip install lmux-plug-contract (from a clone of lmux-plug: pip install -e contract_tests)",
        ),
    ],
)
def test_a_subcommand_without_its_optional_part_is_one_line_and_exit_2(
    tmp_path: Path, command: tuple[str, ...], hidden: tuple[str, ...], install: str
) -> None:
    # Hide the modules the way an install without the extra does.
    (tmp_path / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            # What Python does for a module that is not installed: import fails, and
            # importlib.util.find_spec() answers None.
            for name in {hidden!r}:
                sys.modules[name] = None
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run(*command, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(f": {install}"), lines[0]
    helped = run(command[0], "--help", env=env)  # help still answers, with the install line
    assert helped.returncode == 0, helped.stderr
    assert f"usage: lmux-plug {command[0]}" in helped.stdout
    assert install in helped.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--port", "-1"), "argument --port: expected a port from 0 to 65535, got '-1'"),
        (("--port", "70000"), "argument --port: expected a port from 0 to 65535, got '70000'"),
        (("--log-level", "loud"), "argument --log-level: invalid choice: 'loud'"),
    ],
)
def test_serve_options_out_of_range_are_usage_errors(args: tuple[str, ...], expected: str) -> None:
    # Each was a traceback (OverflowError from bind(), ValueError from logging) before.
    result = run("serve", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"lmux-plug serve: error: {expected}" in result.stderr


def test_stats_timeout_out_of_range_is_a_usage_error() -> None:
    result = run("stats", "--url", "http://127.0.0.1:1", "--timeout", "-1")
    assert result.returncode == 2  # it was exit 1, reported as a failure to reach the gateway
    assert "error: --timeout must be a number > 0, got -1" in result.stderr


def test_models_into_a_closed_pipe_has_no_traceback() -> None:
    # `lmux-plug models | head -1`: the reader leaves after one line.
    with subprocess.Popen(
        [sys.executable, "-m", "lmux_plug", "models"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert code in (0, 141)


def test_models_through_head_in_a_shell() -> None:
    result = subprocess.run(
        f"{sys.executable} -m lmux_plug models | head -n 2",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.count("\n") == 2
    assert "Traceback" not in result.stderr


def test_help_strings_are_sentences_without_rest() -> None:
    top = run("--help")
    assert top.returncode == 0
    for command in ("plugins", "models", "chat", "batch", "serve", "stats", "certify"):
        assert command in top.stdout
    for args in (
        ("--help",),
        ("chat", "--help"),
        ("models", "--help"),
        ("plugins", "--help"),
        ("stats", "--help"),
        ("batch", "--help"),
    ):
        text = run(*args).stdout
        assert "``" not in text
        assert ":class:" not in text
    chat = run("chat", "--help").stdout
    assert "Send one chat request and print the answer." in chat


def test_prompt_from_stdin() -> None:
    result = run("chat", "echo/echo-1", "-", stdin="piped prompt\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "piped prompt\n"
    result = run("chat", "echo/reverse", stdin="abc")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cba\n"


def test_chat_json() -> None:
    result = run("chat", "echo/echo-1", "hello json", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["content"] == "hello json"
    assert answer["provider"] == "echo"
    assert answer["finish_reason"] == "stop"
    assert answer["usage"]["output_tokens"] == 3
    streamed = run("chat", "echo/echo-1", "a b", "--json", "--stream")
    assert streamed.returncode == 0, streamed.stderr
    chunks = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert "".join(c["delta"] for c in chunks) == "a b"
    assert chunks[-1]["finish_reason"] == "stop"


def test_models_and_plugins_json() -> None:
    models = json.loads(run("models", "--json", "--provider", "echo").stdout)
    assert {m["id"] for m in models} == {"echo/echo-1", "echo/reverse"}
    assert models[0]["input_per_million"] == "0"
    assert "chat" in models[0]["capabilities"]
    document = json.loads(run("plugins", "--json").stdout)
    names = [p["name"] for p in document["plugins"]]
    assert "echo" in names
    assert document["broken"] == []


def test_plugins_shows_whether_each_key_is_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["OPENAI_API_KEY"] = "sk-test-not-a-real-key-123"
    text = run("plugins", env=env)
    assert text.returncode == 0, text.stderr
    openai_line = next(line for line in text.stdout.splitlines() if line.startswith("  openai "))
    assert "key: set (OPENAI_API_KEY)" in openai_line
    anthropic_line = next(
        line for line in text.stdout.splitlines() if line.startswith("  anthropic ")
    )
    assert "key: MISSING (set ANTHROPIC_API_KEY)" in anthropic_line
    assert "sk-test-not-a-real-key-123" not in text.stdout
    document = json.loads(run("plugins", "--json", env=env).stdout)
    providers = {p["name"]: p for plugin in document["plugins"] for p in plugin["providers"]}
    assert providers["openai"]["key"]["set"] is True
    assert providers["anthropic"]["key"]["set"] is False
    assert providers["echo"]["key"]["needed"] is False
    assert "sk-test-not-a-real-key-123" not in json.dumps(document)


def test_misspelt_model_id_gets_a_did_you_mean() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = run("chat", "openai/gpt-4o-mnii", "hi", env=env)
    assert "did you mean 'openai/gpt-4o-mini'?" in result.stderr
    assert result.returncode == 1  # then the call itself fails: no key here
    result = run("chat", "opena/gpt-4o", "hi")
    assert result.returncode == 2
    assert "did you mean 'openai/gpt-4o'?" in result.stderr


def test_known_provider_without_its_plugin_gets_the_install_hint() -> None:
    env = {**os.environ, "LMUX_PLUG_DISABLE": "anthropic"}
    result = run("chat", "anthropic/claude-sonnet-4-5", "hi", env=env)
    assert result.returncode == 2
    assert "pip install lmux-plug-anthropic" in result.stderr
    assert "pip install -e plugins/anthropic" in result.stderr  # the folder in a clone
    assert (Path(__file__).parents[2] / "plugins" / "anthropic" / "pyproject.toml").is_file()
    assert "Traceback" not in result.stderr


def test_bad_parameter_is_a_usage_error_not_an_empty_answer() -> None:
    result = run("chat", "echo/echo-1", "hi", "--temperature", "7")
    assert result.returncode == 2
    assert "temperature" in result.stderr
    assert result.stdout == ""
    result = run("chat", "echo/echo-1", "hi", "--max-tokens", "-1")
    assert result.returncode == 2
    assert "max_tokens" in result.stderr


def test_every_install_hint_names_a_plugin_folder_of_this_repository() -> None:
    from lmux_plug._cli_models import KNOWN_PLUGINS
    from lmux_plug._cli_models import install_hint

    root = Path(__file__).parents[2]
    for prefix, package in KNOWN_PLUGINS.items():
        hint = install_hint(prefix)
        assert hint is not None
        folder = hint.rsplit("pip install -e ", 1)[1].rstrip(")")
        project = (root / folder / "pyproject.toml").read_text()
        assert f'name = "{package}"' in project, (prefix, folder)


def _env_for(server_url: str) -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "test-key-sigint", "OPENAI_BASE_URL": server_url}


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "chat-stream"])
def test_ctrl_c_during_a_call_exits_130_without_a_traceback(stream: bool) -> None:
    # The upstream never answers, so the call is in flight when the user presses Ctrl-C.
    with FakeOpenAIServer(FaultPlan(faults={"timeout": 1.0})).run_in_thread() as server:
        command = [sys.executable, "-m", "lmux_plug", "chat", "openai/gpt-4o-mini", "hi"]
        with subprocess.Popen(
            [*command, *(["--stream"] if stream else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env_for(server.url),
        ) as process:
            # Wait until the request reached the server: the interrupt lands mid-call.
            while server.stats["requests"] == 0 and process.poll() is None:
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
    text = stderr.decode()
    assert process.returncode == 130, text
    assert "Traceback" not in text
    assert "KeyboardInterrupt" not in text


def test_streamed_chat_into_a_closed_pipe_has_no_traceback() -> None:
    prompt = " ".join(str(n) for n in range(20000))
    result = subprocess.run(
        f"{sys.executable} -m lmux_plug chat echo/echo-1 - --stream | head -c 5",
        shell=True,
        input=prompt,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout == "0 1 2"
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("chat",), "the following arguments are required: model"),
        (("models", "--bogus"), "unrecognized arguments: --bogus"),
        (("batch",), "usage: lmux-plug batch"),
        ((), "usage: lmux-plug"),
    ],
)
def test_bad_usage_exits_2_with_the_usage(args: tuple[str, ...], expected: str) -> None:
    result = run(*args)
    assert result.returncode == 2, result
    assert expected in result.stderr
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_shapes_are_the_documented_ones() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    documented = readme.split("`--json` prints:", 1)[1].split("\n## ", 1)[0]
    chat = json.loads(run("chat", "echo/echo-1", "hi", "--json").stdout)
    models = json.loads(run("models", "--json", "--provider", "echo").stdout)
    plugins = json.loads(run("plugins", "--json").stdout)
    provider = plugins["plugins"][0]["providers"][0]
    for keys in (
        chat,
        chat["usage"],
        models[0],
        plugins,
        plugins["plugins"][0],
        provider,
        provider["key"],
    ):
        for key in keys:
            assert f'"{key}"' in documented, key


def _option_helps(text: str) -> dict[str, str]:
    """Each option or argument of a ``--help`` text and its help, continuation lines joined."""
    helps: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith("  "):
            current = None  # a section title, the usage or the description
            continue
        if not line.startswith("   "):  # an option's own line: "  --name X   its help"
            current, _, rest = line.strip().partition("  ")
            helps[current] = rest.strip()
        elif current is not None:
            helps[current] = (helps[current] + " " + line.strip()).strip()
    helps.pop("-h, --help", None)  # argparse's own wording
    return helps


@pytest.mark.parametrize(
    "command", ["plugins", "models", "chat", "batch", "serve", "stats", "certify"]
)
def test_every_option_has_a_sentence_for_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    helps = _option_helps(result.stdout)
    assert helps, result.stdout
    for option, text in helps.items():
        assert text, f"{command} {option} has no help"
        assert text[0].isupper(), (command, option, text)
        assert text.endswith((".", ".)")), (command, option, text)


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "echo/echo-1", "--stream", "hello there"),
        ("chat", "echo/echo-1", "--system", "be brief", "hello there"),
        ("chat", "--stream", "echo/echo-1", "hello there"),
        ("chat", "echo/echo-1", "hello there", "--stream"),
    ],
)
def test_the_prompt_may_follow_the_options(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello there\n"


def test_stdin_prompt_after_an_option_and_an_empty_prompt() -> None:
    result = run("chat", "echo/echo-1", "--json", "-", stdin="from stdin")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["content"] == "from stdin"
    for args, stdin, why in (
        (("-",), "", "the prompt read from stdin is empty"),
        ((), "", "the prompt read from stdin is empty"),
        (("",), None, "the prompt is empty"),
    ):
        empty = run("chat", "echo/echo-1", *args, stdin=stdin)
        assert empty.returncode == 2  # not an empty answer with exit 0
        assert f"lmux-plug chat: {why}; give a prompt" in empty.stderr
    unknown = run("chat", "echo/echo-1", "--bogus")
    assert unknown.returncode == 2
    assert "unrecognized arguments: --bogus" in unknown.stderr


def test_messages_never_show_the_password_of_a_url(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('"hi"\n')
    for args in (
        ("stats", "--url", "http://bob:pw-url-secret-1@127.0.0.1:1", "--timeout", "1"),
        ("stats", "--url", "ftp://bob:pw-url-secret-1@127.0.0.1:1"),
        (
            "batch",
            str(data),
            "-o",
            str(tmp_path / "o.jsonl"),
            "-m",
            "echo/echo-1",
            "--state",
            "http://bob:pw-url-secret-1@127.0.0.1:1/0",
        ),
    ):
        result = run(*args)
        assert result.returncode in (1, 2), result
        assert "u-" in result.stderr  # the user info, as a fingerprint
        assert "pw-url-secret-1" not in result.stderr + result.stdout


def test_chat_calls_a_logical_model_of_the_config_with_its_preset(tmp_path: Path) -> None:
    # As `lmux-plug batch -m fast` does: the config is found from the working directory up.
    (tmp_path / "lmux.toml").write_text(
        '[models.fast]\ndeployments = ["echo/reverse"]\n[models.fast.params]\nmax_tokens = 50\n'
    )
    inside = tmp_path / "sub"
    inside.mkdir()

    def chat(*args: str) -> subprocess.CompletedProcess[str]:
        return run("chat", *args, cwd=inside)

    answered = chat("fast", "abc", "--json")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["content"] == "cba"
    misspelt = chat("fsat", "abc")
    assert misspelt.returncode == 2
    assert "did you mean 'fast'?" in misspelt.stderr
    (tmp_path / "broken.toml").write_text("[models.fast]\n")
    broken = chat("fast", "abc", "--config", str(tmp_path / "broken.toml"))
    assert broken.returncode == 2
    assert "broken.toml: $.models.fast.deployments: required key missing" in broken.stderr


def test_a_gateway_only_config_on_the_way_up_is_not_a_router_config(tmp_path: Path) -> None:
    (tmp_path / "lmux.toml").write_text("[gateway]\nport = 0\n")
    result = run("chat", "echo-1", "hi", cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean 'echo/echo-1'?" in result.stderr  # not "$.models: missing"
    (tmp_path / "in.jsonl").write_text('"hi"\n')
    batch = run("batch", "in.jsonl", "-o", "out.jsonl", "-m", "echo-1", cwd=tmp_path)
    assert batch.returncode == 2
    assert "did you mean 'echo/echo-1'?" in batch.stderr
    named = run("chat", "echo-1", "hi", "--config", "lmux.toml", cwd=tmp_path)
    assert "$.models: missing" in named.stderr  # a file named on purpose is a router config


def test_models_of_a_misspelt_provider_get_a_did_you_mean() -> None:
    result = run("models", "--provider", "ehco")
    assert result.returncode == 2
    assert "unknown provider 'ehco' (did you mean 'echo'?)" in result.stderr
