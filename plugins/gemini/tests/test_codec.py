"""The Gemini request encoder: thinking settings each model family accepts."""

from __future__ import annotations

import pytest
from lmux_plug_gemini._codec import encode_chat

from lmux_plug import ChatRequest
from lmux_plug import UserMessage


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.5-flash", "xhigh", {"thinkingBudget": 24576, "includeThoughts": True}),
        # 2.5 Pro cannot turn thinking off (budget 0 is refused): its lowest budget is 128.
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128, "includeThoughts": True}),
        ("gemini-2.5-pro", "xhigh", {"thinkingBudget": 32768, "includeThoughts": True}),
        ("gemini-2.5-pro", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-3-pro-preview", "xhigh", {"thinkingLevel": "high", "includeThoughts": True}),
        # 3 Pro takes only low and high: the level asked is rounded up to one it takes.
        ("gemini-3-pro-preview", "none", {"thinkingLevel": "low", "includeThoughts": True}),
        ("gemini-3-pro-preview", "minimal", {"thinkingLevel": "low", "includeThoughts": True}),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "high", "includeThoughts": True}),
        ("gemini-3.1-pro-preview", "none", {"thinkingLevel": "low", "includeThoughts": True}),
        ("gemini-3.1-pro-preview", "medium", {"thinkingLevel": "medium", "includeThoughts": True}),
        ("gemini-3-flash-preview", "none", {"thinkingLevel": "minimal", "includeThoughts": True}),
        ("gemini-3-flash-preview", "medium", {"thinkingLevel": "medium", "includeThoughts": True}),
    ],
)
def test_every_effort_level_stays_within_what_the_model_takes(model, effort, expected):
    request = ChatRequest(model=model, messages=[UserMessage("q")], reasoning_effort=effort)
    body = encode_chat(request)
    assert body["generationConfig"]["thinkingConfig"] == expected
