"""Contract clauses on answers at their edges: odd list items and odd reasoning.

:class:`EdgeContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the Cohere, Anthropic and OpenAI codecs (``contract_tests/mutation``)
showed defects living where an answer holds an item the plugin skips, and where reasoning
(thinking blocks, Cohere's tool plan) is decoded but never judged:

- ``errors.odd_items``: every list of objects in an answer (choices, content blocks, parts,
  tool calls, data items; in a whole body and in each kind of stream event) gets an item of
  another JSON type (``null``, a number, a string) put first. The plugin may refuse the
  answer with an ``LmuxError``, or skip the odd item; what it may not do is lose the good
  items after it (a ``break`` where a ``continue`` was meant) or give another result;
- ``errors.odd_values``: every kind of answer (with reasoning too: a signed reasoning block,
  and the reasoning some APIs send before tool calls, such as Cohere's tool plan), each
  field missing, ``null`` or of another JSON type, gives an ``LmuxError`` or a result that
  is well typed where ``errors.odd_fields`` does not look: reasoning text ``str``, a
  signature ``str`` or ``None``, request id, model and provider ``str`` (or ``None``).

Each is skipped, saying so, where the wire renders no such answer or the provider does not
declare what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import ImageContent
from lmux_plug import LmuxError
from lmux_plug import PluginError
from lmux_plug import TextContent
from lmux_plug import ThinkingBlock
from lmux_plug import ToolChoice
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug import UserMessage
from lmux_plug.testing.streams import tool_calls_of

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import check_tool_use
from lmux_plug_contract._calls import json_variants
from lmux_plug_contract._calls import reads_tool_choices
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._calls import skip_refused
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._frames import piece_frame
from lmux_plug_contract._paths import path_named
from lmux_plug_contract.depth_contract import fields_of
from lmux_plug_contract.depth_contract import ill_typed
from lmux_plug_contract.depth_contract import odd_field
from lmux_plug_contract.depth_contract import odd_variants
from lmux_plug_contract.depth_contract import text_or_none
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import ToolUse

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = [
    "ODD_ITEMS",
    "EdgeContract",
    "lost_items",
    "metadata_problem",
    "reasoning_problem",
]

_PROBE = CapturedRequest("POST", "/", {}, {}, b"{}")
_THOUGHT = ThinkingBlock("Reasoning at the edge: Paris ✓ 日本.", signature="sig-contract-edge-5b1d")
#: The JSON ``types.json_as_text`` asks for, with its schema, in the pieces it streams.
_JSON_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
    "required": ["city", "sky"],
}
_JSON_PIECES = ('{"city": "Pa', 'ris", "sky": "clear ✓ ', '日本"}')


#: Two linked images (``requests.image_detail``), the first asked for at low detail.
_IMAGE_LINKS = (
    "https://images.contract.invalid/Cat.Photo.png?size=large",
    "https://images.contract.invalid/dog.jpg",
)
#: Two tools, offered together; ``requests.forced_tool`` forces each in turn.
_TOOLS: tuple[dict[str, Any], ...] = (canon.WEATHER_TOOL, canon.TIME_TOOL)
_REASONING_USAGE = Usage(input_tokens=12, output_tokens=7, reasoning_tokens=3)
#: Items of another JSON type put first in a list of objects: an API never sends them, so
#: a plugin may refuse the answer, but skipping one must not lose the items after it.
ODD_ITEMS: tuple[Any, ...] = (None, 7, "odd")
#: case -> (the call path, the answer rendered, the capabilities the model needs)
_CASES: dict[str, tuple[str, str, tuple[Capability, ...]]] = {
    "chat": ("chat", "chat", ()),
    "tools_chat": ("chat", "tools_chat", (Capability.TOOLS,)),
    "thinking_chat": ("chat", "thinking_chat", (Capability.REASONING,)),
    "stream": ("stream", "stream", ()),
    "tools_stream": ("stream", "tools", (Capability.TOOLS,)),
    "thinking_stream": ("stream", "thinking_stream", (Capability.REASONING,)),
    "embed": ("embed", "embed", ()),
}


def _lists_of_objects(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every non-empty list of JSON objects in a document, outer ones first.

    Lists whose items the API numbers (an ``index`` member: OpenAI's choices and streamed
    call deltas, Gemini's candidates, embedding items) are left out: a plugin may pick such
    an item by its position, so an odd item put first changes which one is meant.
    """
    if isinstance(value, list):
        numbered = any(isinstance(item, dict) and "index" in item for item in value)
        if value and all(isinstance(item, dict) for item in value) and not numbered:
            yield prefix
        for index, item in enumerate(value):
            yield from _lists_of_objects(item, (*prefix, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _lists_of_objects(item, (*prefix, key))


def _with_first(document: Any, path: tuple[Any, ...], item: Any) -> Any:
    """A copy of ``document`` with ``item`` put first in the list at ``path``."""
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path:
        target = target[key]
    target.insert(0, item)
    return copy


def odd_item_variants(document: Any) -> Iterator[tuple[str, Any]]:
    """``document`` with an odd item put first in each of its lists of objects (labelled)."""
    for path in _lists_of_objects(document):
        where = ".".join(map(str, path)) or "(the body)"
        for item in ODD_ITEMS:
            yield f"{json.dumps(item)} first in {where}", _with_first(document, path, item)


def _summary(result: Any) -> Any:
    """What a result says (text, calls, finish, usage, reasoning, vectors), ids left out.

    Ids are left out: a plugin that derives ids for id-less calls may count the odd item.
    """
    if isinstance(result, ChatResponse):
        return (
            result.content or "",
            tuple((c.name, c.arguments) for c in result.tool_calls),
            result.finish_reason,
            result.usage,
            tuple((b.text, b.signature, b.redacted) for b in result.thinking),
        )
    if isinstance(result, EmbeddingResponse):
        return (result.embeddings, result.usage)
    if isinstance(result, list) and all(isinstance(c, ChatChunk) for c in result):
        return (
            "".join(c.delta for c in result),
            tuple((c.name, c.arguments) for c in tool_calls_of(result)),
            tuple(c.finish_reason for c in result if c.finish_reason is not None),
            tuple(c.usage for c in result if c.usage is not None),
            "".join(c.thinking_delta for c in result),
            tuple((b.text, b.signature, b.redacted) for c in result for b in c.thinking),
        )
    return result


def _contains_in_order(whole: tuple[Any, ...], part: tuple[Any, ...]) -> bool:
    rest = iter(whole)
    return all(any(item == other for other in rest) for item in part)


def lost_items(got: Any, plain: Any) -> str | None:
    """What an answer with an odd item lost against the same answer without it.

    ``got`` and ``plain`` are :func:`_summary` values. The text, reasoning, finish and
    usage must be the same; every call of the plain answer must still be there, in order
    (a call made of the odd item is the plugin's to judge: it is well typed, or the result
    would have failed already).
    """
    if not (isinstance(got, tuple) and isinstance(plain, tuple) and len(got) == len(plain)):
        return None if got == plain else f"the result is {got!r:.120}, not {plain!r:.120}"
    if len(plain) == 2:
        return None if got == plain else "the vectors or usage differ from the plain answer's"
    names = ("text", "calls", "finish", "usage", "reasoning", "reasoning blocks")
    for name, mine, theirs in zip(names, got, plain, strict=False):
        if name == "calls":
            if not _contains_in_order(mine, theirs):
                return f"calls {mine!r:.120} lost some of the plain answer's {theirs!r:.120}"
        elif mine != theirs:
            return f"{name} {mine!r:.120}, the plain answer gives {theirs!r:.120}"
    return None


def _block_problem(block: Any) -> str | None:
    if not isinstance(block, ThinkingBlock):
        return f"a reasoning block is {type(block).__name__}"
    text: Any = block.text
    signature: Any = block.signature
    redacted: Any = block.redacted
    if not isinstance(text, str):
        return f"a reasoning block's text is {text!r}"
    if signature is not None and not isinstance(signature, str):
        return f"a reasoning block's signature is {signature!r}"
    if not isinstance(redacted, bool):
        return f"a reasoning block's redacted flag is {redacted!r}"
    return None


def reasoning_problem(result: Any) -> str | None:
    """What is not well typed in a result's reasoning (None: all is)."""
    if isinstance(result, ChatResponse):
        blocks: list[Any] = list(result.thinking)
    elif isinstance(result, list):
        deltas: list[Any] = [c.thinking_delta for c in result if isinstance(c, ChatChunk)]
        odd = [d for d in deltas if not isinstance(d, str)]
        if odd:
            return f"a chunk's thinking_delta is {odd[0]!r}"
        blocks = [b for c in result if isinstance(c, ChatChunk) for b in c.thinking]
    else:
        return None
    return next((p for p in map(_block_problem, blocks) if p), None)


def metadata_problem(result: Any) -> str | None:
    """A result's (or any chunk's) request id, model or provider that is not text."""
    problems = (
        odd_field(fields_of(item, "request_id", "model", "provider"), text_or_none)
        for item in (result if isinstance(result, list) else [result])
        if isinstance(item, (ChatResponse, ChatChunk, EmbeddingResponse))
    )
    return next((p for p in problems if p), None)


def _foreign(exc: BaseException) -> str | None:
    """The foreign exception a plugin let escape (None for an LmuxError)."""
    if isinstance(exc, PluginError):
        cause = exc.__cause__
        return f"{type(cause).__name__}: {cause}"
    if not isinstance(exc, LmuxError):
        return f"{type(exc).__name__}: {exc}"
    return None


class EdgeContract:
    """Clauses on odd list items and odd reasoning in answers (mixed into the contract)."""

    def _answer(
        self, contract: ContractSession, case: str
    ) -> tuple[str, Callable[[CapturedRequest], Reply]]:
        """The model and the canonical answer of ``case``, or skip: not declared."""
        wire = contract.require_wire()
        path, kind, needs = _CASES[case]
        call = path_named(path)
        model = contract.model(call.capability, *needs)
        answer: Callable[[CapturedRequest], Reply]
        # Any: the reasoning renderers are optional members of a wire format.
        render: Any = getattr(wire, kind, None) if kind.startswith("thinking_") else None
        try:
            if kind == "thinking_chat" and callable(render):
                render(_PROBE, (_THOUGHT,), canon.TEXT, _REASONING_USAGE)

                def answer(request: CapturedRequest) -> Reply:
                    reply: Reply = render(request, (_THOUGHT,), canon.TEXT, _REASONING_USAGE)
                    return reply
            elif kind == "thinking_stream" and callable(render):
                render(_PROBE, (_THOUGHT,), canon.TEXT_PIECES, _REASONING_USAGE)

                def answer(request: CapturedRequest) -> Reply:
                    rendering = render(request, (_THOUGHT,), canon.TEXT_PIECES, _REASONING_USAGE)
                    return wire.reply_stream(rendering)
            elif kind.startswith("thinking_"):
                raise NotImplementedError  # noqa: TRY301 - the wire renders no reasoning
            else:
                if kind == "tools_chat":
                    wire.tool_chat(_PROBE, canon.TOOL_CALL, canon.USAGE)
                answer = contract.canonical(kind)  # type: ignore[arg-type]
        except NotImplementedError:
            pytest.skip(f"not declared: the wire {wire.name!r} renders no {kind} answer")
        return model, answer

    def _judge_variants(
        self,
        contract: ContractSession,
        case: str,
        vary: Callable[[Any], Iterator[tuple[str, Any]]],
        judge: Callable[[str, Any, Any], str | None],
    ) -> tuple[int, list[str]]:
        """Serve each variant of the case's answer; ``judge(label, result, plain)`` each."""
        wire = contract.require_wire()
        model, answer = self._answer(contract, case)
        call = path_named(_CASES[case][0])
        contract.use_server(answer)
        plain = contract.invoke(call, model)
        rendered = answer(contract.server.requests[-1])
        variants = list(json_variants(wire, rendered, vary, streamed=call.streamed))
        failures: list[str] = []
        for label, reply in variants:

            def scenario(_request: CapturedRequest, reply: Reply = reply) -> Reply:
                return reply

            contract.use_server(scenario)
            try:
                result = contract.invoke(call, model, limit=10.0)
            except Exception as exc:  # noqa: BLE001 - each variant is judged on its own
                foreign = _foreign(exc)
                if foreign:
                    failures.append(f"{label}: {foreign}"[:200])
                continue
            problem = judge(label, result, plain)
            if problem:
                failures.append(f"{label}: {problem}"[:200])
        return len(variants), failures

    @clause("errors.odd_items")
    @pytest.mark.parametrize("case", list(_CASES))
    def test_errors_odd_items(self, contract: ContractSession, case: str) -> None:
        """An odd item first in a list of an answer is refused or skipped; the rest is kept."""

        def judge(_label: str, result: Any, plain: Any) -> str | None:
            problem = ill_typed(result, _CASES[case][0]) or reasoning_problem(result)
            if problem:
                return problem
            return lost_items(_summary(result), _summary(plain))

        count, failures = self._judge_variants(contract, case, odd_item_variants, judge)
        if not count:
            pytest.skip(f"not declared: the {case} answer holds no list of objects")
        assert not failures, (
            f"{case}: {len(failures)} of {count} answers with an odd item first in a list "
            "lost items, changed the result or let a foreign exception escape (skip the odd "
            "item or raise an LmuxError): " + "; ".join(failures[:3])
        )

    @clause("errors.odd_values")
    @pytest.mark.parametrize("case", list(_CASES))
    def test_errors_odd_values(self, contract: ContractSession, case: str) -> None:
        """A field of any answer missing, null or mistyped gives typed values or an LmuxError.

        As ``errors.odd_fields`` varies answers, on reasoning answers too, and judges what
        it does not: reasoning (text, signature), request ids, model and provider names.
        """
        path = _CASES[case][0]

        def judge(_label: str, result: Any, _plain: Any) -> str | None:
            return ill_typed(result, path) or reasoning_problem(result) or metadata_problem(result)

        count, failures = self._judge_variants(contract, case, odd_variants, judge)
        assert count, f"{case}: the answer holds no JSON field to vary"
        assert not failures, (
            f"{case}: {len(failures)} of {count} odd answers gave an ill-typed result or let a "
            "foreign exception escape (raise an LmuxError instead): " + "; ".join(failures[:3])
        )

    @clause("requests.forced_tool")
    @pytest.mark.parametrize("forced", [str(t["function"]["name"]) for t in _TOOLS])
    def test_requests_forced_tool(self, contract: ContractSession, forced: str) -> None:
        """A tool choice naming any one of the tools offered lets the model call that one only.

        ``requests.tool_choice`` names one tool; this names each in turn, so a plugin that
        matches the name by anything but equality (or keeps the first tool) is seen. The
        choice names the tool with an equal string that is not the same object (a program's
        tool choice comes from elsewhere than its tool list): matching by identity fails.
        """
        wire = reads_tool_choices(contract)
        model = serve_canonical(contract, "chat", Capability.CHAT, Capability.TOOLS)
        named = "".join(list(forced))  # equal to the tool's name, another object
        assert named == forced and named is not forced
        params = contract.params(tools=list(_TOOLS), tool_choice=ToolChoice.function(named))
        prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        try:
            contract.run(contract.registry.achat(contract.ref(model), prompt, **params))
        except UnsupportedFeatureError as exc:
            skip_refused(contract, exc, f"forcing the named tool {forced}")
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            pytest.fail(f"forcing {forced}, a tool the request offers, raised {exc!r}")
        seen = wire.tool_use(contract.server.requests[-1])
        expected = ToolUse(forced=True, callable=frozenset({forced}))
        check_tool_use(seen, expected, f"tool_choice naming {forced}")

    @clause("types.json_as_text")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_json_as_text(self, contract: ContractSession, path: str) -> None:
        """A json_schema request answered with the JSON as plain text gives that text.

        However the plugin asks for JSON (a response format, or a tool the body forces, as
        on Anthropic's wire), a model may answer with the JSON as ordinary text (Claude
        does when thinking is on and no tool can be forced): the text must come through,
        held back or not, exactly once, finishing with ``stop``.
        """
        wire = contract.require_wire()
        streamed = path == "stream"
        capability = Capability.STREAM if streamed else Capability.CHAT
        model = contract.model(capability, Capability.JSON_SCHEMA)

        def answer(request: CapturedRequest) -> Reply:
            if streamed:
                return wire.reply_stream(wire.stream(request, _JSON_PIECES, canon.USAGE))
            return wire.chat(request, "".join(_JSON_PIECES), canon.USAGE)

        contract.use_server(answer)
        schema = {"name": "weather", "schema": _JSON_SCHEMA}
        params = contract.params(response_format={"type": "json_schema", "json_schema": schema})
        ref, prompt = contract.ref(model), [{"role": "user", "content": canon.TOOL_PROMPT}]
        if streamed:
            chunks = contract.collect(contract.registry.achat_stream(ref, prompt, **params))
            text = "".join(c.delta for c in chunks)
            finishes = [c.finish_reason for c in chunks if c.finish_reason is not None]
        else:
            response = contract.run(contract.registry.achat(ref, prompt, **params))
            assert isinstance(response, ChatResponse), f"chat gave {type(response).__name__}"
            text, finishes = response.content or "", [response.finish_reason]
        assert text == "".join(_JSON_PIECES), (
            f"{path}: the JSON answered as text came back as {text!r:.200}"
        )
        assert finishes == [FinishReason.STOP], f"{path}: finish reasons {finishes}"

    @clause("errors.error_event_ends_stream")
    def test_errors_error_event_ends_stream(self, contract: ContractSession) -> None:
        """Nothing after a mid-stream error event reaches the caller, however the bytes arrive.

        The whole stream comes in one read (an error event after the first piece, then the
        rest, as ``errors.stream_error_event`` sends it): a plugin that hands out the
        events of that read after the error, and raises only at the end, delivers text the
        provider disowned.
        """
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)
        event = wire.stream_error(canon.STREAM_ERROR_MESSAGE)

        def scenario(request: CapturedRequest) -> Reply:
            rendering = wire.stream(request, canon.TEXT_PIECES, canon.USAGE)
            index = piece_frame(rendering.frames, canon.TEXT_PIECES[0]) + 1
            frames = (*rendering.frames[:index], event, *rendering.frames[index:])
            # One chunk: every event arrives in the same read.
            return Reply(200, {"content-type": rendering.content_type}, (b"".join(frames),))

        contract.use_server(scenario)
        received: list[ChatChunk] = []

        async def consume() -> BaseException | None:
            stream = contract.registry.achat_stream(
                contract.ref(model), [{"role": "user", "content": canon.CHAT_PROMPT}]
            )
            try:
                async for chunk in stream:
                    received.append(chunk)  # noqa: PERF401 - kept up to the error
            except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
                return exc
            return None

        error = contract.run(consume())
        text = "".join(c.delta for c in received)
        assert error is not None, f"the stream ended without raising the error event: {text!r}"
        foreign = _foreign(error)
        assert foreign is None, f"the error event raised a foreign exception: {foreign}"
        assert text in ("", canon.TEXT_PIECES[0]), (
            f"text after the error event reached the caller before the error: {text!r}"
        )

    @clause("reasoning.small_cap")
    @pytest.mark.parametrize("max_tokens", [1000, 1024, 3000])
    def test_reasoning_small_cap(self, contract: ContractSession, max_tokens: int) -> None:
        """Reasoning under a small max_tokens sends settings the API accepts, or is refused.

        ``reasoning.effort_levels`` leaves the token cap to the plugin; a caller who sets
        one below a level's budget gets the budget fitted under it (where the API still
        takes it) or a refusal before any I/O, never a body the API refuses.
        """
        wire = contract.require_wire()
        check = getattr(wire, "reasoning_refusal", None)
        if not callable(check):
            pytest.skip(f"not declared: the wire {wire.name!r} does not check reasoning settings")
        contract.model(Capability.CHAT, Capability.REASONING)
        wanted = {Capability.CHAT, Capability.REASONING}
        models = [
            m.id for m in contract.spec.models if wanted <= contract.spec.capabilities_of(m.id)
        ]
        contract.use_server(contract.canonical("chat"))
        for model in models:
            for level in ("low", "high"):
                before = len(contract.server.requests)
                params = contract.params(reasoning_effort=level, max_tokens=max_tokens)
                try:
                    contract.run(
                        contract.registry.achat(
                            contract.ref(model), [UserMessage(canon.CHAT_PROMPT)], **params
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
                    foreign = _foreign(exc)
                    assert foreign is None, f"{model} {level}/{max_tokens}: {foreign}"
                    assert len(contract.server.requests) == before, (
                        f"{model}: reasoning_effort={level!r}, max_tokens={max_tokens}: "
                        f"{type(exc).__name__} after the request was sent: {exc}"
                    )
                    continue
                refusal = check(contract.server.requests[-1])
                assert refusal is None, (
                    f"{model}: reasoning_effort={level!r} with max_tokens={max_tokens} sends "
                    f"reasoning settings the API refuses: {refusal}"
                )

    @clause("requests.image_detail")
    def test_requests_image_detail(self, contract: ContractSession) -> None:
        """An image's detail level reaches the body; an image without one sends none.

        On a wire whose API reads a detail per image (``image_details``: Chat Completions'
        and Cohere's ``image_url.detail``), ``ImageContent(detail="low")`` must arrive as
        ``low`` (dropped, the API spends the default, often high, tokens on it), and an
        image without a detail must not send one (a ``null`` detail is refused).
        """
        wire = contract.require_wire()
        read = getattr(wire, "image_details", None)
        if not callable(read):
            pytest.skip(f"not declared: the wire {wire.name!r} reads no image detail")
        model = contract.model(Capability.CHAT, Capability.VISION)
        contract.use_server(contract.canonical("chat"))
        text = "Compare these two pictures ✓."
        prompt = [
            UserMessage(
                (
                    TextContent(text),
                    ImageContent(url=_IMAGE_LINKS[0], detail="low"),
                    ImageContent(url=_IMAGE_LINKS[1]),
                )
            )
        ]
        try:
            contract.run(contract.registry.achat(contract.ref(model), prompt, **contract.params()))
        except UnsupportedFeatureError as exc:
            skip_refused(contract, exc, "image details")
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            pytest.fail(f"two images, one with detail='low', raised {exc!r}")
        details = read(contract.server.requests[-1])
        assert details == ["low", None], (
            f"the body's image details are {details}; expected ['low', None] (the first image "
            "asked for low detail, the second for none)"
        )
