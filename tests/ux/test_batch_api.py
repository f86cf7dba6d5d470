"""Issue 15 walk-through: the batch Python API refuses what is wrong for every item at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lmux_plug import InvalidParameterError
from lmux_plug import InvalidRequestError
from lmux_plug import Registry
from lmux_plug.batch import embed_batch
from lmux_plug.batch import generate_batch
from lmux_plug.router import Router

# Typed as Any: the wrong shapes a user's untyped code may pass.
_generate: Any = generate_batch
_embed: Any = embed_batch


@pytest.mark.parametrize(
    ("run", "error", "expected"),
    [
        (
            lambda r: _generate("echo/echo-1", ["a", "b"], client=r, temprature=0),
            InvalidParameterError,
            "temprature: unknown parameter (did you mean 'temperature'?)",
        ),
        (
            lambda r: _generate("echo/echo-1", ["a", "b"], client=r, temperature="hot"),
            InvalidParameterError,
            "temperature: expected a number, got 'hot'",
        ),
        (
            lambda r: _embed("echo/echo-1", ["a", "b"], client=r, dimensons=3),
            InvalidParameterError,
            "dimensons: unknown parameter (did you mean 'dimensions'?)",
        ),
        (
            lambda r: _generate(None, ["a"], client=r),
            InvalidRequestError,
            "model must be a 'provider/model' string, got None",
        ),
        (
            lambda r: _generate("echo/echo-1", "abc", client=r),
            InvalidRequestError,
            "inputs must be a list (or iterable) of inputs, got a string; for one, pass ['abc']",
        ),
        (
            lambda r: _embed("echo/echo-1", "abc", client=r),
            InvalidRequestError,
            "inputs must be a list (or iterable) of inputs, got a string",
        ),
    ],
)
def test_a_batch_wide_mistake_raises_before_any_call(
    run: Callable[[Registry], object], error: type[Exception], expected: str
) -> None:
    # Before: the typo and the bad value became one error per item (20,000 items, 20,000
    # identical errors), the string ran one call per character, None a TypeError per item.
    calls: list[str] = []
    with Registry() as registry:
        original = registry.achat

        async def counting(*args: Any, **kwargs: Any) -> Any:
            calls.append(args[0])
            return await original(*args, **kwargs)

        registry.achat = counting  # type: ignore[method-assign]
        with pytest.raises(error) as info:
            run(registry)
    assert expected in str(info.value)
    assert calls == []


def test_router_keywords_still_reach_a_router() -> None:
    # Only a Registry's keywords are known here: a router takes its own (retries, ...).
    with Registry() as registry:
        router = Router({"fast": ["echo/echo-1"]}, registry=registry)
        batch = generate_batch("fast", ["a", "b"], client=router, retries=1)
    assert batch.error_count == 0
    assert [r.output_text if r else None for r in batch.results] == ["a", "b"]
