"""Contract clauses that look inside the bodies: the tool choice sent, odd fields received.

:class:`DepthContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Its clauses were added when mutation testing (``contract_tests/mutation``) showed the
suite let codec defects live that only show deep inside a body:

- ``requests.tool_choice``: each tool choice (the default, ``auto``, ``none``,
  ``required``, one named function) must reach the body as the real API reads it, which
  the wire tells (:meth:`~lmux_plug_contract.wires.WireFormat.tool_use`): which tools the
  model may call and whether it must call one;
- ``types.answered_model``: an answer that names the model which answered (a dated
  snapshot of the one asked for, as real APIs do) is reported with that model;
- ``errors.odd_fields``: every field of a real answer (a chat answer, a tool call, each
  kind of stream event, embeddings) removed (list items too), set to ``null`` or to a
  value of another JSON type must give an ``LmuxError`` or a result that is still well
  typed (text is text, one terminal chunk with a ``FinishReason``, counts are integers,
  one vector per input): never a foreign exception, never an odd value passed through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import attrs
import pytest
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import EmbeddingResponse
from lmux_plug import FinishReason
from lmux_plug import LmuxError
from lmux_plug import PluginError
from lmux_plug import ToolCall
from lmux_plug import ToolCallDelta
from lmux_plug import ToolChoice
from lmux_plug import UnsupportedFeatureError
from lmux_plug import Usage
from lmux_plug.testing.wire_formats import EVERY_TOOL_CHOICE

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import check_tool_use
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._calls import json_texts as _texts
from lmux_plug_contract._calls import json_variants
from lmux_plug_contract._calls import reads_tool_choices
from lmux_plug_contract._calls import report_failures
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._paths import Kind
from lmux_plug_contract._paths import path_named
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import ToolUse

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = [
    "FINISH_FIELDS",
    "TOOL_CHOICES",
    "DepthContract",
    "fields_of",
    "odd_field",
    "odd_variants",
    "text_or_none",
    "unstated_finish_problem",
]

#: The shared verdict under the name modules importing it from here have used.
_fail_foreign = fail_foreign

#: The tool choices ``requests.tool_choice`` sends (``default``: none passed).
TOOL_CHOICES = EVERY_TOOL_CHOICE
_TOOLS: tuple[dict[str, Any], ...] = (canon.WEATHER_TOOL, canon.TIME_TOOL)
_FUNCTIONS: tuple[dict[str, Any], ...] = tuple(t["function"] for t in _TOOLS)
_NAMES = frozenset(str(f["name"]) for f in _FUNCTIONS)
_FORCED_NAME = str(_FUNCTIONS[1]["name"])
_EXPECTED = {
    "default": ToolUse(forced=False, callable=_NAMES),
    "auto": ToolUse(forced=False, callable=_NAMES),
    "none": ToolUse(forced=False, callable=frozenset()),
    "required": ToolUse(forced=True, callable=_NAMES),
    "function": ToolUse(forced=True, callable=frozenset({_FORCED_NAME})),
}
#: case -> (the canonical answer ``errors.odd_fields`` distorts, the call that receives it).
ODD_CASES: dict[str, tuple[Kind, str]] = {
    "chat": ("chat", "chat"),
    "tools_chat": ("tools_chat", "chat"),
    "stream": ("stream", "stream"),
    "tools_stream": ("tools", "stream"),
    "embed": ("embed", "embed"),
}
_REMOVED = object()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) below the root of a JSON document, parents before children."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        yield (*prefix, key), item
        yield from _paths(item, (*prefix, key))


def _other_type(value: Any) -> Any:
    # Non-empty (so `value or default` does not hide it): a list for an object, an object
    # for a list or a scalar.
    return ["odd"] if isinstance(value, dict) else {"odd": 1}


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced (or removed)."""
    copy = json.loads(json.dumps(document))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if value is _REMOVED:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


