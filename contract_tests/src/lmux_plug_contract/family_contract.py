"""Contract clauses on limits and statuses a whole family of requests or events shares.

:class:`FamilyContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Gemini and Bedrock codecs over several draws (seeds 13, 47 and 71)
left mutants alive wherever a rule holds for a whole family of inputs of which the
canonical exchange shows one member: the stop sequences an API takes (the canonical call
sends one), the statuses an in-stream error event stands for (the canonical events are a
rate limit and an overload):

- ``requests.stop_limit``: where the wire declares how many stop sequences the API takes
  (:attr:`max_stop_sequences`), a call with exactly that many is sent, every one of them in
  the body; one more gives ``InvalidRequestError``, refused before any I/O or mapped from
  the API's own 400 (the fake API refuses it as the real one does);
- ``errors.stream_error_status``: an error event mid-stream that stands for an HTTP status
  (the wire's :meth:`stream_error_for`) raises that status's ``LmuxError`` class and
  retryability (as ``errors.http_status``) with the provider's message; a ``status_code``,
  where the error carries one, is that status (a plugin may leave it out where the event
  does not state it). Every wire is asked for 400, 429 and 500 (a refused request, a rate
  limit, an internal error); a wire whose API names more in its error events lists them in
  :attr:`stream_error_statuses` (Anthropic's error types, OpenAI proxies' relayed codes).
- ``types.cached_usage``: an answer whose usage reports prompt tokens read from (and,
  where the API reports them, written to) the prompt cache, on chat and on a stream, gives
  the :class:`Usage` the core defines: ``input_tokens`` counts every prompt token, the
  cached ones too, which ``cache_read_tokens`` and ``cache_creation_tokens`` report again
  (the wire's :attr:`cache_usage` says which the API reports; the canonical usage has none).
- ``requests.tool_choice_after_calls``: each tool choice the wire's API takes
  (:attr:`tool_choices`), in a conversation that already holds a tool call and its result
  (``none`` there is how a caller asks for the final answer), is sent so that the API reads
  it (:meth:`tool_use`) as forcing a call exactly for ``required`` and ``function`` (that
  one call), or refused as unsupported before any I/O; never as invalid input.
- ``requests.image_data``: a model that declares ``vision`` carries a PNG given as base64
  data (the image form every vision API takes inline) as the API reads the part; refusing
  it, even before any I/O, is refusing what the declaration promises (as
  ``requests.pdf_document`` asks of ``files``).
- ``tools.calls_ended_normally[chat|stream]``: an answer holding a whole tool call whose
  stop reason says a normal end (Gemini's ``STOP`` always; Bedrock's ``end_turn``, as some
  models behind Converse send; the wire's :meth:`ended_tool_chat` and
  :meth:`ended_tool_stream`) gives the call and finishes ``TOOL_CALLS`` where the wire's
  tool answers mean that (:attr:`tool_finish`): a caller's agent loop runs calls on it.
- ``requests.schema_description``: where the API has a place for a structured-output
  schema's description (the wire's :attr:`json_schema_description`: Bedrock's
  ``jsonSchema.description``), a ``json_schema`` response format's description reaches the
  body (the model reads it to know what the JSON is for).
- ``types.request_id[chat|stream]``: where the wire names the id its answers carry
  (:attr:`answer_id`: Gemini's ``responseId``, Bedrock's ``x-amzn-requestid`` header) and
  the answer of the path carries it, the result reports it as ``request_id`` (what a
  caller quotes to the provider's support, and what logs join on).

Each clause is skipped, saying so, on a wire that does not declare what it needs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import AssistantMessage
from lmux_plug import Capability
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import Message
from lmux_plug import ProviderError
from lmux_plug import RateLimitError
from lmux_plug import ToolChoice
from lmux_plug import ToolMessage
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import fail_foreign as _fail_foreign
from lmux_plug_contract._calls import skip_refused
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._frames import piece_frame
from lmux_plug_contract.breadth_contract import check_data_part_carried
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["CACHED_USAGE", "STREAM_ERROR_STATUSES", "FamilyContract"]

#: Statuses every wire's in-stream error events stand for, and the class each maps to (as
#: ``errors.http_status``); unlike ``errors.stream_error_event`` this checks the status
#: even where the event does not spell it out (Bedrock's exception types name it).
STREAM_ERROR_STATUSES: dict[int, type[LmuxError]] = {
    400: InvalidRequestError,
    429: RateLimitError,
    500: ProviderError,
}
#: Every status of the contract's ``ERROR_EXPECTATIONS`` (which gives each one's class and
#: retryability; read when the clause runs, as importing it here would be a cycle): a wire
#: lists in ``stream_error_statuses`` those its API's error events stand for beyond the above.
_EVENT_STATUSES = (400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529)

#: A usage with cached prompt tokens: every count differs, so a sum or a mix-up shows.
CACHED_USAGE = Usage(
    input_tokens=1200, output_tokens=7, cache_read_tokens=800, cache_creation_tokens=96
)


def _stop_sequences(count: int) -> list[str]:
    # Distinct, non-ASCII, and unlike anything else a body holds, so each can be found.
    return [f"⟨contract-stop-{n}⟩" for n in range(1, count + 1)]


def _strings_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_strings_in(v) for v in value))
    return set()


def _sent_stops(request: CapturedRequest) -> set[str]:
    """The clause's stop sequences found as JSON strings anywhere in a captured body."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return set()
    return {s for s in _strings_in(body) if s.startswith("⟨contract-stop-")}


