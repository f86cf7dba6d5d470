"""Issue 15 testing aids: ``lmux_mock`` cannot pass by accident; any prefix can be mocked.

Run as a user's test suite runs them, through ``pytester``.
"""

from __future__ import annotations

import pytest


def test_running_dry_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import lmux_plug
        from lmux_plug.testing import MockExhaustedError

        def test_scripted(lmux_mock):
            lmux_mock.enqueue("one")
            assert lmux_plug.chat("mock/m", "hi").content == "one"

        def test_dry_raises(lmux_mock):
            with pytest.raises(MockExhaustedError, match="ran dry: chat call #1 for mock/m"):
                lmux_plug.chat("mock/m", "hi")
            lmux_mock.reset()  # provoked on purpose

        def test_app_swallowing_the_error_still_fails(lmux_mock):
            try:
                lmux_plug.chat("mock/m", "hi")
            except lmux_plug.LmuxError:
                pass  # an application that falls back quietly

        def test_explicit_opt_out(lmux_mock):
            lmux_mock.default = "whatever"
            assert lmux_plug.chat("mock/m", "hi").content == "whatever"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    # The swallowing test passes its body, then fails at teardown (an error).
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*lmux_mock ran dry 1 time(s)*"])


def test_intercept_mocks_any_prefix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import lmux_plug
        from lmux_plug.errors import ConfigurationError
        from lmux_plug.openai import OpenAI

        def app_summary(text):  # application code, unchanged for tests
            return lmux_plug.chat("openai/gpt-4o-mini", f"Summarise: {text}").content

        def test_app_uses_real_model_names(lmux_mock):
            lmux_mock.intercept("openai/*", "anthropic").enqueue("short", "via sdk", "claude")
            assert app_summary("long text") == "short"
            assert lmux_mock.last_call.model == "gpt-4o-mini"
            reply = OpenAI().chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}]
            )
            assert reply.choices[0].message.content == "via sdk"
            assert lmux_plug.chat("anthropic/claude-x", "y").content == "claude"
            assert [c.model for c in lmux_mock.calls] == ["gpt-4o-mini", "gpt-4o", "claude-x"]

        def test_bad_pattern(lmux_mock):
            with pytest.raises(ConfigurationError, match="prefix/"):
                lmux_mock.intercept("openai/gpt-4o*")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
