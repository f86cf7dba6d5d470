"""Contract clauses of the Responses, text-completion and transcription capabilities.

:class:`ApisContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`, so
every certified plugin runs these clauses too; each skips, saying so, when the provider does
not declare the capability. A provider on the ``openai`` wire is answered by the suite's
local server with canonical OpenAI exchanges; a provider that does no HTTP (a mock, an
lmux-style adapter) is called as it is; other wires skip the exchange clauses until the
suite knows their Responses / completion / transcription formats.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import CompletionChunk
from lmux_plug import CompletionResponse
from lmux_plug import LmuxError
from lmux_plug import PluginError
from lmux_plug import ResponseChunk
from lmux_plug import ResponseResponse
from lmux_plug import ToolCall
from lmux_plug import TranscriptionChunk
from lmux_plug import TranscriptionResponse
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage

from lmux_plug_contract._calls import failing_registry
from lmux_plug_contract._calls import undeclared_model
from lmux_plug_contract._clauses import clause
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession
    from lmux_plug_contract.wires import CapturedRequest

__all__ = ["ApisContract"]

TEXT = "The contract answer."
CALL_ID = "call_contract_1"
USAGE = {"input_tokens": 11, "output_tokens": 7}
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt contract-audio"
_APIS = {
    "responses": Capability.RESPONSES,
    "completions": Capability.COMPLETIONS,
    "transcription": Capability.TRANSCRIPTION,
}


def _sse(events: list[dict[str, Any]], *, done: bool = False) -> Reply:
    frames = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
    if done:
        frames.append(b"data: [DONE]\n\n")
    return Reply(headers={"content-type": "text/event-stream"}, chunks=frames, stream=True)


def _response_object() -> dict[str, Any]:
    return {
        "id": "resp_contract",
        "object": "response",
        "status": "completed",
        "model": "contract-model",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": CALL_ID,
                "name": "lookup",
                "arguments": "{}",
            },
        ],
        "usage": {**USAGE, "total_tokens": 18},
    }


def _openai_answer(request: CapturedRequest) -> Reply:
    """Canonical OpenAI answers for ``/responses``, ``/completions``, ``/audio/transcriptions``."""
    body = request.json() if request.path.endswith(("/responses", "/completions")) else None
    stream = isinstance(body, dict) and body.get("stream") is True
    if request.path.endswith("/responses"):
        final = _response_object()
        if not stream:
            return Reply.with_json(final)
        words = TEXT.split(" ")
        deltas = [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]
        return _sse(
            [
                {"type": "response.created", "response": {**final, "status": "in_progress"}},
                *({"type": "response.output_text.delta", "delta": d} for d in deltas),
                {"type": "response.completed", "response": final},
            ]
        )
    if request.path.endswith("/completions"):
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not stream:
            choice = {"text": TEXT, "index": 0, "finish_reason": "stop"}
            return Reply.with_json(
                {"id": "cmpl-1", "object": "text_completion", "choices": [choice], "usage": usage}
            )
        return _sse(
            [
                {"id": "c", "choices": [{"text": "The ", "index": 0, "finish_reason": None}]},
                {"id": "c", "choices": [{"text": TEXT[4:], "index": 0, "finish_reason": "stop"}]},
                {"id": "c", "choices": [], "usage": usage},
            ],
            done=True,
        )
    if b'name="stream"' in request.body:
        return _sse(
            [
                {"type": "transcript.text.delta", "delta": TEXT},
                {
                    "type": "transcript.text.done",
                    "text": TEXT,
                    "usage": {"type": "tokens", **USAGE},
                },
            ]
        )
    return Reply.with_json({"text": TEXT, "language": "english", "duration": 1.5})


class ApisContract:
    """Clauses for the ``responses``, ``completions`` and ``transcription`` capabilities."""

    @staticmethod
    def _serve(contract: ContractSession, model_capability: Capability) -> tuple[str, bool]:
        """A model declaring the capability, served canonically; whether answers are known."""
        model = contract.model(model_capability)
        if not contract.http:
            return model, False
        if contract.spec.wire != "openai":
            pytest.skip(
                f"no canonical {model_capability.value} exchange for wire {contract.spec.wire!r}"
            )
        contract.use_server(_openai_answer)
        return model, True

    @staticmethod
    def _check_usage(usage: object, where: str) -> None:
        assert isinstance(usage, Usage), f"{where}: usage is {type(usage).__name__}"
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"):
            value = getattr(usage, name)
            assert type(value) is int and value >= 0, f"{where}: usage.{name} = {value!r}"

    # ================================================================== capability checks

    @clause("apis.undeclared_before_io")
    @pytest.mark.parametrize("api", sorted(_APIS))
    def test_apis_undeclared_before_io(self, contract: ContractSession, api: str) -> None:
        """An undeclared Responses, completion or transcription call fails before any I/O."""
        capability = _APIS[api]
        model = undeclared_model(contract, capability, api)
        registry = failing_registry(contract)
        ref = contract.ref(model)
        call: Any = {
            "responses": lambda: registry.acreate_response(ref, "hi"),
            "completions": lambda: registry.acomplete(ref, "hi"),
            "transcription": lambda: registry.atranscribe(ref, AUDIO),
        }[api]
        with pytest.raises(UnsupportedFeatureError):
            contract.run(call())
        assert not contract.server.requests, "a request reached the server"

    # ================================================================== Responses

    @clause("apis.responses")
    def test_apis_responses(self, contract: ContractSession) -> None:
        """create_response gives a ResponseResponse: typed output, call_id tool calls, usage."""
        model, canonical = self._serve(contract, Capability.RESPONSES)
        try:
            response = contract.run(contract.registry.acreate_response(contract.ref(model), "hi"))
        except PluginError as exc:
            pytest.fail(f"the plugin let {type(exc.__cause__).__name__} escape: {exc}")
        assert isinstance(response, ResponseResponse), type(response).__name__
        assert response.provider == contract.provider
        assert isinstance(response.id, str)
        assert isinstance(response.output_text, str)
        self._check_usage(response.usage, "create_response")
        for item in response.output:
            assert isinstance(item, (AssistantMessage, ToolCall, Mapping)), type(item).__name__
        assert all(c.id for c in response.tool_calls), "every tool call has an id"
        if canonical:
            assert response.output_text == TEXT
            assert [c.id for c in response.tool_calls] == [CALL_ID], "ToolCall.id is the call_id"
            assert isinstance(response.output[0], Mapping), "a reasoning item is kept as it came"
            assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)

    @clause("apis.responses_stream")
    def test_apis_responses_stream(self, contract: ContractSession) -> None:
        """Responses stream events: deltas are output text, the last carries the response."""
        model, canonical = self._serve(contract, Capability.RESPONSES)
        chunks = contract.collect(
            contract.registry.acreate_response_stream(contract.ref(model), "hi")
        )
        assert chunks, "no events"
        assert all(isinstance(c, ResponseChunk) for c in chunks)
        assert all(c.type for c in chunks), "every event has a type"
        final = chunks[-1].response
        assert isinstance(final, ResponseResponse), "the last event carries the response"
        assert [c for c in chunks if c.response is not None] == [chunks[-1]]
        assert "".join(c.delta for c in chunks) == final.output_text
        if canonical:
            assert final.output_text == TEXT

    # ================================================================== completions

    @clause("apis.completions")
    def test_apis_completions(self, contract: ContractSession) -> None:
        """Text completions give a CompletionResponse; a stream has exactly one terminal chunk."""
        model, canonical = self._serve(contract, Capability.COMPLETIONS)
        response = contract.run(contract.registry.acomplete(contract.ref(model), "Say"))
        assert isinstance(response, CompletionResponse), type(response).__name__
        assert response.provider == contract.provider
        self._check_usage(response.usage, "complete")
        if Capability.STREAM not in contract.spec.capabilities_of(model):
            return
        chunks = contract.collect(contract.registry.acomplete_stream(contract.ref(model), "Say"))
        assert all(isinstance(c, CompletionChunk) for c in chunks)
        assert sum(c.finish_reason is not None for c in chunks) == 1, "one terminal chunk"
        if canonical:
            assert response.text == TEXT
            assert "".join(c.delta for c in chunks) == TEXT
            assert [c.usage for c in chunks if c.usage is not None][-1].output_tokens == 7

    # ================================================================== transcription

    @clause("apis.transcription")
    def test_apis_transcription(self, contract: ContractSession) -> None:
        """Transcribing bytes gives a TranscriptionResponse with text, duration and usage."""
        model, canonical = self._serve(contract, Capability.TRANSCRIPTION)
        try:
            response = contract.run(
                contract.registry.atranscribe(contract.ref(model), AUDIO, filename="a.wav")
            )
        except LmuxError as exc:
            if isinstance(exc, PluginError):
                pytest.fail(f"the plugin let {type(exc.__cause__).__name__} escape: {exc}")
            raise
        assert isinstance(response, TranscriptionResponse), type(response).__name__
        assert isinstance(response.text, str)
        assert response.duration is None or response.duration >= 0
        self._check_usage(response.usage, "transcribe")
        if canonical:
            assert response.text == TEXT
            assert response.duration == 1.5
            sent = contract.server.requests[-1]
            headers = {k.lower(): v for k, v in sent.headers.items()}
            assert headers.get("content-type", "").startswith("multipart/form-data")
            assert AUDIO in sent.body, "the audio bytes are uploaded unchanged"
        if Capability.STREAM in contract.spec.capabilities_of(model):
            chunks = contract.collect(
                contract.registry.atranscribe_stream(contract.ref(model), AUDIO)
            )
            assert all(isinstance(c, TranscriptionChunk) for c in chunks)
            assert isinstance(chunks[-1].response, TranscriptionResponse)
