"""The Responses and completions request bodies: their shared start and end (``_bodies``).

Both encoders refuse an empty model id and a body that is not JSON with a typed
``InvalidRequestError`` before any I/O, copy only the fields that are set, and merge the
caller's ``extra`` fields last, so they override what the encoder wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lmux_plug_openai._completions_codec import encode_completion
from lmux_plug_openai._responses_codec import encode_response

from lmux_plug import CompletionRequest
from lmux_plug import InvalidRequestError
from lmux_plug import ResponseRequest


def _completion(**fields: Any) -> dict[str, Any]:
    return encode_completion(CompletionRequest(prompt="hi", **fields), {})


def _response(**fields: Any) -> dict[str, Any]:
    return encode_response(ResponseRequest(input="hi", **fields))


ENCODERS = pytest.mark.parametrize(
    ("encode", "text_field"), [(_completion, "prompt"), (_response, "input")]
)


@ENCODERS
def test_an_empty_model_id_is_refused(
    encode: Callable[..., dict[str, Any]], text_field: str
) -> None:
    with pytest.raises(InvalidRequestError, match="model id must not be empty"):
        encode(model="")


@ENCODERS
def test_a_body_that_is_not_json_is_refused_naming_the_model(
    encode: Callable[..., dict[str, Any]], text_field: str
) -> None:
    with pytest.raises(InvalidRequestError, match="JSON-serialisable") as caught:
        encode(model="m", extra={"when": object()})
    assert caught.value.model == "m"
    with pytest.raises(InvalidRequestError, match="JSON-serialisable"):
        encode(model="m", temperature=float("nan"))


@ENCODERS
def test_set_fields_are_copied_and_extra_fields_override_them(
    encode: Callable[..., dict[str, Any]], text_field: str
) -> None:
    assert encode(model="m") == {"model": "m", text_field: "hi"}
    body = encode(model="m", temperature=0.5, extra={"temperature": 1, "seed_x": 2})
    assert body == {"model": "m", text_field: "hi", "temperature": 1, "seed_x": 2}
    assert list(body)[:2] == ["model", text_field]
