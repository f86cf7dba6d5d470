"""The pytest plugin, exercised the way an application's test suite uses it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
ASYNC = ("-o", "asyncio_default_fixture_loop_scope=function")


def test_lmux_mock_fixture_in_an_application_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import lmux_plug
        from lmux_plug import RateLimitError


        def summarize(text):
            # application code under test, using the module-level API
            return lmux_plug.chat("mock/summarizer", [{"role": "user", "content": text}]).content


        def test_summary(lmux_mock):
            lmux_mock.enqueue("short")
            assert summarize("a long text") == "short"
            assert lmux_mock.last_call.messages[0].content == "a long text"
            assert lmux_mock.last_call.model == "summarizer"


        def test_errors_are_scriptable(lmux_mock):
            lmux_mock.enqueue(RateLimitError("slow down", retry_after=1))
            try:
                summarize("x")
            except RateLimitError as exc:
                assert exc.retry_after == 1
            else:
                raise AssertionError("expected RateLimitError")


        async def test_async_handler(lmux_mock):
            async def handler(call):
                return call.messages[-1].content.upper()
            lmux_mock.handler = handler
            response = await lmux_plug.achat("mock/m", "shout")
            assert response.content == "SHOUT"


        def test_registry_is_isolated(lmux_registry):
            assert [p.name for p in lmux_registry.providers()] == ["echo"]
        """
    )
    result = pytester.runpytest(*ASYNC, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=4)


def test_fixtures_can_be_imported_explicitly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from lmux_plug.testing.pytest_plugin import lmux_mock, lmux_registry  # noqa: F401

        def test_it(lmux_mock):
            assert lmux_mock.spec.name == "mock"
        """
    )
    result = pytester.runpytest(*ASYNC, "-p", "no:lmux_plug")
    result.assert_outcomes(passed=1)


def test_a_failing_application_test_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import lmux_plug

        def test_wrong_expectation(lmux_mock):
            lmux_mock.enqueue("actual")
            assert lmux_plug.chat("mock/m", "x").content == "expected"
        """
    )
    result = pytester.runpytest(*ASYNC)
    result.assert_outcomes(failed=1)