def odd_variants(document: Any) -> Iterator[tuple[str, Any]]:
    """``document`` with each field removed, ``null``, or of another JSON type (labelled)."""
    for path, value in _paths(document):
        where = ".".join(map(str, path))
        # A key removed, or an item of a list (a choice, a vector, a part) missing.
        yield f"{where} removed", _set(document, path, _REMOVED)
        if value is not None:
            yield f"{where}=null", _set(document, path, None)
        other = _other_type(value)
        yield f"{where}={json.dumps(other)}", _set(document, path, other)
        if isinstance(value, (dict, list)):
            # A scalar where a container was: iterating it or reading a key raises.
            yield f"{where}=7", _set(document, path, 7)


class DepthContract:
    """Clauses about values deep inside request and answer bodies (mixed into the contract)."""

    @clause("requests.tool_choice")
    @pytest.mark.parametrize("choice", TOOL_CHOICES)
    def test_requests_tool_choice(self, contract: ContractSession, choice: str) -> None:
        """A tool choice reaches the body as the API reads it: the tools allowed, forced or not."""
        wire = reads_tool_choices(contract)
        model = serve_canonical(contract, "chat", Capability.CHAT, Capability.TOOLS)
        extra: dict[str, Any] = {"tools": list(_TOOLS)}
        if choice != "default":
            extra["tool_choice"] = (
                ToolChoice.function(_FORCED_NAME) if choice == "function" else choice
            )
        prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        try:
            contract.run(
                contract.registry.achat(contract.ref(model), prompt, **contract.params(**extra))
            )
        except Exception as exc:  # noqa: BLE001 - the clause is about what was raised
            fail_foreign(exc, f"tool_choice={choice}")
            # The request is valid (the choice names a tool it offers): a provider that cannot
            # honour it says so with UnsupportedFeatureError. InvalidRequestError would blame
            # the caller, and let a plugin that rejects what it should send pass as "refused".
            assert isinstance(exc, UnsupportedFeatureError), (
                f"tool_choice={choice} raised {type(exc).__name__}: {exc} (a choice the "
                "provider cannot honour is refused with UnsupportedFeatureError)"
            )
            assert not contract.server.requests, (
                f"tool_choice={choice} was refused after the request was sent"
            )
            # A choice the wire's API takes, with tools given, is valid input: a plugin may
            # say it does not support it, not that the caller's request is invalid.
            takes = choice in getattr(wire, "tool_choices", ())
            assert not takes or isinstance(exc, UnsupportedFeatureError), (
                f"tool_choice={choice} (which the API takes, tools given) was refused as "
                f"invalid input: {exc}"
            )
            pytest.skip(f"not declared: the provider refuses tool_choice={choice}: {exc}")
        sent = contract.server.requests[-1]
        try:
            seen = wire.tool_use(sent)
        except ValueError as exc:
            pytest.fail(f"tool_choice={choice}: {exc}")
        if seen.callable:
            # The model chooses by the descriptions and fills in the parameters' schema.
            texts = " ".join(_texts(sent.json()))
            for function in (f for f in _FUNCTIONS if f["name"] in seen.callable):
                assert function["description"] in texts, (
                    f"tool_choice={choice}: the description of {function['name']} "
                    "is not in the request body"
                )
            assert b'"city"' in sent.body, "the tools' parameter schemas are not in the body"
        check_tool_use(seen, _EXPECTED[choice], f"tool_choice={choice}")

    @clause("types.answered_model")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_types_answered_model(self, contract: ContractSession, path: str) -> None:
        """The model an answer names (a snapshot of the one asked for) is the one reported."""
        contract.require_wire()
        call = path_named(path)
        model = contract.model(call.capability)
        answered = f"{model}-2026-01-01"
        answer = contract.canonical(call.kind)
        contract.use_server(lambda request: answer(_naming(request, model, answered)))
        result = contract.invoke(call, model)
        rendered = answer(_naming(contract.server.requests[-1], model, answered))
        if answered.encode() not in b"".join(rendered.chunks):
            pytest.skip("not declared: the wire's answers name no model")
        reported = sorted({c.model for c in result if c.model} if call.streamed else {result.model})
        assert reported == [answered], (
            f"{path}: the answer names model {answered!r}, the result reports {reported}"
        )

    @clause("errors.odd_fields")
    @pytest.mark.parametrize("case", list(ODD_CASES))
    def test_errors_odd_fields(self, contract: ContractSession, case: str) -> None:
        """A field of an answer missing, null or of another type gives a result or an LmuxError.

        Every field of the canonical answer (and of each kind of stream event) is removed,
        set to ``null`` and set to a value of another JSON type, one at a time.
        """
        wire = contract.require_wire()
        kind, path = ODD_CASES[case]
        call = path_named(path)
        tools = [Capability.TOOLS] if kind in ("tools", "tools_chat") else []
        model = contract.model(call.capability, *tools)
        if kind == "tools_chat":
            try:
                wire.tool_chat(
                    CapturedRequest("POST", "/", {}, {}, b"{}"), canon.TOOL_CALL, canon.USAGE
                )
            except NotImplementedError:
                pytest.skip(f"not declared: the wire {wire.name!r} renders no non-streamed call")
        answer = contract.canonical(kind)
        # One canonical call, to render the answer to the request this plugin really sends.
        contract.use_server(answer)
        contract.invoke(call, model)
        probe = contract.server.requests[-1]
        rendered = answer(probe)
        variants = list(json_variants(wire, rendered, odd_variants, streamed=call.streamed))
        assert variants, f"{case}: the canonical answer holds no JSON field to vary"
        failures: list[str] = []
        for label, reply in variants:
            contract.use_server(_always(reply))
            try:
                result = contract.invoke(call, model, limit=10.0)
            except Exception as exc:  # noqa: BLE001 - each variant is judged on its own
                if isinstance(exc, PluginError):
                    cause = exc.__cause__
                    failures.append(f"{label}: {type(cause).__name__}: {cause}"[:160])
                elif not isinstance(exc, LmuxError):
                    failures.append(f"{label}: {type(exc).__name__}: {exc}"[:160])
                continue
            problem = ill_typed(result, call.name) or unstated_finish_problem(label, result)
            if problem:
                failures.append(f"{label}: {problem}"[:160])
        report_failures(
            failures,
            len(variants),
            "odd answers let a foreign exception escape or gave an ill-typed result "
            "(raise an LmuxError instead)",
            case,
        )


