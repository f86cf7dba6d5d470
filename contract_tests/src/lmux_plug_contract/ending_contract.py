"""Contract clauses on where answers end and what a body can carry: cut answers, NaN.

:class:`EndingContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Mutation testing of the OpenAI codec on a held-out draw (seed 89) left alive a stream
decoder whose ``close()`` read past a one-chunk flush (an ``IndexError`` for a stream whose
last event lacked its closing blank line) and a body check that let ``json``'s
``ValueError`` out for a NaN in ``extra_body``. The canonical exchange ends every answer
cleanly, on a frame boundary, and sends only numbers JSON can carry:

- ``errors.cut_stream[field|data_line|mid_json|mid_utf8|no_blank_line|half_blank_line]``:
  the canonical text stream, cut inside one frame (each frame in turn), then ended
  cleanly (the HTTP body is complete: no transport error tells the plugin). Cut after one
  byte of a line's field name, after a ``data:`` line's field (the value not begun), in
  the middle of the frame's JSON, inside a multi-byte UTF-8 character, before the frame's
  closing blank line, or halfway through it. Each cut gives a ``ProviderError``, or, where
  nothing the answer says was lost (the SSE spec drops an unterminated last event, and a
  plugin may as well take it), the whole answer: the text, one finish reason and the
  usage of the uncut stream. Never a foreign exception (``IndexError``, ``KeyError``,
  ``UnicodeDecodeError``) and never a silently short answer.
- ``errors.cut_body[chat|embed]``: the canonical answer's body cut after one byte, inside
  a multi-byte character, halfway, and short of its last byte, sent whole with a matching
  ``content-length``; the same body with a byte UTF-8 does not allow (JSON is UTF-8, RFC
  8259 section 8.1); and bodies that are no JSON at all (a proxy's HTML page, plain text).
  Each gives a ``ProviderError``.
- ``requests.non_finite[extra_nan|extra_inf|nested|embed|tool_schema]``: a NaN or an
  infinity in ``extra_body`` (on a chat, a stream and an embeddings call, and nested in a
  list) or in a tool's parameter schema. JSON has no such numbers (RFC 8259 section 6):
  the request is refused with ``InvalidRequestError`` before any I/O, never sent with the
  value changed (``null``, a string). A plugin that rewrites a tool schema may leave the
  number out, and one that sends no ``extra_body`` on a path leaves it out there
  (``requests.extra_body`` judges that): a strict JSON body without the member passes.
  A plugin that does not serve the call at all (``UnsupportedFeatureError`` before any
  I/O) skips.

Each is skipped, saying so, where the provider does no HTTP or lacks the capability.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import attrs
import pytest
from lmux_plug import Capability
from lmux_plug import InvalidRequestError
from lmux_plug import PluginError
from lmux_plug import ProviderError
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import PROBE
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._calls import report_failures
from lmux_plug_contract._calls import skip_refused
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._frames import split_inside_characters
from lmux_plug_contract._paths import path_named
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["EndingContract"]

#: Where in a frame (or a body) a cut falls: a byte offset, or None where it does not apply.
Cut = Callable[[bytes], "int | None"]


def _one_byte(_data: bytes) -> int:
    return 1


def _json_start(frame: bytes) -> int | None:
    start = frame.find(b"{")
    return start if start > 0 else None


def _json_middle(data: bytes) -> int | None:
    start, end = data.find(b"{"), data.rfind(b"}")
    return (start + end + 1) // 2 if 0 <= start < end else None


def _first_inside_character(data: bytes) -> int | None:
    inside = split_inside_characters(data)
    return inside[0] if inside else None


def _before_blank_line(frame: bytes) -> int | None:
    kept = len(frame.rstrip(b"\r\n"))
    return kept if kept < len(frame) else None


def _inside_blank_line(frame: bytes) -> int | None:
    for ending in (b"\r\n\r\n", b"\n\n"):
        if frame.endswith(ending):
            return len(frame) - len(ending) // 2
    return None


#: cut -> where it falls in one frame of a stream.
STREAM_CUTS: dict[str, Cut] = {
    "field": _one_byte,
    "data_line": _json_start,
    "mid_json": _json_middle,
    "mid_utf8": _first_inside_character,
    "no_blank_line": _before_blank_line,
    "half_blank_line": _inside_blank_line,
}


def _cut_at(where: Cut) -> Callable[[bytes], bytes | None]:
    def cut(body: bytes) -> bytes | None:
        offset = where(body)
        return body[:offset] if offset is not None and 0 < offset < len(body) else None

    return cut


def _not_utf8(body: bytes) -> bytes | None:
    # The lead byte of the first multi-byte character replaced by one UTF-8 never uses.
    inside = _first_inside_character(body)
    return None if inside is None else body[: inside - 1] + b"\xff" + body[inside:]


#: broken body -> how it is made from the canonical one (None: it does not apply).
BODY_MANGLES: dict[str, Callable[[bytes], bytes | None]] = {
    "one_byte": _cut_at(_one_byte),
    "mid_utf8": _cut_at(_first_inside_character),
    "half": _cut_at(lambda body: len(body) // 2),
    "last_byte": _cut_at(lambda body: len(body.rstrip()) - 1),
    "not_utf8": _not_utf8,
    # What a proxy or a load balancer answers with a 200: no JSON at all.
    "html": lambda _body: b"<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    "text": lambda _body: b"upstream connect error or disconnect/reset before headers\n",
}
#: case -> (path, call parameters holding a number JSON cannot carry).
NON_FINITE: dict[str, tuple[str, dict[str, Any]]] = {
    "extra_nan": ("chat", {"extra_body": {"contract_weight": math.nan}}),
    "extra_inf": ("stream", {"extra_body": {"contract_weight": math.inf}}),
    "nested": ("chat", {"extra_body": {"contract_options": {"weights": [0.5, -math.inf]}}}),
    "embed": ("embed", {"extra_body": {"contract_weight": math.nan}}),
    "tool_schema": (
        "chat",
        {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_score",
                        "description": "Score a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"score": {"type": "number", "maximum": math.inf}},
                        },
                    },
                }
            ]
        },
    ),
}


def _not_cut(exc: BaseException) -> str | None:
    """Why ``exc`` is not how a cut answer must end (None: a ProviderError of the plugin's)."""
    if isinstance(exc, PluginError):
        return f"a foreign {type(exc.__cause__).__name__} escaped ({exc.__cause__})"
    if not isinstance(exc, ProviderError):
        return f"{type(exc).__name__} ({exc}), not a ProviderError"
    return None


def _strict_json(body: bytes) -> bool:
    """Whether ``body`` parses as JSON without the NaN and Infinity words RFC 8259 lacks."""

    def refuse(word: str) -> Any:
        raise ValueError(word)

    try:
        json.loads(body, parse_constant=refuse)
    except ValueError:
        return False
    return True


def _members(body: bytes) -> set[str]:
    """The top-level member names of a JSON object ``body`` (none for anything else)."""
    value = json.loads(body)
    return set(value) if isinstance(value, dict) else set()


class EndingContract:
    """Answers cut inside a frame or a body; request bodies with NaN or an infinity."""

    @clause("errors.cut_stream")
    @pytest.mark.parametrize("cut", list(STREAM_CUTS))
    def test_errors_cut_stream(self, contract: ContractSession, cut: str) -> None:
        """A stream ending anywhere inside a frame gives ProviderError or the whole answer."""
        wire = contract.require_wire()
        model = contract.model(Capability.STREAM)
        where = STREAM_CUTS[cut]
        # (frame index, offset) of the cut being tried; None: the whole stream.
        trying: list[tuple[int, int] | None] = [None]

        def scenario(request: CapturedRequest) -> Reply:
            reply = wire.reply_stream(wire.stream(request, canon.TEXT_PIECES, canon.USAGE))
            if trying[0] is None:
                return reply
            index, offset = trying[0]
            chunks = (*reply.chunks[:index], reply.chunks[index][:offset])
            return attrs.evolve(reply, chunks=chunks)

        contract.use_server(scenario)
        ref, prompt = contract.ref(model), [UserMessage(canon.CHAT_PROMPT)]
        whole = ask(contract, ref, prompt, contract.params(), "stream")
        sent = contract.server.requests[-1]
        frames = wire.reply_stream(wire.stream(sent, canon.TEXT_PIECES, canon.USAGE)).chunks
        failures: list[str] = []
        tried = 0
        for index, frame in enumerate(frames):
            offset = where(frame)
            if offset is None or not 0 < offset < len(frame):
                continue
            tried += 1
            trying[0] = (index, offset)
            what = f"frame {index} ({frame[:24]!r}...) cut at byte {offset} of {len(frame)}"
            try:
                said = ask(contract, ref, prompt, contract.params(), "stream")
            except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
                wrong = _not_cut(exc)
                if wrong is not None:
                    failures.append(f"{what}: {wrong}")
                continue
            if (said.text, said.finishes, said.usages[-1:]) != (
                whole.text,
                whole.finishes,
                whole.usages[-1:],
            ):
                failures.append(
                    f"{what}: a short answer (text {said.text!r}, finishes {said.finishes}, "
                    f"usage {said.usages[-1:]}), not a ProviderError"
                )
        if not tried:
            pytest.skip(f"not declared: no frame of the wire's stream has a {cut} cut")
        report_failures(failures, tried, "cut streams were not refused", cut)

    @clause("errors.cut_body")
    @pytest.mark.parametrize("path", ["chat", "embed"])
    def test_errors_cut_body(self, contract: ContractSession, path: str) -> None:
        """A whole answer's body cut short, or not JSON, raises ProviderError."""
        call = path_named(path)
        answer = contract.canonical(call.kind)  # skips where the suite has no wire
        model = contract.model(call.capability)
        # The broken bodies that apply to this wire's answer (a probe rendering tells).
        probe = b"".join(answer(PROBE).chunks)
        broken = {name: mangle for name, mangle in BODY_MANGLES.items() if mangle(probe)}
        trying: list[Callable[[bytes], bytes | None]] = []

        def scenario(request: CapturedRequest) -> Reply:
            reply = answer(request)
            return attrs.evolve(reply, chunks=(trying[0](b"".join(reply.chunks)) or b"",))

        contract.use_server(scenario)
        failures: list[str] = []
        for name, mangle in broken.items():
            trying[:] = [mangle]
            what = f"{name} ({mangle(probe)!r:.40}...)"
            try:
                result = contract.invoke(call, model)
            except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
                wrong = _not_cut(exc)
                if wrong is not None:
                    failures.append(f"{what}: {wrong}")
                continue
            failures.append(f"{what}: gave a result {result!r:.120}")
        report_failures(failures, len(broken), "broken bodies were not refused", path)

    @clause("requests.non_finite")
    @pytest.mark.parametrize("case", list(NON_FINITE))
    def test_requests_non_finite(self, contract: ContractSession, case: str) -> None:
        """A NaN or infinity in a request is InvalidRequestError before any I/O."""
        contract.require_wire()
        path, params = NON_FINITE[case]
        call = path_named(path)
        needs = (Capability.TOOLS,) if case == "tool_schema" else ()
        model = contract.model(call.capability, *needs)
        contract.use_server(contract.canonical(call.kind))
        ref = contract.ref(model)
        what = f"{case}: a request holding a number JSON cannot carry"
        try:
            if path == "embed":
                contract.run(contract.registry.aembed(ref, list(canon.EMBED_INPUTS), **params))
            else:
                ask(
                    contract, ref, [UserMessage(canon.CHAT_PROMPT)], contract.params(**params), path
                )
        except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
            fail_foreign(exc, what)
            if isinstance(exc, UnsupportedFeatureError):
                skip_refused(contract, exc, f"the {path} call of {case}")
            assert isinstance(exc, InvalidRequestError), (
                f"{what} raised {type(exc).__name__}, not InvalidRequestError: {exc}"
            )
            assert not contract.server.requests, f"{what} was refused only after it was sent"
            return
        sent = contract.server.requests[-1].body if contract.server.requests else b""
        # Sent, the number may only be left out: a tool schema rewritten without it, or
        # extra_body not sent on this path at all (requests.extra_body judges that).
        extra = params.get("extra_body", {})
        assert _strict_json(sent) and not extra.keys() & _members(sent), (
            f"{what} was sent (the body: {sent[:120]!r}); JSON has no NaN or infinity: "
            "refuse it with InvalidRequestError before any I/O"
        )
