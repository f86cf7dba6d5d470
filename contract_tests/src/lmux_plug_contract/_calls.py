"""What the clause modules share: making a chat or stream call and judging what came back.

Every clause module (``contract.py`` and its mixins) reads answers the same way: a stream's
tool-call deltas reassembled into calls, a foreign exception failed with the same words, a
JSON body's leaves walked the same way. One definition here keeps the verdicts identical
across clause families (they once differed in wording and in what counted as a leaf).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import NoReturn

import attrs
import pytest
from lmux_plug import Capability
from lmux_plug import ChatChunk
from lmux_plug import ChatResponse
from lmux_plug import FinishReason
from lmux_plug import LmuxError
from lmux_plug import PluginError
from lmux_plug import ThinkingBlock
from lmux_plug import ToolCall
from lmux_plug import Usage
from lmux_plug.testing.streams import tool_calls_of

from lmux_plug_contract import _canon as canon
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug import Registry

    from lmux_plug_contract._paths import Kind
    from lmux_plug_contract._session import ContractSession
    from lmux_plug_contract.wires import ToolUse
    from lmux_plug_contract.wires import WireFormat

#: A request to render against when a clause only asks whether the wire renders at all.
PROBE = CapturedRequest("POST", "/", {}, {}, b"{}")


def fail_foreign(exc: BaseException, what: str) -> None:
    """Fail the clause unless ``exc`` is an ``LmuxError`` the plugin raised itself."""
    if isinstance(exc, PluginError):
        pytest.fail(
            f"{what}: the plugin let a foreign exception escape "
            f"({type(exc.__cause__).__name__}: {exc.__cause__}); map it to an LmuxError"
        )
    if not isinstance(exc, LmuxError):
        pytest.fail(f"{what}: raised {type(exc).__name__} ({exc}), not an LmuxError")


#: The tool calls a stream's deltas make, joined by their index, in index order.
reassemble = tool_calls_of


def json_leaves(value: Any) -> Iterator[Any]:
    """Every leaf value (strings, numbers, booleans, nulls) of a JSON document."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from json_leaves(item)
    else:
        yield value


def json_texts(value: Any) -> Iterator[str]:
    """Every string leaf of a JSON document."""
    return (leaf for leaf in json_leaves(value) if isinstance(leaf, str))


def serve_canonical(contract: ContractSession, kind: Kind, *capabilities: Capability) -> str:
    """A model declaring ``capabilities``, the server answering canonically with ``kind``.

    Skips as :meth:`ContractSession.require_wire` and :meth:`ContractSession.model` do.
    """
    contract.require_wire()
    model = contract.model(*capabilities)
    contract.use_server(contract.canonical(kind))
    return model


def reads_tool_choices(contract: ContractSession) -> WireFormat:
    """The session's wire, or skip: it cannot read a body's tool choice back (``tool_use``)."""
    wire = contract.require_wire()
    try:
        wire.tool_use(PROBE)
    except NotImplementedError:
        pytest.skip(f"not declared: the wire {wire.name!r} does not read tool choices")
    except ValueError:
        pass  # the probe is an empty body: the wire reads it and finds no tools
    return wire


def _described(use: ToolUse) -> str:
    names = ", ".join(sorted(use.callable)) or "no tool"
    return f"{'must call' if use.forced else 'may call'} {names}"


def check_tool_use(seen: ToolUse, expected: ToolUse, what: str) -> None:
    """Fail unless a body lets the model call the tools ``expected`` names, forced as it says."""
    assert seen == expected, (
        f"{what}: the body lets the model {_described(seen)}; expected it {_described(expected)}"
    )


def refused_before_io(contract: ContractSession, exc: BaseException, what: str) -> None:
    """Fail when ``what`` was refused only after its request reached the server."""
    assert not contract.server.requests, f"{what} was refused after the request was sent: {exc}"


def skip_refused(contract: ContractSession, exc: BaseException, what: str) -> NoReturn:
    """Skip a clause whose ``what`` the provider refuses, failing if it refused it too late."""
    refused_before_io(contract, exc, what)
    pytest.skip(f"not declared: the provider refuses {what}: {exc}")