#: The field that states why an answer ended, on the wires the suite knows (OpenAI and
#: Cohere, Anthropic, Gemini, Bedrock, Ollama). A custom wire's other name is not judged.
FINISH_FIELDS = frozenset(
    {"finish_reason", "stop_reason", "finishReason", "stopReason", "done_reason"}
)


def unstated_finish_problem(label: str, result: Any) -> str | None:
    """A result whose finish contradicts its tool calls when the answer stated no finish.

    ``label`` names an odd variant (``... choices.0.finish_reason removed``). With the
    reason gone (removed or ``null``) a plugin may infer one, raise, or report ``other``;
    but ``tool_calls`` for an answer that calls no tool sends the caller looking for calls
    that are not there (a finish-reason default turned the wrong way round), and ``stop``
    for one that calls a tool ends the caller's agent loop with the calls unanswered.
    """
    for suffix in (" removed", "=null"):
        if label.endswith(suffix):
            # "event 4 choices.0.finish_reason" -> "finish_reason"
            field = label[: -len(suffix)].replace(" ", ".").rsplit(".", 1)[-1]
            break
    else:
        return None
    if field not in FINISH_FIELDS:
        return None
    finish: FinishReason | None
    if isinstance(result, ChatResponse):
        finish, calls = result.finish_reason, bool(result.tool_calls)
    elif isinstance(result, list) and all(isinstance(c, ChatChunk) for c in result):
        finishes = [c.finish_reason for c in result if c.finish_reason is not None]
        finish = finishes[-1] if finishes else None
        calls = any(c.tool_call_deltas for c in result)
    else:
        return None
    if finish is FinishReason.TOOL_CALLS and not calls:
        return f"{field} not stated and no tool called, yet the result reports tool_calls"
    if finish is FinishReason.STOP and calls:
        return f"{field} not stated and a tool called, yet the result reports stop"
    return None


