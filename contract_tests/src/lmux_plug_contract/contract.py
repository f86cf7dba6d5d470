"""``ProviderContract``: the clauses, as one pytest class to subclass (or run via the CLI).

Each test method is one named clause (``@clause("types.usage")``), documented by its
docstring. Clauses run per provider and skip, saying so, when the provider does not
declare what they need ("not declared: capability 'embed'"). A plugin author certifies a
plugin with::

    from lmux_plug_contract import ProviderContract

    class TestAcme(ProviderContract):
        provider = "acme"
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import TypeVar

import pytest
from hypothesis import example
from hypothesis import given
from lmux_plug import AuthenticationError
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import NotFoundError
from lmux_plug import PluginError
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import TimeoutError
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import calculate_cost

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import Answer
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import check_tool_finish
from lmux_plug_contract._calls import fail_foreign as _fail_foreign
from lmux_plug_contract._calls import failing_registry
from lmux_plug_contract._calls import json_leaves as _values_of
from lmux_plug_contract._calls import json_texts as _texts_of
from lmux_plug_contract._calls import report_failures
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._calls import undeclared_model
from lmux_plug_contract._clauses import CLAUSES
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._frames import break_json
from lmux_plug_contract._frames import piece_frame
from lmux_plug_contract._frames import replace_json
from lmux_plug_contract._frames import split_inside_characters
from lmux_plug_contract._leaks import capture_everything
from lmux_plug_contract._leaks import texts_of_exception
from lmux_plug_contract._paths import CHAT
from lmux_plug_contract._paths import EMBED
from lmux_plug_contract._paths import PATH_NAMES
from lmux_plug_contract._paths import STREAM
from lmux_plug_contract._paths import CallPath
from lmux_plug_contract._paths import Kind
from lmux_plug_contract._paths import path_named
from lmux_plug_contract._paths import prompt
from lmux_plug_contract._session import ContractSession
from lmux_plug_contract._session import embed_usage
from lmux_plug_contract.answer_contract import AnswerContract
from lmux_plug_contract.apis_contract import ApisContract
from lmux_plug_contract.breadth_contract import BreadthContract
from lmux_plug_contract.budget_caps_contract import BudgetCapsContract
from lmux_plug_contract.budget_contract import BudgetContract
from lmux_plug_contract.chunk_contract import ChunkContract
from lmux_plug_contract.depth_contract import DepthContract
from lmux_plug_contract.detail_contract import DetailContract
from lmux_plug_contract.dialect_contract import DialectContract
from lmux_plug_contract.edge_contract import EdgeContract
from lmux_plug_contract.ending_contract import EndingContract
from lmux_plug_contract.family_contract import FamilyContract
from lmux_plug_contract.margins_contract import MarginsContract
from lmux_plug_contract.refusal_contract import RefusalContract
from lmux_plug_contract.server import WireServer
from lmux_plug_contract.shape_contract import ShapeContract
from lmux_plug_contract.strategies import error_responses
from lmux_plug_contract.strategies import split_points
from lmux_plug_contract.tools_contract import ToolsContract
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

__all__ = ["CLAUSES", "ERROR_EXPECTATIONS", "ProviderContract", "clause"]

F = TypeVar("F", bound=Callable[..., Any])

#: HTTP status -> (the LmuxError subclass it must map to, whether it is retryable).
ERROR_EXPECTATIONS: dict[int, tuple[type[LmuxError], bool]] = {
    400: (InvalidRequestError, False),
    401: (AuthenticationError, False),
    402: (InvalidRequestError, False),
    403: (AuthenticationError, False),
    404: (NotFoundError, False),
    408: (TimeoutError, True),
    409: (InvalidRequestError, True),
    413: (InvalidRequestError, False),
    422: (InvalidRequestError, False),
    429: (RateLimitError, True),
    500: (ProviderError, True),
    502: (ProviderError, True),
    503: (ProviderError, True),
    504: (ProviderError, True),
    529: (ProviderError, True),
}
#: Valid JSON of the wrong shape: as a whole body, and in place of a stream event.
ODD_JSON = ("{}", "[]", "null", '"text"', '{"error": null, "choices": [{}], "data": [{}]}')
#: Outcomes after which the key must not appear anywhere, crossed with every call path.
LEAK_OUTCOMES = ("success", "401", "429", "500", "timeout", "malformed", "stream_error")
LEAK_CASES = tuple(
    f"{path}-{outcome}"
    for path in PATH_NAMES
    for outcome in LEAK_OUTCOMES
    if outcome != "stream_error" or path == "stream"
)
_UNDECLARED_PROBES = (
    Capability.CHAT,
    Capability.STREAM,
    Capability.EMBED,
    Capability.TOOLS,
    Capability.JSON_OBJECT,
    Capability.JSON_SCHEMA,
    Capability.VISION,
    Capability.REASONING,
)


_prompt = prompt


def _traffic_clause(call: CallPath) -> str:
    """The cassette a path's canonical exchange is replayed from."""
    return {"chat": "types", "stream": "streaming", "embed": "embeddings"}.get(call.name, call.name)


def _plugin_origin(plugin: object) -> tuple[str | None, str]:
    """The source file a plugin object comes from, and what to take from it (a class)."""
    import sys  # noqa: PLC0415
    import types  # noqa: PLC0415

    if isinstance(plugin, types.ModuleType):
        return getattr(plugin, "__file__", None), ""
    module = sys.modules.get(type(plugin).__module__)
    return getattr(module, "__file__", None), type(plugin).__qualname__


def _check_usage(usage: object, where: str) -> None:
    assert isinstance(usage, Usage), f"{where}: usage is {type(usage).__name__}, not Usage"
    for name in (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
    ):
        value = getattr(usage, name)
        assert type(value) is int, f"{where}: usage.{name} is {type(value).__name__}, not int"
        assert value >= 0, f"{where}: usage.{name} = {value} < 0"


