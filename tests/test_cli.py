"""The lmux-plug command line, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmux_plug", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
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


def test_chat_failures_give_a_readable_error() -> None:
    # An unknown provider or a name without one is a usage error, found before any call.
    result = run("chat", "nowhere/model", "hi")
    assert result.returncode == 2
    assert "unknown provider 'nowhere'" in result.stderr
    result = run("chat", "no-slash", "hi")
    assert result.returncode == 2
    assert "provider/model" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("chat").returncode == 2
    assert run("frobnicate").returncode == 2


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