def check_tool_finish(wire: WireFormat | None, finish: FinishReason | None, what: str) -> None:
    """Fail unless ``finish`` is how the wire (or, without one, any API) ends tool calls."""
    said = wire.tool_finish if wire is not None else None
    allowed = (said,) if said else (FinishReason.TOOL_CALLS, FinishReason.STOP)
    assert finish in allowed, (
        f"{what}: finish_reason {finish} for tool calls "
        f"(expected {' or '.join(str(a) for a in allowed)})"
    )


def undeclared_model(contract: ContractSession, capability: Capability, what: str) -> str:
    """A model that does not declare ``capability`` (the fallback id if every declared one does).

    Skips when every model, the fallback id included, declares it (``what`` names it).
    """
    candidates = [*(s.id for s in contract.spec.models), "contract-model"]
    model = next(
        (m for m in candidates if capability not in contract.spec.capabilities_of(m)), None
    )
    if model is None:
        pytest.skip(f"every model declares {what!r}")
    return model


def failing_registry(contract: ContractSession) -> Registry:
    """A fresh registry with the session's key whose server answers every call with a 500.

    For the clauses about calls that must fail before any I/O: a call that reaches the
    server anyway is seen there, not mistaken for a refusal.
    """
    registry = contract.new_registry()
    if contract.key_in_use:
        registry.configure(contract.provider, api_key=contract.key_in_use)
    contract.use_server(lambda _r: Reply(500), registry)
    return registry


def report_failures(failures: Sequence[str], tried: int, what: str, case: str = "") -> None:
    """Fail naming the first three ``failures`` of ``tried`` attempts (``what`` went wrong).

    ``case`` (the parametrised case, if any) heads the message.
    """
    head = f"{case}: " if case else ""
    assert not failures, f"{head}{len(failures)} of {tried} {what}: " + "; ".join(failures[:3])


@attrs.frozen
class Answer:
    """A chat answer, or a drained stream, read the way the clauses compare them.

    ``chunks`` is empty for a chat answer; ``finishes`` holds every finish reason reported
    (one for a chat answer, one per terminal chunk for a stream).
    """

    text: str
    calls: list[ToolCall]
    finishes: list[FinishReason]
    chunks: list[ChatChunk]
    #: The reasoning blocks, the reasoning text (redacted blocks have none) and every usage.
    thinking: list[ThinkingBlock]
    thought: str
    usages: list[Usage]
    #: The request ids the answer reports (a stream's chunks may each carry one).
    request_ids: set[str]

    @classmethod
    def of(cls, result: ChatResponse | list[ChatChunk]) -> Answer:
        """Read a chat answer or a drained stream (failing on anything else)."""
        if isinstance(result, list):
            return cls(
                text="".join(c.delta for c in result),
                calls=reassemble(result),
                finishes=[c.finish_reason for c in result if c.finish_reason is not None],
                chunks=result,
                thinking=[b for c in result for b in c.thinking],
                thought="".join(c.thinking_delta for c in result),
                usages=[c.usage for c in result if c.usage is not None],
                request_ids={c.request_id for c in result if c.request_id is not None},
            )
        assert isinstance(result, ChatResponse), f"chat returned {type(result).__name__}"
        return cls(
            text=result.content or "",
            calls=list(result.tool_calls),
            finishes=[result.finish_reason],
            chunks=[],
            thinking=list(result.thinking),
            thought="".join(b.text for b in result.thinking if not b.redacted),
            usages=[result.usage],
            request_ids={result.request_id} if result.request_id is not None else set(),
        )

    @property
    def indexes(self) -> list[int]:
        """The distinct tool-call indexes a stream's deltas carry, sorted."""
        return sorted({d.index for c in self.chunks for d in c.tool_call_deltas})

    @property
    def last_finish(self) -> FinishReason | None:
        """The last finish reason reported, or None when there was none."""
        return self.finishes[-1] if self.finishes else None

    def finish(self, path: str) -> FinishReason:
        """The one finish reason, failing when a stream had not exactly one terminal chunk."""
        assert len(self.finishes) == 1, f"{path}: {len(self.finishes)} terminal chunks (expected 1)"
        return self.finishes[0]


