"""Contract clauses on answers met side by side or in a shape not asked for; bare tool choices.

:class:`AnswerContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Gemini, Bedrock, Cohere and Ollama codecs on a fresh draw (seed
89) left mutants alive where the canonical exchange shows one answer at a time, in the
shape asked for, ended normally, and a tool choice only next to tools:

- ``tools.ids_across_answers[chat|stream]``: where the wire's tool answers carry no call
  ids but an answer id (:attr:`answer_id`: Gemini's ``responseId``), two answers with
  different answer ids, each calling the same tool with the same arguments at the same
  place, give two different call ids. A conversation holds both calls and both results;
  an agent loop or an API that matches results by id (Anthropic's, OpenAI's, when the
  router falls back mid-conversation) cannot tell the two apart under one id. Ids derived
  from a call's name, arguments and place alone collide there.
- ``streaming.whole_answer``: a streamed call answered with one whole JSON answer (the
  wire's chat answer, as a server or gateway that ignores the stream request sends it)
  gives that answer's text once, with a finish reason and its usage, or raises an
  ``LmuxError``; never a foreign exception (an ``IndexError`` reading the one answer as
  a list of events).
- ``requests.tool_choice_without_tools[auto|none|required|function]``: a tool choice
  given with no tools. ``auto`` and ``none`` ask nothing of the model then (it can call
  nothing either way), so the call is answered, with a body the API accepts: the fake API
  refuses what the real one does (the wire's :meth:`tool_use` raises: Gemini answers 400
  "Function calling config is set without function_declarations" to a
  ``functionCallingConfig`` without function declarations). ``required`` and
  ``function`` force a call of a tool that is not there: ``InvalidRequestError`` (before
  any I/O or from the API's 400) or ``UnsupportedFeatureError`` (an API without tool
  choices), never an answer that silently drops the forcing.
- ``types.length_finish[chat|stream]``: a text answer the API ended at the output limit
  (the wire's ``length_chat`` / ``length_stream``: Gemini's ``MAX_TOKENS``, Ollama's
  ``done_reason: length``, Bedrock's ``max_tokens``, Cohere's ``MAX_TOKENS``) keeps its
  text and finishes ``LENGTH``, once: a caller raises the cap or continues on it, and
  reads ``stop`` as a whole answer. ``tools.cut_off`` asks the same of a cut tool call.
- ``errors.empty_answer[chat|stream|embed]``: a 200 answer whose body is empty (the
  headers of the path's canonical answer, then nothing: a proxy or a server that died
  after its headers) raises ``ProviderError`` on every path; never a result, never a
  foreign exception (a stream decoder that read no byte must still end in an error:
  ``errors.truncated_stream`` cuts only after the first frame).

Each clause is skipped, saying so, on a wire that does not declare what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest
from lmux_plug import Capability
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import ToolChoice
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import Answer
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import fail_foreign as _fail_foreign
from lmux_plug_contract._calls import rendered_answer
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._paths import PATH_NAMES
from lmux_plug_contract._paths import path_named
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["AnswerContract"]

#: Appended to the answer id in the second answer (the result is still a JSON-safe string).
_SECOND = "-second"


def _with_answer_id(reply: Reply, old: str, new: str) -> Reply:
    """``reply`` with its answer id ``old`` (in the body and the headers) replaced by ``new``.

    A plain byte replacement: right for JSON bodies, SSE and NDJSON; a framing with lengths
    or checksums (AWS event streams) would need re-framing, and no such wire both names an
    answer id in its frames and sends calls without ids.
    """
    return attrs.evolve(
        reply,
        chunks=tuple(chunk.replace(old.encode(), new.encode()) for chunk in reply.chunks),
        headers={name: value.replace(old, new) for name, value in reply.headers.items()},
    )


class AnswerContract:
    """Call ids across answers, whole answers to streams, bare tool choices, cut answers."""

    @clause("tools.ids_across_answers")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_ids_across_answers(self, contract: ContractSession, path: str) -> None:
        """Id-less calls of two answers with different answer ids get different call ids."""
        wire = contract.require_wire()
        answer_id = getattr(wire, "answer_id", None)
        if not isinstance(answer_id, str) or not answer_id:
            pytest.skip(f"not declared: the wire {wire.name!r} names no answer id")
        streamed = path == "stream"
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT, Capability.TOOLS)
        answer = contract.canonical("tools" if streamed else "tools_chat")
        replies: list[Reply] = []

        def scenario(request: CapturedRequest) -> Reply:
            reply = answer(request)
            if replies:
                # The next answer: another id, the same call at the same place.
                reply = _with_answer_id(reply, answer_id, answer_id + _SECOND)
            replies.append(reply)
            return reply

        contract.use_server(scenario)
        ref = contract.ref(model)
        prompt = [UserMessage(canon.TOOL_PROMPT)]
        params = contract.params(tools=[canon.WEATHER_TOOL])
        first = ask(contract, ref, prompt, params, path)
        body = b"".join(replies[0].chunks)
        carried = answer_id.encode() in body or answer_id in replies[0].headers.values()
        if canon.TOOL_CALL.id.encode() in body or not carried:
            pytest.skip(f"not declared: the wire's {path} tool answers carry call ids or no id")
        second = ask(contract, ref, prompt, params, path)
        ids = [[c.id for c in first.calls], [c.id for c in second.calls]]
        assert all(len(found) == 1 for found in ids), (
            f"{path}: each answer calls {canon.TOOL_CALL.name} once; the calls came back as {ids}"
        )
        assert ids[0] != ids[1], (
            f"{path}: two answers ({answer_id!r}, {answer_id + _SECOND!r}) calling the same tool "
            f"with the same arguments gave one call id {ids[0][0]!r}: a conversation holding "
            "both cannot tell their results apart"
        )

    @clause("streaming.whole_answer")
    def test_streaming_whole_answer(self, contract: ContractSession) -> None:
        """A streamed call answered with one whole JSON answer gives its text, or an LmuxError."""
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)
        # What a server that ignores the stream request sends: the chat answer, whole.
        contract.use_server(lambda request: wire.chat(request, canon.TEXT, canon.USAGE))
        stream = contract.registry.achat_stream(
            contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], **contract.params()
        )
        try:
            chunks = contract.collect(stream)
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, "a whole JSON answer to a streamed call")
            return
        said = Answer.of(chunks)
        assert said.text == canon.TEXT, (
            f"a whole answer to a streamed call, taken, gave the text {said.text!r}; "
            f"the answer says {canon.TEXT!r}"
        )
        assert len(said.finishes) == 1, (
            f"a whole answer to a streamed call, taken, gave {len(said.finishes)} terminal chunks"
        )
        assert said.usages and said.usages[-1] == canon.USAGE, (
            f"a whole answer to a streamed call, taken, reported the usage "
            f"{said.usages[-1] if said.usages else None}, the answer says {canon.USAGE}"
        )

    @clause("requests.tool_choice_without_tools")
    @pytest.mark.parametrize("choice", ["auto", "none", "required", "function"])
    def test_requests_tool_choice_without_tools(
        self, contract: ContractSession, choice: str
    ) -> None:
        """A tool choice without tools: auto and none are answered, a forced call is refused."""
        wire = contract.require_wire()
        model = contract.model(Capability.CHAT, Capability.TOOLS)
        answer = contract.canonical("chat")

        def scenario(request: CapturedRequest) -> Reply:
            try:
                wire.tool_use(request)
            except NotImplementedError:
                pass  # the wire cannot read tool choices: the API is taken to accept the body
            except ValueError as exc:
                # What the real API answers to a tool choice it refuses.
                return wire.error(400, f"invalid tool configuration: {exc}")
            return answer(request)

        contract.use_server(scenario)
        tool_choice = ToolChoice.function(canon.TOOL_CALL.name) if choice == "function" else choice
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        params = contract.params(tool_choice=tool_choice)
        what = f"tool_choice={choice} without tools"
        try:
            response = contract.run(contract.registry.achat(contract.ref(model), prompt, **params))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, what)
            if choice in ("auto", "none"):
                pytest.fail(
                    f"{what} (nothing to call either way) was refused: {type(exc).__name__}: "
                    f"{exc}; it asks for a plain answer"
                )
            assert isinstance(exc, (InvalidRequestError, UnsupportedFeatureError)), (
                f"{what} (a call forced with nothing to call) raised {type(exc).__name__}, "
                f"not InvalidRequestError: {exc}"
            )
            return
        if choice in ("required", "function"):
            pytest.fail(f"{what} gave an answer: the forced call was dropped, not refused")
        assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
        assert response.content == canon.TEXT, (
            f"{what}: the answer's text {response.content!r}, the API says {canon.TEXT!r}"
        )

    @clause("types.length_finish")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_length_finish(self, contract: ContractSession, path: str) -> None:
        """A text answer the API ended at the output limit keeps its text and finishes LENGTH."""
        pieces = (canon.TEXT_PIECES, canon.USAGE)
        answer = rendered_answer(
            contract.require_wire(), "length", path, (canon.TEXT, canon.USAGE), pieces
        )
        model = contract.model(Capability.STREAM if path == "stream" else Capability.CHAT)
        contract.use_server(answer)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        said = ask(contract, contract.ref(model), prompt, contract.params(max_tokens=16), path)
        assert said.text == canon.TEXT, (
            f"{path}: an answer the output limit ended gave the text {said.text!r}, the API "
            f"says {canon.TEXT!r}"
        )
        finish = said.finish(path)
        assert finish is FinishReason.LENGTH, (
            f"{path}: the API ended the answer at the output limit, the result reports "
            f"finish {finish!r}, not {FinishReason.LENGTH!r} (a caller would take it as whole)"
        )

    @clause("errors.empty_answer")
    @pytest.mark.parametrize("path", PATH_NAMES)
    def test_errors_empty_answer(self, contract: ContractSession, path: str) -> None:
        """A 200 answer with an empty body raises ProviderError on every path."""
        contract.require_wire()
        call = path_named(path)
        model = contract.model(call.capability)
        answer = contract.canonical(call.kind)

        def scenario(request: CapturedRequest) -> Reply:
            # The path's own status and headers, then no byte of body.
            return attrs.evolve(answer(request), chunks=())

        contract.use_server(scenario)
        try:
            result = contract.invoke(call, model)
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"{path}: a 200 answer with an empty body")
            assert isinstance(exc, ProviderError), (
                f"{path}: a 200 answer with an empty body raised {type(exc).__name__}, "
                f"not ProviderError: {exc}"
            )
            return
        pytest.fail(f"{path}: a 200 answer with an empty body gave a result: {result!r:.200}")