class ProviderContract(
    ApisContract,
    DepthContract,
    BreadthContract,
    ShapeContract,
    ToolsContract,
    DetailContract,
    FamilyContract,
    EdgeContract,
    MarginsContract,
    AnswerContract,
    DialectContract,
    EndingContract,
    BudgetCapsContract,
    ChunkContract,
    RefusalContract,
    BudgetContract,
):
    """The contract every lmux-plug provider plugin must meet; subclass it to certify one.

    The clauses of the Responses, completion and transcription capabilities come from
    :class:`~lmux_plug_contract.apis_contract.ApisContract`; those about values deep inside
    bodies (tool choices sent, odd fields received) from
    :class:`~lmux_plug_contract.depth_contract.DepthContract`; conversations, parameter
    edges, reasoning and several tool calls from
    :class:`~lmux_plug_contract.shape_contract.ShapeContract`; strict tools and tool calls
    cut off at the token cap from :class:`~lmux_plug_contract.tools_contract.ToolsContract`.

    Class attributes:

    ``provider``
        the provider name (model prefix) to certify, or a list of them. Without it the
        ``--lmux-certify NAME`` option names them.
    ``plugin``
        optional plugin object (module or instance) to register instead of loading the
        installed entry points.
    ``contract_fixtures``
        optional :class:`~lmux_plug_contract.ContractFixtures`; default: the plugin
        module's ``CONTRACT``, else the suite's defaults for the provider's wire.
    """

    provider: ClassVar[str | Sequence[str] | None] = None
    plugin: ClassVar[object | None] = None
    contract_fixtures: ClassVar[object | None] = None

    @pytest.fixture
    def contract(
        self,
        request: pytest.FixtureRequest,
        lmux_contract_provider: str,
        lmux_wire_server: WireServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> Iterator[ContractSession]:
        """A :class:`ContractSession` for the provider under test.

        The fixtures' ``environment`` settings are set for the clause where they are absent.
        """
        config = request.config
        session = ContractSession(
            lmux_contract_provider,
            plugin=type(self).plugin,
            declared_fixtures=type(self).contract_fixtures,
            server=lmux_wire_server,
            record_mode=config.getoption("lmux_record") or "none",
            cassette_dir=config.stash[_stash_key("cassette_dir")],
            examples=int(config.getoption("lmux_examples")),
            reset_cassettes=config.stash[_stash_key("reset")],
            seed=int(config.getoption("lmux_seed")),
            recordings=list(config.getoption("lmux_recordings") or ()),
        )
        for name, value in session.fixtures.environment.items():
            if not os.environ.get(name):
                monkeypatch.setenv(name, value)
        try:
            yield session
        finally:
            session.close()

    # ================================================================== types

    def _chat(self, contract: ContractSession) -> tuple[ChatResponse, bool, str]:
        model = contract.model(Capability.CHAT)
        with contract.traffic("types", "chat") as source:
            response = contract.run(
                contract.registry.achat(contract.ref(model), _prompt(), **contract.params())
            )
        return response, source.synthesised, model

    @clause("types.chat_response")
    def test_types_chat_response(self, contract: ContractSession) -> None:
        """Chat returns a ChatResponse: content or tool calls, finish_reason, provider, model."""
        response, synthesised, _ = self._chat(contract)
        assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
        assert response.content or response.tool_calls, "neither content nor tool calls"
        assert isinstance(response.finish_reason, FinishReason), (
            f"finish_reason {response.finish_reason!r} is not a FinishReason"
        )
        assert response.provider == contract.provider, (
            f"provider is {response.provider!r}, expected {contract.provider!r}"
        )
        assert isinstance(response.model, str), f"model is {type(response.model).__name__}"
        assert response.model, "model is not set"
        if synthesised:
            assert response.content == canon.TEXT, f"content {response.content!r} != {canon.TEXT!r}"
            assert response.finish_reason is FinishReason.STOP, (
                f"finish_reason {response.finish_reason!r}, expected STOP"
            )

    @clause("types.usage")
    def test_types_usage(self, contract: ContractSession) -> None:
        """Usage holds non-negative integers, equal to what the provider reported."""
        response, synthesised, _ = self._chat(contract)
        _check_usage(response.usage, "chat")
        if synthesised:
            assert response.usage == canon.USAGE, (
                f"usage {response.usage} != reported {canon.USAGE}"
            )

    @clause("types.usage_reported")
    @pytest.mark.parametrize("counts", ["zero", "large"])
    def test_types_usage_reported(self, contract: ContractSession, counts: str) -> None:
        """Usage equals the reported counts exactly, zero and large ones too (no defaults)."""
        wire = contract.require_wire()
        model = contract.model(Capability.CHAT)
        usage = Usage() if counts == "zero" else Usage(input_tokens=123_456, output_tokens=7_890)
        contract.use_server(lambda request: wire.chat(request, canon.TEXT, usage))
        response = contract.invoke(CHAT, model)
        assert response.usage == usage, f"usage {response.usage} != reported {usage}"

    @clause("requests.parameters")
    def test_requests_parameters(self, contract: ContractSession) -> None:
        """Sampling parameters that are set (max_tokens, temperature) reach the request body."""
        model = serve_canonical(contract, "chat", Capability.CHAT)
        # The two every chat API has; a plugin that drops one silently ignores its caller.
        # A model may refuse a temperature (reasoning models do); a token cap never.
        for sent in ({"max_tokens": 123}, {"max_tokens": 123, "temperature": 0.25}):
            try:
                contract.run(contract.registry.achat(contract.ref(model), _prompt(), **sent))
            except Exception as exc:  # noqa: BLE001
                _fail_foreign(exc, "sampling parameters")
                assert isinstance(exc, (InvalidRequestError, UnsupportedFeatureError)), (
                    f"sampling parameters raised {type(exc).__name__}: {exc}"
                )
                assert not contract.server.requests, "the request was refused after it was sent"
                assert "temperature" in sent, f"max_tokens=123 was refused: {exc}"
                pytest.skip(f"not declared: the provider refuses a temperature: {exc}")
            body = contract.server.requests[-1].json()
            values = list(_values_of(body))
            missing = [name for name, value in sent.items() if value not in values]
            assert not missing, f"parameters {missing} are not in the request body {body!r:.300}"

    @clause("types.cost")
    @pytest.mark.parametrize("path", PATH_NAMES)
    def test_types_cost(self, contract: ContractSession, path: str) -> None:
        """Cost is consistent with the declared pricing on every path, None without a price."""
        call = path_named(path)
        model = contract.model(call.capability)
        with contract.traffic(_traffic_clause(call), call.kind):
            result = contract.invoke(call, model)
        pricing = contract.registry.plugin_manager.hook.lmux_plug_pricing(
            provider=contract.spec, model=model
        )
        priced = [result] if not call.streamed else [c for c in result if c.usage or c.cost]
        if call.streamed:
            assert priced, "no streamed chunk carries usage or cost"
        for item in priced:
            if pricing is None:
                assert item.cost is None, f"{path}: cost {item.cost} without a declared price"
                continue
            if item.usage is None:
                pytest.fail(f"{path}: a chunk carries cost {item.cost} but no usage")
            expected = calculate_cost(item.usage, pricing)
            assert item.cost == expected, (
                f"{path}: cost {item.cost} != {expected} from the declared pricing"
            )

    @clause("types.long_values")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_long_values(self, contract: ContractSession, path: str) -> None:
        """A very long answer (~200 KB, past any read buffer or line limit) arrives whole."""
        wire = contract.require_wire()
        call = path_named(path)
        model = contract.model(call.capability)

        def scenario(request: CapturedRequest) -> Reply:
            if not call.streamed:
                return wire.chat(request, canon.LONG_TEXT, canon.USAGE)
            pieces = ("start ", canon.LONG_TEXT, " end")
            return wire.reply_stream(wire.stream(request, pieces, canon.USAGE))

        contract.use_server(scenario)
        result = contract.invoke(call, model)
        text = "".join(c.delta for c in result) if call.streamed else result.content
        expected = canon.LONG_TEXT if not call.streamed else f"start {canon.LONG_TEXT} end"
        assert text == expected, (
            f"{path}: a {len(expected.encode())}-byte answer came back as {len(text or '')} "
            f"characters ({(text or '')[:40]!r}...)"
        )

    # ================================================================== streaming

    def _stream(self, contract: ContractSession, kind: str = "stream") -> tuple[list[Any], bool]:
        if kind == "tools":
            model = contract.model(Capability.STREAM, Capability.TOOLS)
            # Forcing the call only where no wire carries the answer (Ollama cannot force it).
            forced = {} if contract.http else {"tool_choice": "required"}
            params = contract.params(tools=[canon.WEATHER_TOOL], **forced)
            prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        else:
            model = contract.model(Capability.STREAM)
            params, prompt = contract.params(), _prompt()
        with contract.traffic("streaming", kind) as source:  # type: ignore[arg-type]
            chunks = contract.collect(
                contract.registry.achat_stream(contract.ref(model), prompt, **params)
            )
        return chunks, source.synthesised

    @clause("streaming.chunks")
    def test_streaming_chunks(self, contract: ContractSession) -> None:
        """Every streamed item is a ChatChunk."""
        chunks, _ = self._stream(contract)
        assert chunks, "the stream yielded nothing"
        wrong = [type(c).__name__ for c in chunks if not isinstance(c, ChatChunk)]
        assert not wrong, f"items that are not ChatChunk: {wrong}"

    @clause("streaming.terminal_chunk")
    def test_streaming_terminal_chunk(self, contract: ContractSession) -> None:
        """Exactly one chunk carries a finish_reason, and nothing but usage follows it."""
        chunks, synthesised = self._stream(contract)
        terminal = [i for i, c in enumerate(chunks) if c.finish_reason is not None]
        assert len(terminal) == 1, (
            f"{len(terminal)} chunks carry a finish_reason (expected exactly 1)"
        )
        after = chunks[terminal[0] + 1 :]
        assert all(not c.delta and not c.tool_call_deltas for c in after), (
            "content after the terminal chunk"
        )
        assert isinstance(chunks[terminal[0]].finish_reason, FinishReason), (
            f"finish_reason {chunks[terminal[0]].finish_reason!r} is not a FinishReason"
        )
        if synthesised:
            assert chunks[terminal[0]].finish_reason is FinishReason.STOP, (
                f"finish_reason {chunks[terminal[0]].finish_reason!r}, expected STOP"
            )

    @clause("streaming.usage")
    def test_streaming_usage(self, contract: ContractSession) -> None:
        """Usage arrives on the terminal chunk (or one after it) where the provider reports it."""
        chunks, synthesised = self._stream(contract)
        with_usage = [i for i, c in enumerate(chunks) if c.usage is not None]
        reports = contract.wire.stream_usage if contract.wire is not None else True
        if not with_usage:
            assert not (synthesised and reports), (
                "the provider reported usage but no chunk carries it"
            )
            pytest.skip("not declared: the provider reports no usage in streams")
        terminal = next((i for i, c in enumerate(chunks) if c.finish_reason is not None), None)
        assert terminal is not None, "no terminal chunk"
        assert with_usage[-1] >= terminal, "usage only arrives before the terminal chunk"
        final = chunks[with_usage[-1]].usage
        _check_usage(final, "stream")
        if synthesised:
            assert final == canon.USAGE, f"stream usage {final} != reported {canon.USAGE}"

    @clause("streaming.text_matches_chat")
    def test_streaming_text_matches_chat(self, contract: ContractSession) -> None:
        """The concatenated deltas equal the text of the same exchange when not streamed."""
        contract.model(Capability.CHAT, Capability.STREAM)
        chunks, stream_synth = self._stream(contract)
        response, chat_synth, _ = self._chat(contract)
        if contract.http and not (stream_synth and chat_synth):
            pytest.skip("not declared: recorded from a live model, the two answers may differ")
        text = "".join(c.delta for c in chunks)
        assert text == (response.content or ""), f"streamed {text!r} != chat {response.content!r}"

    @clause("tools.calls")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_calls(self, contract: ContractSession, path: str) -> None:
        """Tool calls (streamed deltas or a whole answer) decode to named calls with JSON args."""
        if path == "stream":
            chunks, synthesised = self._stream(contract, "tools")
            said = Answer.of(chunks)
            # The index is the call's place in the answer: a client assembles calls by it.
            assert not said.indexes or said.indexes[0] == 0, (
                f"stream: the first tool call has index {said.indexes[0]}, not 0"
            )
        else:
            model = contract.model(Capability.CHAT, Capability.TOOLS)
            forced = {} if contract.http else {"tool_choice": "required"}
            params = contract.params(tools=[canon.WEATHER_TOOL], **forced)
            prompt_ = [{"role": "user", "content": canon.TOOL_PROMPT}]
            if contract.http:
                wire = contract.require_wire()
                try:
                    wire.tool_chat(
                        CapturedRequest("POST", "/", {}, {}, b"{}"), canon.TOOL_CALL, canon.USAGE
                    )
                except NotImplementedError:
                    pytest.skip(f"the wire {wire.name!r} renders no non-streamed tool call")
                contract.use_server(contract.canonical("tools_chat"))
            said = ask(contract, contract.ref(model), prompt_, params, path)
            synthesised = contract.http
        calls, finish = said.calls, said.finish(path)
        assert calls, f"{path}: the answer's tool call was not decoded (no tool calls)"
        for call in calls:
            assert call.name, f"{path}: tool call without a name: {call}"
            try:
                arguments = json.loads(call.arguments)
            except ValueError:
                pytest.fail(f"{path}: tool-call arguments are not JSON: {call.arguments!r}")
            assert isinstance(arguments, dict), (
                f"{path}: tool-call arguments are not an object: {arguments!r}"
            )
        if synthesised:
            names = [c.name for c in calls]
            assert names == [canon.TOOL_CALL.name], f"{path}: tool calls {names}"
            sent = contract.server.requests if contract.wire is not None else []
            rendered: Sequence[bytes] = ()
            if sent:
                answer = contract.canonical("tools" if path == "stream" else "tools_chat")
                rendered = answer(sent[-1]).chunks
            if canon.TOOL_CALL.id.encode() in b"".join(rendered):
                # The id is how the tool's result is matched to its call in the next turn.
                assert calls[0].id == canon.TOOL_CALL.id, (
                    f"{path}: tool call id {calls[0].id!r}, the answer says {canon.TOOL_CALL.id!r}"
                )
            got = json.loads(calls[0].arguments)
            assert got == canon.TOOL_ARGUMENTS, f"{path}: arguments {got} != {canon.TOOL_ARGUMENTS}"
            check_tool_finish(contract.wire, finish, path)

    @clause("streaming.early_close")
    @pytest.mark.parametrize("how", ["aclose", "cancel", "sync_close"])
    def test_streaming_early_close(self, contract: ContractSession, how: str) -> None:
        """Closing or cancelling a stream early releases its connection."""
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)

        def scenario(request: CapturedRequest) -> Reply:
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            frames = rendering.frames[: -rendering.terminal]
            return Reply(
                200, {"content-type": rendering.content_type}, frames, stream=True, after="hang"
            )

        contract.use_server(scenario)
        ref, registry = contract.ref(model), contract.registry
        if how == "sync_close":
            iterator = registry.chat_stream(ref, _prompt(), **contract.params())
            next(iterator)
            iterator.close()  # type: ignore[attr-defined]
        else:
            contract.run(
                _close_early(
                    registry.achat_stream(ref, _prompt(), **contract.params()),
                    cancel=how == "cancel",
                )
            )
        assert contract.server.wait_disconnects(1, 5.0), (
            f"the connection stayed open 5 s after the stream was closed early ({how})"
        )

    @clause("streaming.arbitrary_splits")
    def test_streaming_arbitrary_splits(self, contract: ContractSession) -> None:
        """Stream decoding gives the same chunks however the byte stream is split."""
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)
        ref = contract.ref(model)

        # The server thread cannot draw from Hypothesis, so render once here to learn the size.
        probe = CapturedRequest("POST", "/", {}, {}, json.dumps({"model": model}).encode())
        size = len(b"".join(wire.stream(probe, canon.TEXT_PIECES, canon.USAGE).frames))

        @contract.property_settings
        @given(cuts=split_points(size))
        def property_(cuts: tuple[int, ...]) -> None:
            def scenario(request: CapturedRequest) -> Reply:
                rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
                raw = b"".join(rendering.frames)
                inner = [c for c in cuts if c < len(raw)]
                pieces = [raw[a:b] for a, b in zip((0, *inner), (*inner, len(raw)), strict=True)]
                return Reply(
                    200, {"content-type": rendering.content_type}, pieces, stream=True, pause=0.002
                )

            contract.use_server(scenario)
            chunks = contract.collect(
                contract.registry.achat_stream(ref, _prompt(), **contract.params())
            )
            text = "".join(c.delta for c in chunks)
            assert text == canon.TEXT, f"split at {cuts}: text {text!r} != {canon.TEXT!r}"
            finishes = sum(c.finish_reason is not None for c in chunks)
            assert finishes == 1, f"split at {cuts}: {finishes} terminal chunks"
            if wire.stream_usage:
                usages = [c.usage for c in chunks if c.usage is not None][-1:]
                assert usages == [canon.USAGE], f"split at {cuts}: usage {usages}"

        property_()

    @clause("streaming.multibyte_splits")
    def test_streaming_multibyte_splits(self, contract: ContractSession) -> None:
        """A stream split inside any multi-byte UTF-8 character decodes to the same text."""
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)
        probe = CapturedRequest("POST", "/", {}, {}, json.dumps({"model": model}).encode())
        raw = b"".join(wire.stream(probe, canon.TEXT_PIECES, canon.USAGE).frames)
        offsets = split_inside_characters(raw)
        assert offsets, "the canonical stream holds no multi-byte character"
        failures: list[str] = []
        for offset in offsets:

            def scenario(request: CapturedRequest, cut: int = offset) -> Reply:
                rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
                whole = b"".join(rendering.frames)
                pieces = (whole[:cut], whole[cut:])
                return Reply(
                    200, {"content-type": rendering.content_type}, pieces, stream=True, pause=0.01
                )

            contract.use_server(scenario)
            try:
                chunks = contract.invoke(STREAM, model)
            except Exception as exc:  # noqa: BLE001 - any failure at this split is the finding
                failures.append(f"split at byte {offset}: {type(exc).__name__}: {exc}"[:200])
                continue
            text = "".join(c.delta for c in chunks)
            if text != canon.TEXT:
                failures.append(f"split at byte {offset}: text {text!r}")
        report_failures(failures, len(offsets), "splits inside a character broke the stream")

    # ================================================================== embeddings

    @clause("embeddings.vectors")
    def test_embeddings_vectors(self, contract: ContractSession) -> None:
        """One vector per input, in input order, of one dimension, with usage set."""
        model = contract.model(Capability.EMBED)
        with contract.traffic("embeddings", "embed") as source:
            response = contract.run(
                contract.registry.aembed(contract.ref(model), list(canon.EMBED_INPUTS))
            )
        assert isinstance(response, EmbeddingResponse), f"embed returned {type(response).__name__}"
        assert len(response.embeddings) == len(canon.EMBED_INPUTS), (
            f"{len(response.embeddings)} vectors for {len(canon.EMBED_INPUTS)} inputs"
        )
        dimensions = {len(v) for v in response.embeddings}
        assert len(dimensions) == 1 and 0 not in dimensions, (
            f"inconsistent dimensions {sorted(dimensions)}"
        )
        assert all(isinstance(x, float) for v in response.embeddings for x in v), (
            "vector items are not floats"
        )
        _check_usage(response.usage, "embed")
        assert response.provider == contract.provider, (
            f"provider is {response.provider!r}, expected {contract.provider!r}"
        )
        if source.synthesised:
            expected = tuple(canon.expected_vector(t, i) for i, t in enumerate(canon.EMBED_INPUTS))
            assert response.embeddings == expected, (
                "vectors are not in input order (or not the ones sent)"
            )
            if contract.wire is not None and contract.wire.embed_usage:
                usage = embed_usage(list(canon.EMBED_INPUTS))
                assert response.usage.input_tokens == usage.input_tokens, (
                    f"usage {response.usage} != reported {usage}"
                )

    @clause("embeddings.empty_inputs")
    @pytest.mark.parametrize("inputs", ["no_inputs", "empty_strings"])
    def test_embeddings_empty_inputs(self, contract: ContractSession, inputs: str) -> None:
        """No inputs: InvalidRequestError before I/O; empty strings: one vector each, in order."""
        model = contract.model(Capability.EMBED)
        texts: list[str] = [] if inputs == "no_inputs" else list(canon.EMBED_INPUTS_WITH_EMPTY)
        if contract.http:
            contract.require_wire()
            contract.use_server(contract.canonical("embed"))
        try:
            response = contract.run(contract.registry.aembed(contract.ref(model), texts))
        except Exception as exc:  # noqa: BLE001 - the clause is about what was raised
            _fail_foreign(exc, f"embedding {texts!r}")
            assert isinstance(exc, InvalidRequestError), (
                f"embedding {texts!r} raised {type(exc).__name__}, expected InvalidRequestError"
            )
            sent = len(contract.server.requests) if contract.http else 0
            assert not sent, f"embedding {texts!r}: the error came after {sent} request(s)"
            return
        assert inputs != "no_inputs", "embedding no inputs succeeded; expected InvalidRequestError"
        assert isinstance(response, EmbeddingResponse), f"embed returned {type(response).__name__}"
        assert len(response.embeddings) == len(texts), (
            f"{len(response.embeddings)} vectors for {len(texts)} inputs {texts!r}"
        )
        if contract.http:
            expected = tuple(canon.expected_vector(t, i) for i, t in enumerate(texts))
            assert response.embeddings == expected, (
                f"vectors {response.embeddings} are not the ones sent for {texts!r}, in order"
            )

    # ================================================================== errors

    def _error_of(
        self,
        contract: ContractSession,
        scenario: Callable[[CapturedRequest], Reply],
        *,
        stream: bool = False,
        timeout: float | None = None,
        path: CallPath | None = None,
    ) -> LmuxError:
        call = path or (STREAM if stream else CHAT)
        model = contract.model(call.capability)
        contract.use_server(scenario)
        try:
            contract.invoke(call, model, limit=10.0, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - the clause is about what was raised
            _fail_foreign(exc, f"error mapping ({call.name})")
            assert isinstance(exc, LmuxError), f"raised {type(exc).__name__}, not an LmuxError"
            assert exc.provider == contract.provider, (
                f"error provider is {exc.provider!r}, expected {contract.provider!r}"
            )
            return exc
        pytest.fail(f"the {call.name} call succeeded; it should have raised")

    @clause("errors.http_status")
    @pytest.mark.parametrize("status", sorted(ERROR_EXPECTATIONS))
    def test_errors_http_status(self, contract: ContractSession, status: int) -> None:
        """Each HTTP error status maps to its LmuxError class, status_code, provider, retryable."""
        wire = contract.require_wire()
        expected, retryable = ERROR_EXPECTATIONS[status]
        headers = {"retry-after": "7"} if status == 429 else {}
        error = self._error_of(
            contract, lambda _r: wire.error(status, f"contract-suite error {status}", headers)
        )
        assert isinstance(error, expected), (
            f"HTTP {status} gave {type(error).__name__}, expected {expected.__name__}"
        )
        assert error.status_code == status, f"status_code is {error.status_code}"
        assert error.retryable is retryable, f"retryable is {error.retryable}, expected {retryable}"

    @clause("errors.stream_http_status")
    @pytest.mark.parametrize("status", [401, 429, 503])
    def test_errors_stream_http_status(self, contract: ContractSession, status: int) -> None:
        """HTTP errors on a streamed call map like non-streamed ones."""
        wire = contract.require_wire()
        expected, retryable = ERROR_EXPECTATIONS[status]
        error = self._error_of(
            contract, lambda _r: wire.error(status, f"contract-suite error {status}"), stream=True
        )
        assert isinstance(error, expected), (
            f"HTTP {status} gave {type(error).__name__}, expected {expected.__name__}"
        )
        assert error.status_code == status, f"status_code is {error.status_code}, not {status}"
        assert error.retryable is retryable, f"retryable is {error.retryable}, not {retryable}"

    @clause("errors.retry_after")
    @pytest.mark.parametrize("form", ["seconds", "http_date", "on_503"])
    def test_errors_retry_after(self, contract: ContractSession, form: str) -> None:
        """Retry-After is parsed from seconds and from an HTTP-date into retry_after."""
        wire = contract.require_wire()
        status = 503 if form == "on_503" else 429
        if form == "http_date":
            value, low, high = email.utils.formatdate(time.time() + 30, usegmt=True), 27.0, 31.0
        else:
            value, low, high = "7", 7.0, 7.0
        error = self._error_of(
            contract, lambda _r: wire.error(status, "slow down", {"retry-after": value})
        )
        assert error.retry_after is not None, f"retry_after ignored (Retry-After: {value})"
        assert low <= error.retry_after <= high, (
            f"retry_after {error.retry_after} for Retry-After: {value}"
        )

    @clause("errors.timeout")
    @pytest.mark.parametrize("path", [*PATH_NAMES, "stream_stall"])
    def test_errors_timeout(self, contract: ContractSession, path: str) -> None:
        """A call that outlives its timeout raises lmux_plug.TimeoutError (retryable)."""
        wire = contract.require_wire()
        call = path_named("stream" if path == "stream_stall" else path)
        contract.model(call.capability)

        def scenario(request: CapturedRequest) -> Reply:
            if path != "stream_stall":
                return Reply(before="hang")
            # The answer starts, then stalls with the connection open: a read that never ends.
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            first = piece_frame(rendering.frames, canon.TEXT_PIECES[0])
            frames = rendering.frames[: first + 1]
            return Reply(
                200, {"content-type": rendering.content_type}, frames, stream=True, after="hang"
            )

        started = time.monotonic()
        error = self._error_of(contract, scenario, timeout=0.5, path=call)
        assert isinstance(error, TimeoutError), (
            f"{path}: got {type(error).__name__} ({error}), expected TimeoutError"
        )
        assert error.retryable is True, f"{path}: the timeout error is not retryable"
        elapsed = time.monotonic() - started
        assert elapsed < 8, f"{path}: timeout=0.5 was not honoured ({elapsed:.1f} s)"

    @clause("errors.connection_reset")
    @pytest.mark.parametrize("when", ["before_answer", "mid_stream"])
    def test_errors_connection_reset(self, contract: ContractSession, when: str) -> None:
        """A connection reset raises ProviderError (retryable), never a transport exception."""
        wire = contract.require_wire()
        if when == "before_answer":
            error = self._error_of(contract, lambda _r: Reply(before="reset"))
        else:

            def scenario(request: CapturedRequest) -> Reply:
                rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
                return Reply(
                    200,
                    {"content-type": rendering.content_type},
                    rendering.frames[:2],
                    stream=True,
                    after="reset",
                )

            error = self._error_of(contract, scenario, stream=True)
        assert isinstance(error, ProviderError), (
            f"got {type(error).__name__}, expected ProviderError"
        )
        assert error.retryable is True, f"{type(error).__name__} is not retryable"

    @clause("errors.malformed_json")
    @pytest.mark.parametrize("where", ["body", "stream", "embed"])
    def test_errors_malformed_json(self, contract: ContractSession, where: str) -> None:
        """Malformed JSON in a body or a stream event raises ProviderError, never a json error."""
        wire = contract.require_wire()
        half = Reply(200, {"content-type": "application/json"}, (b'{"id": "x", "data": [',))
        if where == "stream":

            def scenario(request: CapturedRequest) -> Reply:
                rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
                frames = list(rendering.frames)
                index = piece_frame(frames, canon.TEXT_PIECES[0])
                frames[index] = break_json(frames[index])  # the JSON stops halfway
                return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

            error = self._error_of(contract, scenario, stream=True)
        else:
            call = path_named("embed" if where == "embed" else "chat")
            error = self._error_of(contract, lambda _r: half, path=call)
        assert isinstance(error, ProviderError), (
            f"{where}: got {type(error).__name__}, expected ProviderError"
        )

    @clause("errors.unexpected_json")
    @pytest.mark.parametrize("path", PATH_NAMES)
    @pytest.mark.parametrize("body", ODD_JSON)
    def test_errors_unexpected_json(self, contract: ContractSession, path: str, body: str) -> None:
        """Valid JSON of a wrong shape (body or stream event) gives an LmuxError, never KeyError."""
        wire = contract.require_wire()
        call = path_named(path)
        model = contract.model(call.capability)

        def scenario(request: CapturedRequest) -> Reply:
            if not call.streamed:
                return Reply(200, {"content-type": "application/json"}, (body.encode(),))
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            frames = list(rendering.frames)
            index = piece_frame(frames, canon.TEXT_PIECES[0])
            frames[index] = replace_json(frames[index], body.encode())
            return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

        contract.use_server(scenario)
        try:
            result = contract.invoke(call, model)
        except Exception as exc:  # noqa: BLE001
            _fail_foreign(exc, f"{path}: JSON {body}")
        else:
            expected = {"chat": ChatResponse, "embed": EmbeddingResponse}.get(path, list)
            assert isinstance(result, expected), (
                f"{path}: JSON {body} gave {type(result).__name__}, expected {expected.__name__}"
            )

    @clause("errors.truncated_stream")
    @pytest.mark.parametrize("how", ["cut_mid_frame", "clean_eof_without_end"])
    def test_errors_truncated_stream(self, contract: ContractSession, how: str) -> None:
        """A stream cut short raises ProviderError rather than ending as if complete."""
        wire = contract.require_wire()

        def scenario(request: CapturedRequest) -> Reply:
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            if how == "clean_eof_without_end":
                return wire.reply_stream(rendering, drop_terminal=True)
            index = piece_frame(rendering.frames, canon.TEXT_PIECES[1])
            frame = rendering.frames[index]
            frames = (*rendering.frames[:index], frame[: len(frame) // 2])
            return Reply(
                200, {"content-type": rendering.content_type}, frames, stream=True, after="cut"
            )

        error = self._error_of(contract, scenario, stream=True)
        assert isinstance(error, ProviderError), (
            f"{how}: got {type(error).__name__}, expected ProviderError"
        )

    @clause("errors.stream_error_event")
    @pytest.mark.parametrize("status", [429, 529])
    def test_errors_stream_error_event(self, contract: ContractSession, status: int) -> None:
        """An error event mid-stream raises the provider's error class and message.

        The stream goes on after the event and ends properly, as real APIs do, so a plugin
        that skips the event cannot pass by reporting a truncated stream instead.
        """
        wire = contract.require_wire()
        try:
            event = wire.stream_error_for(status, canon.STREAM_ERROR_MESSAGE)
            expected: type[LmuxError] = ERROR_EXPECTATIONS.get(status, (ProviderError, True))[0]
        except NotImplementedError:
            event, expected = wire.stream_error(canon.STREAM_ERROR_MESSAGE), ProviderError

        def scenario(request: CapturedRequest) -> Reply:
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            index = piece_frame(rendering.frames, canon.TEXT_PIECES[0]) + 1
            frames = (*rendering.frames[:index], event, *rendering.frames[index:])
            return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

        error = self._error_of(contract, scenario, stream=True)
        assert isinstance(error, expected), (
            f"an error event for HTTP {status} raised {type(error).__name__} ({error}), "
            f"expected {expected.__name__}"
        )
        assert canon.STREAM_ERROR_MESSAGE in str(error), (
            f"the provider's message {canon.STREAM_ERROR_MESSAGE!r} is lost: {error}"
        )
        if _states_status(event, status):
            # The event says which status it stands for: the error must say it too.
            assert error.status_code == status, (
                f"an error event stating status {status} raised an error with status_code "
                f"{error.status_code}"
            )

    @clause("errors.arbitrary_responses")
    def test_errors_arbitrary_responses(self, contract: ContractSession) -> None:
        """Any error status with any body maps to an LmuxError carrying that status."""
        wire = contract.require_wire()

        @contract.property_settings
        @given(case=error_responses(wire))
        # Always tried: xAI's answer to a bad key, a 400 that must not fail the clause.
        @example(case=wire.error(400, "Incorrect API key provided: xai-****"))
        def property_(case: Reply) -> None:
            error = self._error_of(contract, lambda _r: case)
            assert error.status_code == case.status, (
                f"status_code {error.status_code} != {case.status}"
            )
            if case.status in (401, 403):
                assert isinstance(error, AuthenticationError), (
                    f"{case.status} gave {type(error).__name__}"
                )
            elif case.status == 429:
                assert isinstance(error, (RateLimitError, ProviderError)), (
                    f"{case.status} gave {type(error).__name__}"
                )
            elif case.status == 404:
                assert isinstance(error, NotFoundError), (
                    f"{case.status} gave {type(error).__name__}"
                )
            elif case.status >= 500:
                assert isinstance(error, ProviderError), (
                    f"{case.status} gave {type(error).__name__}"
                )
            elif case.status != 408:
                # Some providers (xAI) answer a bad key with 400 "Incorrect API key": a
                # 400 whose body speaks of the key may be an AuthenticationError.
                speaks_of_key = case.status == 400 and _speaks_of_key(case)
                accepted = (InvalidRequestError, AuthenticationError)[: 2 if speaks_of_key else 1]
                assert isinstance(error, accepted), f"{case.status} gave {type(error).__name__}"

        property_()

    # ================================================================== auth

    @clause("auth.missing_key")
    def test_auth_missing_key(
        self, contract: ContractSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A missing key gives AuthenticationError naming the env vars, before any I/O."""
        auth = contract.spec.auth
        if not auth.env or auth.optional:
            pytest.skip("not declared: the provider needs no key")
        for name in auth.env:
            monkeypatch.delenv(name, raising=False)
        model = contract.model(Capability.CHAT)
        registry = contract.new_registry()
        contract.use_server(
            contract.canonical("chat") if contract.http and contract.wire else (lambda _r: Reply()),
            registry,
        )
        try:
            contract.run(registry.achat(contract.ref(model), _prompt(), **contract.params()))
        except Exception as exc:  # noqa: BLE001
            _fail_foreign(exc, "missing key")
            assert isinstance(exc, AuthenticationError), (
                f"got {type(exc).__name__}, expected AuthenticationError"
            )
            missing = [name for name in auth.env if name not in str(exc)]
            assert not missing, f"the error does not name {missing}: {exc}"
        else:
            pytest.fail("a call without a key succeeded")
        assert not contract.server.requests, "a request was sent without a key"

    @clause("auth.key_not_leaked")
    @pytest.mark.parametrize("case", LEAK_CASES)
    def test_auth_key_not_leaked(self, contract: ContractSession, case: str) -> None:
        """The key never appears in a repr, exception, log record or output, whatever happened.

        Outcomes: success, 401/429/500 echoing the key, timeout, malformed body, stream error.
        """
        contract.require_wire()
        if contract.key_in_use is None:
            pytest.skip("not declared: the provider sends no key")
        path, outcome = case.split("-", 1)
        call = path_named(path)
        model = contract.model(call.capability)
        key = contract.key_in_use
        echoed = f"Incorrect API key provided: {key}. You can find your API key in your account."
        contract.use_server(_leak_scenario(contract, call, outcome, echoed))
        seen: list[tuple[str, str]] = []
        with capture_everything() as captured:
            try:
                result = contract.invoke(call, model, timeout=0.5 if outcome == "timeout" else None)
            except Exception as exc:  # noqa: BLE001 - every exception is searched
                seen += [("exception", text) for text in texts_of_exception(exc)]
                if outcome == "success":
                    pytest.fail(f"{case}: the canonical call raised {type(exc).__name__}: {exc}")
            else:
                seen += [("result", repr(result)), ("result", str(result))]
                if outcome != "success":
                    pytest.fail(f"{case}: the call succeeded; it should have raised")
        seen += [("registry", repr(contract.registry)), ("spec", repr(contract.spec))]
        seen += list(captured.texts())
        sent = contract.server.requests
        # Under load a 0.5 s timeout may expire before the server has read the request.
        assert sent or outcome == "timeout", f"{case}: no request reached the server"
        if sent:
            where = " ".join([*sent[-1].headers.values(), *sent[-1].query.values()])
            assert key in where, "the key was not sent where ProviderSpec.auth declares it"
        leaks = sorted({f"{where}: {text[:100]}" for where, text in seen if key in text})
        assert not leaks, f"{case}: the key leaked into {len(leaks)} place(s): {leaks[:3]}"

    @clause("auth.cassettes_clean")
    def test_auth_cassettes_clean(self, contract: ContractSession) -> None:
        """No recorded cassette holds the key in use or anything that looks like a real secret."""
        from lmux_plug_contract.cassettes import find_secrets  # noqa: PLC0415

        folder = contract.cassette_dir / contract.provider
        files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
        if not files:
            pytest.skip(f"not declared: no cassettes in {folder}")
        problems = []
        for path in files:
            text = path.read_text(encoding="utf-8")
            if canon.SENTINEL_KEY in text:
                problems.append(f"{path.name}: the test key")
            problems += [f"{path.name}:{line}: {match}" for line, match in find_secrets(text)]
        assert not problems, f"secrets in cassettes: {problems}"

    # ================================================================== capabilities

    @clause("capabilities.undeclared_before_io")
    @pytest.mark.parametrize("capability", [c.value for c in _UNDECLARED_PROBES])
    def test_capabilities_undeclared_before_io(
        self, contract: ContractSession, capability: str
    ) -> None:
        """A call needing an undeclared capability raises UnsupportedFeatureError before any I/O."""
        from lmux_plug_contract.cassettes import network_guard  # noqa: PLC0415

        cap = Capability(capability)
        model = undeclared_model(contract, cap, capability)
        with network_guard(allow_loopback=True) as guard:
            registry = failing_registry(contract)
            try:
                contract.run(_undeclared_call(registry, contract.ref(model), cap))
            except Exception as exc:  # noqa: BLE001
                _fail_foreign(exc, f"undeclared {capability}")
                assert isinstance(exc, UnsupportedFeatureError), f"got {type(exc).__name__}: {exc}"
            else:
                pytest.fail(f"a call needing undeclared {capability!r} succeeded")
        assert not contract.server.requests, (
            f"{len(contract.server.requests)} request(s) reached the server"
        )
        assert not guard.attempts, (
            f"network I/O before the capability check: connect to {guard.attempts}"
        )

    # ================================================================== recorded

    @clause("recorded.replay")
    @pytest.mark.parametrize("kind", ["chat", "stream", "embed", "error"])
    def test_recorded_replay(self, contract: ContractSession, kind: str) -> None:
        """Answers recorded from the real API decode to typed values or the right error class."""
        from lmux_plug_contract._recorded import exchange_endpoint  # noqa: PLC0415
        from lmux_plug_contract._recorded import kind_of  # noqa: PLC0415
        from lmux_plug_contract._recorded import label  # noqa: PLC0415
        from lmux_plug_contract._recorded import load_exchanges  # noqa: PLC0415

        contract.require_wire()
        if not contract.recordings:
            pytest.skip(
                "not declared: no recorded traffic (ContractFixtures(recordings=...) "
                "or --lmux-recordings)"
            )
        endpoints = contract.endpoints()
        exchanges = [
            e
            for e in load_exchanges(contract.recordings)
            if kind_of(e) == kind and exchange_endpoint(e) in endpoints.values()
        ]
        if not exchanges:
            pytest.skip(
                f"not declared: no recorded {kind} exchange for the provider's endpoints "
                f"({', '.join(sorted(set(endpoints.values())))})"
            )
        failures = []
        for exchange in exchanges:
            problem = _replay_recorded(contract, exchange, kind, endpoints)
            if problem:
                failures.append(f"{label(exchange)}: {problem}")
        report_failures(failures, len(exchanges), f"recorded {kind} answers")

    # ================================================================== loading

    @clause("loading.no_io_at_load")
    def test_loading_no_io_at_load(self, contract: ContractSession) -> None:
        """Loading the plugin in a fresh process (import and declaration) opens no connection."""
        from lmux_plug_contract._load_probe import probe  # noqa: PLC0415

        plugin = type(self).plugin
        if plugin is None:
            reports = probe()
        else:
            file, attribute = _plugin_origin(plugin)
            if file is None:
                pytest.skip("not declared: the plugin object has no importable source file")
            reports = probe(file, attribute)
        mine = [r for r in reports if contract.provider in r["providers"]]
        if plugin is not None and not mine:
            mine = reports  # re-created from its file: everything it did is its own
        assert mine, f"a fresh process does not declare {contract.provider!r}: " + "; ".join(
            f"{r['plugin']}: {r['error']}" for r in reports if r["error"]
        )
        for report in mine:
            attempts = sorted(set(report["attempts"]))
            assert not attempts, (
                f"loading {report['plugin']} opened the network (import or declaration): "
                f"{', '.join(attempts)}"
            )

    # ================================================================== registry

    @clause("registry.prefix_routing")
    def test_registry_prefix_routing(self, contract: ContractSession) -> None:
        """Every provider the plugin declares routes by its prefix to this plugin."""
        registry = contract.registry
        declared = [
            s
            for s in registry.providers()
            if registry.resolve(f"{s.name}/m")[0].owner is contract.owner
        ]
        assert contract.provider in [s.name for s in declared], (
            f"{contract.provider!r} does not route to the plugin that declares it"
        )
        for spec in declared:
            route, model_id = registry.resolve(f"{spec.name}/some-model")
            assert route.spec.name == spec.name, f"{spec.name}/ routed to {route.spec.name}"
            assert model_id == "some-model", f"{spec.name}/some-model resolved to {model_id!r}"
        with pytest.raises(NotFoundError):
            registry.resolve(f"{contract.provider}-no-such-prefix/some-model")

    @clause("registry.model_ids_verbatim")
    @pytest.mark.parametrize("path", PATH_NAMES)
    def test_registry_model_ids_verbatim(self, contract: ContractSession, path: str) -> None:
        """Model ids with '/', capitals and dots reach the provider (and the answer) unchanged."""
        model_id = canon.MIXED_CASE_MODEL
        call = path_named(path)
        route, resolved = contract.registry.resolve(contract.ref(model_id))
        assert route.spec.name == contract.provider, (
            f"{model_id!r} routed to provider {route.spec.name!r}"
        )
        assert resolved == model_id, f"the registry resolved {model_id!r} to {resolved!r}"
        if call.capability not in contract.spec.capabilities_of(model_id):
            pytest.skip(f"not declared: undeclared model ids cannot {call.capability.value}")
        if contract.http:
            contract.require_wire()
            contract.use_server(contract.canonical(call.kind))
        try:
            result = contract.invoke(call, model_id)
        except InvalidRequestError as exc:
            # A plugin may refuse a model it cannot encode (a per-family body), before I/O;
            # naming the id unchanged shows it saw it verbatim.
            reached = len(contract.server.requests) if contract.http else 0
            if reached or model_id not in str(exc):
                raise
            pytest.skip(f"not declared: the plugin refuses this model id for {path}: {exc}")
        if contract.http:
            sent = contract.server.requests[-1]
            body = sent.json()
            in_body = isinstance(body, dict) and model_id in [str(v) for v in _texts_of(body)]
            from urllib.parse import unquote  # noqa: PLC0415

            assert in_body or model_id in unquote(sent.path), (
                f"{path}: model id {model_id!r} not sent unchanged "
                f"(path {unquote(sent.path)!r}, body {sent.body[:200]!r})"
            )
        reported = [c.model for c in result if c.model] if call.streamed else [result.model]
        # A wire may report its own model name; a changed spelling of ours is a defect.
        altered = {model_id.lower(), model_id.upper(), model_id.rsplit("/", 1)[-1]}
        wrong = sorted({m for m in reported if m != model_id and m in altered})
        assert not wrong, f"{path}: the answer reports model {wrong}, not {model_id!r}"

    # ================================================================== parity

    @staticmethod
    def _check_parity(contract: ContractSession, path: str) -> None:
        """Fail unless the sync and the async call of ``path`` give equal results.

        Both make the same exchange (the path's traffic); an async stream is drained.
        """
        registry, params, inputs = contract.registry, contract.params(), list(canon.EMBED_INPUTS)
        calls: dict[str, tuple[Capability, tuple[str, Kind], Callable[[str], Any], Any]] = {
            "chat": (
                Capability.CHAT,
                ("types", "chat"),
                lambda ref: registry.chat(ref, _prompt(), **params),
                lambda ref: registry.achat(ref, _prompt(), **params),
            ),
            "stream": (
                Capability.STREAM,
                ("streaming", "stream"),
                lambda ref: list(registry.chat_stream(ref, _prompt(), **params)),
                lambda ref: registry.achat_stream(ref, _prompt(), **params),
            ),
            "embed": (
                Capability.EMBED,
                ("embeddings", "embed"),
                lambda ref: registry.embed(ref, inputs),
                lambda ref: registry.aembed(ref, inputs),
            ),
        }
        capability, traffic, sync, asynchronous = calls[path]
        ref = contract.ref(contract.model(capability))
        with contract.traffic(*traffic):
            first = sync(ref)
            result = asynchronous(ref)
            second = (
                contract.collect(result) if hasattr(result, "__anext__") else contract.run(result)
            )
        assert first == second, f"{path}: sync {first!r:.400} != async {second!r:.400}"

    @clause("parity.chat")
    def test_parity_chat(self, contract: ContractSession) -> None:
        """Sync chat and async achat give equal results for the same exchange."""
        self._check_parity(contract, "chat")

    @clause("parity.stream")
    def test_parity_stream(self, contract: ContractSession) -> None:
        """Sync chat_stream and async achat_stream yield equal chunks for the same exchange."""
        self._check_parity(contract, "stream")

    @clause("parity.embed")
    def test_parity_embed(self, contract: ContractSession) -> None:
        """Sync embed and async aembed give equal vectors for the same exchange."""
        self._check_parity(contract, "embed")

    # ================================================================== requests

    @clause("requests.arbitrary_messages")
    def test_requests_arbitrary_messages(self, contract: ContractSession) -> None:
        """Any message list gives a valid JSON request body, or InvalidRequestError before I/O."""
        from lmux_plug.testing.strategies import messages  # noqa: PLC0415

        model = contract.model(Capability.CHAT)
        if contract.http:
            contract.require_wire()

        @contract.property_settings
        @given(conversation=messages(max_size=5))
        def property_(conversation: list[Any]) -> None:
            if contract.http:
                contract.use_server(contract.canonical("chat"))
            try:
                response = contract.run(
                    contract.registry.achat(contract.ref(model), conversation, **contract.params())
                )
            except Exception as exc:  # noqa: BLE001
                _fail_foreign(exc, "encoding arbitrary messages")
                assert isinstance(exc, (InvalidRequestError, UnsupportedFeatureError)), (
                    f"{type(exc).__name__} for a message list: {exc}"
                )
                if contract.http:
                    assert not contract.server.requests, "an invalid request was sent"
                return
            assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
            if contract.http:
                sent = len(contract.server.requests)
                assert sent == 1, f"{sent} requests for one call"
                assert contract.server.requests[0].json() is not None, (
                    "the request body is not JSON"
                )

        property_()

    @clause("requests.texts_round_trip")
    def test_requests_texts_round_trip(self, contract: ContractSession) -> None:
        """Every text of an encoded request decodes back out of the body the provider receives."""
        from lmux_plug.testing.strategies import messages  # noqa: PLC0415

        model = contract.model(Capability.CHAT)
        contract.require_wire()

        @contract.property_settings
        @given(conversation=messages(max_size=5))
        def property_(conversation: list[Any]) -> None:
            contract.use_server(contract.canonical("chat"))
            try:
                contract.run(
                    contract.registry.achat(contract.ref(model), conversation, **contract.params())
                )
            except (InvalidRequestError, UnsupportedFeatureError):
                return
            body = contract.server.requests[0].json()
            sent = list(_texts_of(body))
            for text in _message_texts(conversation):
                assert any(text in s for s in sent), (
                    f"text {text!r} is missing from the request body"
                )

        property_()


def _message_texts(conversation: Sequence[Any]) -> Iterator[str]:
    for message in conversation:
        content = getattr(message, "content", None)
        parts = (
            [content]
            if isinstance(content, str)
            else [getattr(p, "text", "") for p in content or ()]
        )
        for part in parts:
            if isinstance(part, str) and part.strip():
                yield part.strip()


def _speaks_of_key(reply: Reply) -> bool:
    """Whether an error body mentions an API key (a bad key some providers answer with 400)."""
    text = b"".join(reply.chunks).decode("utf-8", "replace").lower()
    return any(phrase in text for phrase in ("api key", "api_key", "apikey"))


def _states_status(event: bytes, status: int) -> bool:
    """Whether a stream error ``event``'s JSON holds ``status`` as a number.

    A ``status``, ``status_code`` or numeric ``code`` field, as OpenRouter's and Gemini's
    error objects have.
    """
    start, end = event.find(b"{"), event.rfind(b"}")
    try:
        document = json.loads(event[start : end + 1]) if 0 <= start < end else None
    except ValueError:
        return False
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("code", "status", "status_code") and item == status:
                    return True
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _leak_scenario(
    contract: ContractSession, call: CallPath, outcome: str, echoed: str
) -> Callable[[CapturedRequest], Reply]:
    """The answer for one key-leak outcome.

    HTTP error bodies echo the key, as real APIs do on a 401; a malformed body and a stream
    error do not (the core's own excerpts of such bodies are not the plugin's leak): there
    the clause catches a plugin that puts the key it sent into its errors or logs.
    """
    wire = contract.require_wire()
    if outcome == "success":
        return contract.canonical(call.kind)
    if outcome.isdigit():
        headers = {"retry-after": "1"} if outcome == "429" else {}
        return lambda _r: wire.error(int(outcome), echoed, headers)
    if outcome == "timeout":
        return lambda _r: Reply(before="hang")
    if outcome == "malformed" and call.streamed:

        def broken_event(request: CapturedRequest) -> Reply:
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            frames = list(rendering.frames)
            index = piece_frame(frames, canon.TEXT_PIECES[0])
            frames[index] = replace_json(frames[index], b'{"id": "x", "choices": [')
            return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

        return broken_event
    if outcome == "malformed":
        return lambda _r: Reply(
            200, {"content-type": "application/json"}, (b'{"id": "x", "choices": [',)
        )

    def stream_error(request: CapturedRequest) -> Reply:
        rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
        index = piece_frame(rendering.frames, canon.TEXT_PIECES[0]) + 1
        event = wire.stream_error(canon.STREAM_ERROR_MESSAGE)
        frames = (*rendering.frames[:index], event, *rendering.frames[index:])
        return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

    return stream_error


def _replay_recorded(
    contract: ContractSession, exchange: Any, kind: str, endpoints: dict[str, str]
) -> str | None:
    """Serve one recorded answer to the plugin; what is wrong with the result, if anything."""
    from lmux_plug_contract._recorded import exchange_endpoint  # noqa: PLC0415
    from lmux_plug_contract._recorded import split_body  # noqa: PLC0415

    response = exchange.response
    headers = {"content-type": response.headers.get("content-type", "application/json")}
    by_endpoint = [name for name, key in endpoints.items() if key == exchange_endpoint(exchange)]
    if kind == "error":
        body = exchange.request.json()
        asked = isinstance(body, dict) and body.get("stream") is True
        name = "stream" if asked and "stream" in by_endpoint else by_endpoint[0]
        if "streamGenerateContent" in (exchange.request.uri or "") and "stream" in endpoints:
            name = "stream"
    else:
        name = {"chat": "chat", "stream": "stream", "embed": "embed"}[kind]
        if name not in endpoints:
            return None
    call = path_named(name)
    chunks = split_body(response.body) if call.streamed else (response.body,)
    contract.use_server(lambda _r: Reply(response.status, headers, chunks, stream=call.streamed))
    model = contract.model(call.capability)
    texts: list[str] = []
    if call is EMBED:
        recorded = CapturedRequest(
            "POST", exchange.request.uri or "/", {}, {}, exchange.request.body or b""
        )
        texts = (contract.wire.embed_inputs(recorded) if contract.wire else []) or ["text"]
    try:
        if call is EMBED:
            result: Any = contract.run(contract.registry.aembed(contract.ref(model), texts))
        else:
            result = contract.invoke(call, model)
    except Exception as exc:  # noqa: BLE001 - what was raised is the finding
        mapped = isinstance(exc, LmuxError) and not isinstance(exc, PluginError)
        if kind == "stream" and mapped and b'"error"' in response.body:
            return None  # the recorded stream carries an error event: raising it is right
        return _recorded_error_problem(exc, kind, response.status)
    if kind == "error":
        return f"HTTP {response.status} gave an answer instead of an error"
    return _recorded_result_problem(result, kind, len(texts))


def _recorded_error_problem(exc: BaseException, kind: str, status: int) -> str | None:
    if isinstance(exc, PluginError) or not isinstance(exc, LmuxError):
        cause = exc.__cause__ if isinstance(exc, PluginError) else exc
        return f"a foreign exception escaped: {type(cause).__name__}: {cause}"[:200]
    if kind != "error":
        return f"{type(exc).__name__}: {exc}"[:200]
    if exc.status_code != status:
        return f"HTTP {status} gave status_code {exc.status_code}"
    expected = ERROR_EXPECTATIONS.get(status, (LmuxError, False))[0]
    # Real APIs answer a bad key with 400 too (Gemini's API_KEY_INVALID): both readings hold.
    also = (AuthenticationError,) if status == 400 else ()
    if not isinstance(exc, (expected, *also)):
        return f"HTTP {status} gave {type(exc).__name__}, expected {expected.__name__}"
    return None


def _recorded_result_problem(result: Any, kind: str, inputs: int) -> str | None:
    if kind == "chat":
        if not isinstance(result, ChatResponse):
            return f"chat returned {type(result).__name__}"
        if not (result.content or result.tool_calls or result.thinking or result.refusal):
            return "the answer decoded to no content, tool call, thinking or refusal"
        return _usage_problem(result.usage)
    if kind == "stream":
        if not all(isinstance(c, ChatChunk) for c in result):
            return "items that are not ChatChunk"
        finishes = sum(c.finish_reason is not None for c in result)
        if finishes != 1:
            return f"{finishes} terminal chunks (expected exactly 1)"
        if not any(c.delta or c.tool_call_deltas or c.thinking_delta for c in result):
            return "the stream decoded to no text, tool call or thinking"
        usages = [c.usage for c in result if c.usage is not None]
        return _usage_problem(usages[-1]) if usages else None
    if not isinstance(result, EmbeddingResponse):
        return f"embed returned {type(result).__name__}"
    if len(result.embeddings) != inputs:
        return f"{len(result.embeddings)} vectors for {inputs} inputs"
    if len({len(v) for v in result.embeddings}) != 1 or not result.embeddings[0]:
        return "vectors of different or zero dimension"
    return _usage_problem(result.usage)


def _usage_problem(usage: object) -> str | None:
    try:
        _check_usage(usage, "usage")
    except AssertionError as exc:
        return str(exc)
    return None


async def _close_early(stream: Any, *, cancel: bool) -> None:
    if not cancel:
        iterator = stream.__aiter__()
        await iterator.__anext__()
        await iterator.aclose()
    else:
        await _cancel_after_first(stream)
    # The session loop stops when this returns; let it run the transport's close callbacks,
    # as an application's loop (which keeps running) would.
    for _ in range(3):
        await asyncio.sleep(0)


async def _cancel_after_first(stream: Any) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            first.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _undeclared_call(registry: Any, ref: str, capability: Capability) -> object:
    prompt: Any = _prompt()
    if capability is Capability.STREAM:
        return [c async for c in registry.achat_stream(ref, prompt)]
    if capability is Capability.EMBED:
        return await registry.aembed(ref, list(canon.EMBED_INPUTS))
    params: dict[str, Any] = {}
    if capability is Capability.TOOLS:
        params["tools"] = [canon.WEATHER_TOOL]
    elif capability is Capability.JSON_OBJECT:
        params["response_format"] = {"type": "json_object"}
    elif capability is Capability.JSON_SCHEMA:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        }
    elif capability is Capability.VISION:
        prompt = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ]
    elif capability is Capability.REASONING:
        params["reasoning_effort"] = "low"
    return await registry.achat(ref, prompt, **params)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _stash_key(name: str) -> Any:
    from lmux_plug_contract.plugin import STASH  # noqa: PLC0415 - the plugin owns the stash

    return STASH[name]