class FamilyContract:
    """Clauses on stop-sequence limits and in-stream error statuses (mixed in)."""

    @clause("requests.stop_limit")
    def test_requests_stop_limit(self, contract: ContractSession) -> None:
        """As many stop sequences as the API takes are sent; one more is InvalidRequestError."""
        wire = contract.require_wire()
        limit = getattr(wire, "max_stop_sequences", None)
        if not isinstance(limit, int) or limit < 1:
            pytest.skip(f"not declared: the wire {wire.name!r} states no stop-sequence limit")
        model = contract.model(Capability.CHAT)

        def answer(request: CapturedRequest) -> Reply:
            stops = _sent_stops(request)
            if len(stops) > limit:
                # What the API answers to more stop sequences than it takes.
                message = f"stop_sequences: at most {limit} are allowed, got {len(stops)}"
                return wire.error(400, message)
            return wire.chat(request, canon.TEXT, canon.USAGE)

        contract.use_server(answer)
        ref = contract.ref(model)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        stops = _stop_sequences(limit)
        try:
            response = contract.run(
                contract.registry.achat(ref, prompt, **contract.params(stop=stops))
            )
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"{limit} stop sequences")
            pytest.fail(
                f"{limit} stop sequences, as many as the API takes, were refused: "
                f"{type(exc).__name__}: {exc}"
            )
        assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
        sent = _sent_stops(contract.server.requests[-1])
        assert sent == set(stops), (
            f"{limit} stop sequences given, the body carries {len(sent)}: {sorted(sent)}"
        )
        too_many = _stop_sequences(limit + 1)
        try:
            contract.run(contract.registry.achat(ref, prompt, **contract.params(stop=too_many)))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"{limit + 1} stop sequences")
            assert isinstance(exc, InvalidRequestError), (
                f"{limit + 1} stop sequences (the API takes {limit}) raised "
                f"{type(exc).__name__}, not InvalidRequestError: {exc}"
            )
        else:
            pytest.fail(
                f"{limit + 1} stop sequences (the API takes {limit}, and refused the body "
                "with a 400) gave an answer, not InvalidRequestError"
            )

    @clause("errors.stream_error_status")
    @pytest.mark.parametrize("status", _EVENT_STATUSES)
    def test_errors_stream_error_status(self, contract: ContractSession, status: int) -> None:
        """An error event mid-stream standing for ``status`` raises that status's class.

        Asked of every wire for 400, 429 and 500, and for the further statuses a wire lists
        in ``stream_error_statuses``: the class, retryability and status (or none) of that
        HTTP status, with the provider's message (a generic ProviderError carrying the
        status stands for the class where the wire does not list the status).
        """
        wire = contract.require_wire()
        named = status in getattr(wire, "stream_error_statuses", ())
        if not named and status not in STREAM_ERROR_STATUSES:
            pytest.skip(f"not declared: the wire {wire.name!r} names no error event for {status}")
        try:
            event = wire.stream_error_for(status, canon.STREAM_ERROR_MESSAGE)
        except NotImplementedError:
            pytest.skip(f"not declared: the wire {wire.name!r} renders no error event by status")
        from lmux_plug_contract.contract import ERROR_EXPECTATIONS  # noqa: PLC0415 - cycle

        expected, retryable = ERROR_EXPECTATIONS[status]
        model = contract.model(Capability.STREAM)

        def scenario(request: CapturedRequest) -> Reply:
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            index = piece_frame(rendering.frames, canon.TEXT_PIECES[0]) + 1
            # The stream goes on after the event, as real APIs' do: skipping it cannot pass.
            frames = (*rendering.frames[:index], event, *rendering.frames[index:])
            return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)

        contract.use_server(scenario)
        stream = contract.registry.achat_stream(
            contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], **contract.params()
        )
        try:
            contract.collect(stream)
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"an error event for HTTP {status}")
            assert isinstance(exc, LmuxError)  # fail_foreign failed the clause otherwise
            # A wire that lists the status says its API's event names that error type: the
            # class must follow. Elsewhere the event may state only a number (OpenRouter
            # relays one), and a generic ProviderError carrying the status passes too (a
            # caller can still tell what the event stood for).
            carried = not named and type(exc) is ProviderError and exc.status_code == status
            assert isinstance(exc, expected) or carried, (
                f"an error event for HTTP {status} raised {type(exc).__name__} ({exc}), "
                f"expected {expected.__name__}"
                + ("" if named else f" (or a ProviderError with status {status})")
            )
            assert canon.STREAM_ERROR_MESSAGE in str(exc), (
                f"the provider's message {canon.STREAM_ERROR_MESSAGE!r} is lost: {exc}"
            )
            assert exc.status_code in (None, status), (
                f"an error event for HTTP {status} raised an error with status_code "
                f"{exc.status_code}"
            )
            # A generic error standing in for the class keeps the generic retryability.
            assert carried or exc.retryable is retryable, (
                f"an error event for HTTP {status}: retryable is {exc.retryable}, "
                f"expected {retryable}"
            )
        else:
            pytest.fail(f"a stream with an error event for HTTP {status} ended without an error")

    @clause("types.cached_usage")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_cached_usage(self, contract: ContractSession, path: str) -> None:
        """Cached prompt tokens count in input_tokens and again in the cache counts."""
        wire = contract.require_wire()
        reported = getattr(wire, "cache_usage", ())
        if "read" not in reported:
            pytest.skip(f"not declared: the wire {wire.name!r} reports no cached prompt tokens")
        expected = Usage(
            input_tokens=CACHED_USAGE.input_tokens,
            output_tokens=CACHED_USAGE.output_tokens,
            cache_read_tokens=CACHED_USAGE.cache_read_tokens,
            cache_creation_tokens=CACHED_USAGE.cache_creation_tokens if "write" in reported else 0,
        )
        streamed = path == "stream"
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT)

        def answer(request: CapturedRequest) -> Reply:
            if streamed:
                return wire.reply_stream(wire.stream(request, canon.TEXT_PIECES, expected))
            return wire.chat(request, canon.TEXT, expected)

        contract.use_server(answer)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        usages = ask(contract, contract.ref(model), prompt, contract.params(), path).usages
        # As streaming.usage reads it: the last chunk that carries a usage.
        assert usages, "stream: no chunk carries the usage the provider reported"
        usage = usages[-1]
        assert usage == expected, f"{path}: the answer's usage {usage}, expected {expected}"

    @clause("requests.tool_choice_after_calls")
    @pytest.mark.parametrize("choice", ["auto", "none", "required", "function"])
    def test_requests_tool_choice_after_calls(self, contract: ContractSession, choice: str) -> None:
        """A tool choice the API takes, after a call and its result, is sent as the API reads it."""
        wire = contract.require_wire()
        if choice not in getattr(wire, "tool_choices", ()):
            pytest.skip(f"not declared: the wire {wire.name!r} does not list tool_choice={choice}")
        model = contract.model(Capability.CHAT, Capability.TOOLS)
        contract.use_server(contract.canonical("chat"))
        forced_name = canon.TOOL_CALL.name
        messages: list[Message] = [
            UserMessage(canon.TOOL_PROMPT),
            AssistantMessage(tool_calls=(canon.TOOL_CALL,)),
            ToolMessage("Sunny, 21 °C.", tool_call_id=canon.TOOL_CALL.id),
            UserMessage("Thanks. And is it windy?"),
        ]
        tool_choice = ToolChoice.function(forced_name) if choice == "function" else choice
        params = contract.params(tools=[canon.WEATHER_TOOL], tool_choice=tool_choice)
        try:
            contract.run(contract.registry.achat(contract.ref(model), messages, **params))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, f"tool_choice={choice} after a tool call")
            # A valid request (the API takes the choice, the tool is offered): a plugin may
            # say it cannot honour it, not that the caller's request is invalid.
            assert isinstance(exc, UnsupportedFeatureError), (
                f"tool_choice={choice} after a tool call and its result raised "
                f"{type(exc).__name__}: {exc} (the API takes it)"
            )
            skip_refused(contract, exc, f"tool_choice={choice} after a tool call")
        try:
            seen = wire.tool_use(contract.server.requests[-1])
        except NotImplementedError:
            pytest.skip(f"not declared: the wire {wire.name!r} does not read tool choices")
        except ValueError as exc:
            pytest.fail(f"tool_choice={choice} after a tool call: {exc}")
        forced = choice in ("required", "function")
        assert seen.forced == forced, (
            f"tool_choice={choice} after a tool call: the body "
            f"{'does not force' if forced else 'forces'} a call"
        )
        if choice == "function":
            assert seen.callable == frozenset({forced_name}), (
                f"tool_choice=function({forced_name}) after a tool call lets the model call "
                f"{sorted(seen.callable)}"
            )

    @clause("requests.image_data")
    def test_requests_image_data(self, contract: ContractSession) -> None:
        """A model declaring vision carries an image given as base64 data, as the API reads it."""
        check_data_part_carried(
            contract, "image_data", "What is in this picture ✓?", "a PNG given as base64 data"
        )

    @clause("tools.calls_ended_normally")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_calls_ended_normally(self, contract: ContractSession, path: str) -> None:
        """A whole tool call in an answer that says it ended normally finishes TOOL_CALLS."""
        wire = contract.require_wire()
        streamed = path == "stream"
        render = getattr(wire, "ended_tool_stream" if streamed else "ended_tool_chat", None)
        if not callable(render) or wire.tool_finish is not FinishReason.TOOL_CALLS:
            pytest.skip(f"not declared: the wire {wire.name!r} renders no such answer")
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT, Capability.TOOLS)

        def answer(request: CapturedRequest) -> Reply:
            if streamed:
                pieces = canon.TOOL_ARGUMENT_PIECES
                rendering = render(request, canon.TOOL_CALL, pieces, canon.USAGE)
                return wire.reply_stream(rendering)
            reply: Reply = render(request, canon.TOOL_CALL, canon.USAGE)
            return reply

        contract.use_server(answer)
        ref = contract.ref(model)
        prompt = [UserMessage(canon.TOOL_PROMPT)]
        params = contract.params(tools=[canon.WEATHER_TOOL])
        if streamed:
            chunks = contract.collect(contract.registry.achat_stream(ref, prompt, **params))
            finishes = [c.finish_reason for c in chunks if c.finish_reason is not None]
            names = [d.name for c in chunks for d in c.tool_call_deltas if d.name]
            finish = finishes[-1] if finishes else None
        else:
            response = contract.run(contract.registry.achat(ref, prompt, **params))
            assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
            names = [call.name for call in response.tool_calls]
            finish = response.finish_reason
        assert names == [canon.TOOL_CALL.name], f"{path}: the answer's call came back as {names}"
        assert finish is FinishReason.TOOL_CALLS, (
            f"{path}: an answer holding a whole tool call, which says it ended normally, "
            f"finished {finish!r}, not TOOL_CALLS (a caller would not run the call)"
        )

    @clause("requests.schema_description")
    def test_requests_schema_description(self, contract: ContractSession) -> None:
        """A json_schema response format's description reaches the body where the API reads it."""
        wire = contract.require_wire()
        if not getattr(wire, "json_schema_description", False):
            pytest.skip(f"not declared: the wire {wire.name!r} has no place for a description")
        model = contract.model(Capability.CHAT, Capability.JSON_SCHEMA)
        contract.use_server(contract.canonical("chat"))
        description = "The weather in one city ✓: its name and the temperature in °C."
        schema = {
            "type": "object",
            "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
            "required": ["city", "celsius"],
        }
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": schema, "description": description},
        }
        prompt = [UserMessage(canon.TOOL_PROMPT)]
        params = contract.params(response_format=response_format)
        try:
            contract.run(contract.registry.achat(contract.ref(model), prompt, **params))
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            _fail_foreign(exc, "a json_schema response format with a description")
            pytest.fail(f"a json_schema response format with a description was refused: {exc}")
        request = contract.server.requests[-1]
        body = json.loads(request.body or b"null")
        assert description in _strings_in(body), (
            f"the schema's description {description!r} is not in the body {body!r:.300}"
        )

    @clause("types.request_id")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_request_id(self, contract: ContractSession, path: str) -> None:
        """The id an answer carries (body or header) is the result's request_id."""
        wire = contract.require_wire()
        answer_id = getattr(wire, "answer_id", None)
        if not isinstance(answer_id, str):
            pytest.skip(f"not declared: the wire {wire.name!r} names no answer id")
        streamed = path == "stream"
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT)
        answer = contract.canonical("stream" if streamed else "chat")
        replies: list[Reply] = []

        def scenario(request: CapturedRequest) -> Reply:
            replies.append(answer(request))
            return replies[-1]

        contract.use_server(scenario)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        reported = ask(contract, contract.ref(model), prompt, contract.params(), path).request_ids
        carried = [
            r
            for r in replies
            if answer_id.encode() in b"".join(r.chunks) or answer_id in r.headers.values()
        ]
        if not carried:
            pytest.skip(f"not declared: the wire's {path} answers carry no id")
        assert reported == {answer_id}, (
            f"{path}: the answer carries the id {answer_id!r}, the result reports "
            f"{sorted(reported) or 'none'}"
        )
