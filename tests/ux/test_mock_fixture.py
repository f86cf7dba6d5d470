"""Issue 15 testing aids: ``lmux_mock`` cannot pass by accident; any prefix can be mocked.

Run as a user's test suite runs them, through ``pytester``.
"""

from __future__ import annotations

import pytest

# The user's own pytest settings: async tests run as such, pytest-asyncio warns of nothing.
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def test_running_dry_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
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
    pytester.makeini(INI)
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

        def test_misspelt_provider(lmux_mock):
            with pytest.raises(ConfigurationError, match="did you mean 'openai'"):
                lmux_mock.intercept("opena/*")
            lmux_mock.intercept("mycorp/*").enqueue("own")  # an application's own name
            assert lmux_plug.chat("mycorp/x", "hi").content == "own"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_intercept_covers_streams_embeddings_async_and_a_router(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import lmux_plug
        from lmux_plug.openai import AsyncOpenAI
        from lmux_plug.router import Deployment, LogicalModel, Router

        def test_stream_and_embed(lmux_mock):
            lmux_mock.intercept("openai/*").enqueue("a b c", [[0.5, 0.25]])
            chunks = list(lmux_plug.chat_stream("openai/gpt-4o-mini", "hi"))
            assert "".join(c.delta for c in chunks) == "a b c"
            vectors = lmux_plug.embed("openai/text-embedding-3-small", "x")
            assert [list(v) for v in vectors.embeddings] == [[0.5, 0.25]]
            assert [c.kind for c in lmux_mock.calls] == ["stream", "embed"]

        async def test_async(lmux_mock):
            lmux_mock.intercept("openai/*").enqueue("one", "two", "three")
            assert (await lmux_plug.achat("openai/gpt-4o", "hi")).content == "one"
            chunks = [c async for c in lmux_plug.achat_stream("openai/gpt-4o", "hi")]
            assert "".join(c.delta for c in chunks) == "two"
            reply = await AsyncOpenAI().chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}]
            )
            assert reply.choices[0].message.content == "three"

        def test_an_application_router(lmux_mock):
            # The application builds its router as in production: no registry passed.
            router = Router({"fast": LogicalModel("fast", [Deployment("openai/gpt-4o-mini")])})
            lmux_mock.intercept("openai/*").enqueue("routed", "streamed")
            assert router.chat("fast", "hi").content == "routed"
            assert "".join(c.delta for c in router.chat_stream("fast", "hi")) == "streamed"
            assert [c.model for c in lmux_mock.calls] == ["gpt-4o-mini", "gpt-4o-mini"]
        """
    )
    # No key anywhere: a call that escaped the mock would fail on its missing credentials.
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
