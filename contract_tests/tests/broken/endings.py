"""Broken variants of the in-repo OpenAI codec about endings: cut answers, bodies with NaN.

Each serves OpenAI itself with one defect of the kinds mutation testing of the OpenAI codec
left alive on a held-out draw (seed 89), and states the clause it must fail (``fails_on``):
``test_broken_plugins.py`` runs it beside the unbroken baseline (``ServedOpenAI`` of
``broken/openai_dialects.py``).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import attrs
from lmux_plug import ChatChunk
from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import ProviderContext
from lmux_plug import ProviderError
from lmux_plug.wire import WireResponse
from lmux_plug_openai._codec import ChatStreamDecoder
from lmux_plug_openai._codec import OpenAICodec

# Loaded before this file by the tests' conftest.
_DIALECTS = sys.modules["lmux_contract_examples_openai_dialects"]
ServedOpenAI: Any = _DIALECTS.ServedOpenAI


class _EndAtFinishDecoder(ChatStreamDecoder):
    def close(self) -> list[ChatChunk]:
        try:
            return super().close()
        except ProviderError:
            if not self._finish_seen:
                raise
            # A finish reason seen: the answer taken as whole, whatever was cut after it.
            return [self._terminal()]


class FinishedMeansWhole(ServedOpenAI):  # type: ignore[misc]
    """Takes a stream cut inside the event after its finish chunk as whole (no usage)."""

    fails_on = ("errors.cut_stream", "cut_stream")
    codec = _DIALECTS._streaming_with(_EndAtFinishDecoder)


class _TextBodyCodec(OpenAICodec):
    def decode_chat(
        self, response: WireResponse, request: ChatRequest, provider: ProviderContext
    ) -> ChatResponse:
        try:
            return super().decode_chat(response, request, provider)
        except ProviderError:
            # A body that is no JSON taken for a gateway's plain-text answer.
            text = response.body.decode("utf-8", "replace")
            return ChatResponse(content=text, model=request.model, provider=provider.name)


class NonJsonBodyAsText(ServedOpenAI):  # type: ignore[misc]
    """Gives a chat body that is cut short or no JSON as the answer's text."""

    fails_on = ("errors.cut_body", "cut_body and chat")
    codec = _TextBodyCodec()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


class NonFiniteAsNull(ServedOpenAI):  # type: ignore[misc]
    """Sends a NaN or an infinity of the request as ``null`` instead of refusing it."""

    fails_on = ("requests.non_finite", "non_finite")

    def ask(self, request: ChatRequest) -> ChatRequest:
        # "Sanitised" before encoding: the body goes out, the caller's value replaced.
        return attrs.evolve(request, extra=_finite(dict(request.extra)))