def _always(reply: Reply) -> Callable[[CapturedRequest], Reply]:
    return lambda _request: reply


def _naming(request: CapturedRequest, model: str, answered: str) -> CapturedRequest:
    """``request`` as if it had asked for ``answered``: the wire then answers naming it."""
    body = request.json()
    if isinstance(body, dict) and body.get("model") == model:
        raw = json.dumps({**body, "model": answered}, ensure_ascii=False).encode()
        return attrs.evolve(request, body=raw)
    return attrs.evolve(request, path=request.path.replace(model, answered, 1))


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def text_or_none(value: Any) -> bool:
    """Whether ``value`` is what an optional text field holds: a string or None."""
    return value is None or isinstance(value, str)


def fields_of(item: Any, *names: str) -> dict[str, Any]:
    """``item``'s attributes ``names``, by name, to check their values' types."""
    # Any: the values are checked at run time, whatever the annotations promise.
    return {name: getattr(item, name) for name in names}


def odd_field(fields: Mapping[str, Any], fits: Callable[[Any], bool], kind: str = "") -> str | None:
    """The first of ``fields`` (by name) whose value does not fit, as "<kind><name> is <value>"."""
    odd = sorted(name for name, value in fields.items() if not fits(value))
    return f"{kind}{odd[0]} is {fields[odd[0]]!r}" if odd else None


def _usage_problem(usage: Any) -> str | None:
    if not isinstance(usage, Usage):
        return f"usage is {type(usage).__name__}"
    return odd_field(attrs.asdict(usage, recurse=False), _is_count, "usage.")


def _call_problem(call: Any) -> str | None:
    if isinstance(call, ToolCall):
        fields = fields_of(call, "id", "name", "arguments")
    elif isinstance(call, ToolCallDelta):
        if type(call.index) is not int:
            return f"tool-call delta index {call.index!r}"
        fields = {"arguments": call.arguments}
        fields.update({k: v for k, v in (("id", call.id), ("name", call.name)) if v is not None})
    else:
        return f"tool call is {type(call).__name__}"
    return odd_field(fields, _is_text, "tool-call ")


def ill_typed(result: Any, path: str) -> str | None:
    """What is not well typed in a successful result of ``path`` (None: all is)."""
    if path == "embed":
        if not isinstance(result, EmbeddingResponse):
            return f"embed gave {type(result).__name__}"
        if len(result.embeddings) != len(canon.EMBED_INPUTS):
            return f"{len(result.embeddings)} vectors for {len(canon.EMBED_INPUTS)} inputs"
        if not all(type(x) is float for vector in result.embeddings for x in vector):
            return "a vector holds something other than floats"
        return _usage_problem(result.usage)
    if path == "chat":
        if not isinstance(result, ChatResponse):
            return f"chat gave {type(result).__name__}"
        odd = odd_field(fields_of(result, "content", "refusal", "model"), text_or_none)
        if odd:
            return odd
        finish: Any = result.finish_reason
        if not isinstance(finish, FinishReason):
            return f"finish_reason is {finish!r}"
        problems = [_call_problem(c) for c in result.tool_calls]
        return next((p for p in problems if p), None) or _usage_problem(result.usage)
    if not isinstance(result, list) or not all(isinstance(c, ChatChunk) for c in result):
        return "the stream yielded something other than ChatChunks"
    deltas: list[Any] = [c.delta for c in result]
    if not all(isinstance(d, str) for d in deltas):
        return "a chunk's delta is not text"
    finishes = [c.finish_reason for c in result if c.finish_reason is not None]
    if len(finishes) != 1 or not isinstance(finishes[0], FinishReason):
        return f"finish reasons {finishes} (expected exactly one FinishReason)"
    problems = [_call_problem(d) for c in result for d in c.tool_call_deltas]
    problems += [_usage_problem(c.usage) for c in result if c.usage is not None]
    return next((p for p in problems if p), None)