def ask(
    contract: ContractSession, ref: str, prompt: Sequence[Any], params: dict[str, Any], path: str
) -> Answer:
    """Call ``ref`` as a chat (``path`` ``"chat"``) or a drained stream, and read the answer."""
    if path == "stream":
        return Answer.of(contract.collect(contract.registry.achat_stream(ref, prompt, **params)))
    return Answer.of(contract.run(contract.registry.achat(ref, prompt, **params)))


def rendered_answer(
    wire: WireFormat, method: str, path: str, whole: tuple[Any, ...], pieces: tuple[Any, ...]
) -> Callable[[CapturedRequest], Reply]:
    """The server's answer rendered by the wire's optional ``<method>_<path>``, or skip.

    A chat answer is ``render(request, *whole)``; a stream ``render(request, *pieces)``
    sent as a stream.
    """
    render = getattr(wire, f"{method}_{path}", None)
    if not callable(render):
        pytest.skip(f"not declared: the wire {wire.name!r} renders no {method}_{path}")
    if path == "stream":
        return lambda request: wire.reply_stream(render(request, *pieces))
    return lambda request: render(request, *whole)


def tool_calls_answer(
    wire: WireFormat, calls: Sequence[ToolCall], pieces: Sequence[Sequence[str]], path: str
) -> Callable[[CapturedRequest], Reply]:
    """The server's answer calling every one of ``calls``, or skip: the wire renders none."""
    streamed = path == "stream"
    try:
        if streamed:
            wire.tool_calls_stream(PROBE, calls, pieces, canon.USAGE)
        else:
            wire.tool_calls_chat(PROBE, calls, canon.USAGE)
    except NotImplementedError:
        pytest.skip(f"not declared: the wire {wire.name!r} renders no answer with two calls")

    def answer(request: CapturedRequest) -> Reply:
        if streamed:
            return wire.reply_stream(wire.tool_calls_stream(request, calls, pieces, canon.USAGE))
        return wire.tool_calls_chat(request, calls, canon.USAGE)

    return answer


def _frame_document(frame: bytes) -> Any:
    start, end = frame.find(b"{"), frame.rfind(b"}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(frame[start : end + 1])
    except ValueError:
        return None


def _shape(value: Any) -> Any:
    """The keys of a JSON document without its values: the frames of one kind share it."""
    if isinstance(value, dict):
        return tuple(sorted((k, _shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_shape(v) for v in value[:1])
    return type(value).__name__


def json_variants(
    wire: WireFormat,
    rendered: Reply,
    vary: Callable[[Any], Iterator[tuple[str, Any]]],
    *,
    streamed: bool,
) -> Iterator[tuple[str, Reply]]:
    """``vary`` applied to a whole rendered body, or to each kind of stream frame in turn.

    Frames of one kind (the same keys) are varied once: the first of them stands for all.
    """
    if not streamed:
        document = json.loads(b"".join(rendered.chunks))
        for label, odd in vary(document):
            body = json.dumps(odd, ensure_ascii=False).encode()
            yield label, Reply(rendered.status, rendered.headers, (body,))
        return
    frames = list(rendered.chunks)
    seen: set[Any] = set()
    for index, frame in enumerate(frames):
        document = _frame_document(frame)
        if not isinstance(document, dict) or _shape(document) in seen:
            continue
        seen.add(_shape(document))
        for label, odd in vary(document):
            payload = json.dumps(odd, ensure_ascii=False).encode()
            odd_frame = wire.replace_event_json(frame, payload)
            changed = (*frames[:index], odd_frame, *frames[index + 1 :])
            reply = Reply(rendered.status, rendered.headers, changed, stream=True)
            yield f"event {index} {label}", reply
