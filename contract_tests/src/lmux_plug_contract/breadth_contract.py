"""Contract clauses on answers and requests wider than the canonical ones.

:class:`BreadthContract` is a base class of :class:`~lmux_plug_contract.ProviderContract`.
Its clauses were added when mutation testing (``contract_tests/mutation``) showed codec
defects living where the canonical exchange is too narrow to reach:

- ``tools.several_calls``: an answer that calls two tools (whole, or streamed one call
  after the other) gives both calls, in order, each with its own id, name and arguments;
  a stream numbers them 0 and 1 (the canonical answer holds a single call, so a decoder
  that numbers or counts calls wrongly went unseen);
- ``requests.content_parts``: a user turn of text and one image (linked or inline), file
  (inline or by id) or audio part reaches the body with each part as the API reads it
  (the wire's :meth:`content_parts`), for the capability (``vision``, ``files``,
  ``audio``) the model declares; a part the provider cannot carry must be refused
  before any I/O (then the case is skipped);
- ``requests.extra_body``: provider-specific fields passed as ``extra_body`` (a number, and
  an object named to sort after the usual body fields) reach the JSON body as top-level
  members, unchanged;
- ``embeddings.extra_vector``: an answer holding one vector more than there were inputs is
  an ``LmuxError``, never a result whose vectors no longer match the inputs;
- ``embeddings.base64``: embeddings asked for with ``encoding_format="base64"`` are the
  same floats (the wire sends what the real API sends for it, base64 float32 for
  OpenAI); a provider that refuses the format before any I/O is not asked.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from typing import Any

import pytest
from lmux_plug import AudioContent
from lmux_plug import Capability
from lmux_plug import EmbeddingResponse
from lmux_plug import FileContent
from lmux_plug import ImageContent
from lmux_plug import InvalidRequestError
from lmux_plug import LmuxError
from lmux_plug import TextContent
from lmux_plug import UnsupportedFeatureError
from lmux_plug import UserMessage

from lmux_plug_contract import _canon as canon
from lmux_plug_contract._calls import PROBE as _PROBE
from lmux_plug_contract._calls import ask
from lmux_plug_contract._calls import check_tool_finish
from lmux_plug_contract._calls import fail_foreign
from lmux_plug_contract._calls import refused_before_io
from lmux_plug_contract._calls import serve_canonical
from lmux_plug_contract._calls import skip_refused
from lmux_plug_contract._calls import tool_calls_answer
from lmux_plug_contract._clauses import clause
from lmux_plug_contract._session import embed_usage
from lmux_plug_contract.wires import CapturedRequest
from lmux_plug_contract.wires import Reply

if TYPE_CHECKING:
    from lmux_plug_contract._session import ContractSession

__all__ = ["PARTS", "BreadthContract"]

#: Base64 payloads of the inline parts (short, not real media: only their transport counts).
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5Erk"
_PDF = "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg=="
_WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA="
_FILE_ID = "file-contract-0001"
#: With a query string, as signed and CDN image links have: a media type guessed from the
#: URL must look at its path.
_IMAGE_URL = "https://example.invalid/contract/cat.png?size=large&v=2"
_PART_TEXT = "Describe the attached part ✓."
#: Provider-specific body fields (``requests.extra_body``): names that no API uses, one an
#: object whose name sorts after ``options``/``messages`` (merged nowhere but the top).
_EXTRA_BODY: dict[str, Any] = {"lmux_contract_level": 3, "x_lmux_contract": {"mode": "é", "n": 2}}
#: case -> (the capability it needs, the part sent, what the API must read for it; None: a
#: part with nothing in it, which must be refused before any I/O).
PARTS: dict[str, tuple[Capability, Any, tuple[str, str] | None]] = {
    "image_url": (Capability.VISION, ImageContent(url=_IMAGE_URL), ("image", _IMAGE_URL)),
    "image_data": (Capability.VISION, ImageContent.from_base64(_PNG), ("image", _PNG)),
    "file_data": (
        Capability.FILES,
        FileContent(data=_PDF, filename="contract.pdf"),
        ("file", _PDF),
    ),
    "file_id": (Capability.FILES, FileContent(file_id=_FILE_ID), ("file", f"id:{_FILE_ID}")),
    "audio": (Capability.AUDIO, AudioContent(data=_WAV, format="wav"), ("audio", _WAV)),
    "empty_image": (Capability.VISION, ImageContent(url=""), None),
    "empty_file": (Capability.FILES, FileContent(), None),
    "empty_audio": (Capability.AUDIO, AudioContent(data=""), None),
}


def _chat_with_part(contract: ContractSession, case: str, text: str) -> None:
    """Chat ``text`` and the part ``PARTS[case]`` to a model declaring the part's capability.

    The server answers canonically; the call raises what the plugin raised.
    """
    capability, part, _ = PARTS[case]
    model = contract.model(Capability.CHAT, capability)
    contract.use_server(contract.canonical("chat"))
    prompt = [UserMessage((TextContent(text), part))]
    contract.run(contract.registry.achat(contract.ref(model), prompt, **contract.params()))


def _check_part_read(contract: ContractSession, case: str, text: str, head: str) -> None:
    """Fail unless the API reads the last user turn as ``text``, then ``PARTS[case]``'s part."""
    expected = PARTS[case][2]
    seen = contract.require_wire().content_parts(contract.server.requests[-1])
    assert seen == [("text", text), expected], (
        f"{head}the API reads the user turn as {seen}; expected the text, then {expected}"
    )


def check_data_part_carried(contract: ContractSession, case: str, text: str, what: str) -> None:
    """Fail unless a model declaring ``PARTS[case]``'s capability carries that part as data.

    The call (``text``, then the part) must succeed: refusing it, even before any I/O, is
    refusing what the declaration promises (``what`` describes the part). Where the wire
    reads content parts, the API must read the user turn as the text, then the part.
    """
    wire = contract.require_wire()
    try:
        _chat_with_part(contract, case, text)
    except Exception as exc:  # noqa: BLE001 - the clause judges what was raised
        fail_foreign(exc, what)
        pytest.fail(
            f"{what} was refused by a model that declares {PARTS[case][0]}: "
            f"{type(exc).__name__}: {exc}"
        )
    try:
        _check_part_read(contract, case, text, "")
    except NotImplementedError:
        pytest.skip(f"not declared: the wire {wire.name!r} does not read content parts")


class BreadthContract:
    """Clauses on answers with several parts (mixed into the contract)."""

    @clause("tools.several_calls")
    @pytest.mark.parametrize("path", ["chat", "stream"])
    def test_tools_several_calls(self, contract: ContractSession, path: str) -> None:
        """An answer calling two tools gives both, in order, each with its own id and arguments."""
        wire = contract.require_wire()
        streamed = path == "stream"
        model = contract.model(Capability.STREAM if streamed else Capability.CHAT, Capability.TOOLS)
        calls, pieces = canon.SEVERAL_CALLS, canon.SEVERAL_CALL_PIECES
        answer = tool_calls_answer(wire, calls, pieces, path)
        contract.use_server(answer)
        tools = [canon.WEATHER_TOOL, canon.TIME_TOOL]
        prompt = [{"role": "user", "content": canon.TOOL_PROMPT}]
        said = ask(contract, contract.ref(model), prompt, contract.params(tools=tools), path)
        got, finish = said.calls, said.finish(path)
        if streamed:
            # The index is the call's place in the answer: a client assembles calls by it.
            assert said.indexes == [0, 1], (
                f"stream: tool-call indexes {said.indexes} (expected [0, 1])"
            )
        names = [c.name for c in got]
        assert names == [c.name for c in calls], (
            f"{path}: tool calls {names}, the answer calls {[c.name for c in calls]}"
        )
        for position, (call, expected) in enumerate(zip(got, calls, strict=True)):
            try:
                arguments: Any = json.loads(call.arguments)
            except ValueError:
                pytest.fail(f"{path}: call {position}'s arguments are not JSON: {call.arguments!r}")
            assert arguments == json.loads(expected.arguments), (
                f"{path}: call {position} ({call.name}) has arguments {arguments}, "
                f"the answer says {expected.arguments}"
            )
        rendered = b"".join(answer(contract.server.requests[-1]).chunks)
        for position, (call, expected) in enumerate(zip(got, calls, strict=True)):
            if expected.id.encode() in rendered:
                # The id is how each result is matched to its call in the next turn.
                assert call.id == expected.id, (
                    f"{path}: call {position} has id {call.id!r}, the answer says {expected.id!r}"
                )
        assert len({c.id for c in got}) == len(got), (
            f"{path}: the calls share an id ({[c.id for c in got]}): results cannot be matched"
        )
        check_tool_finish(wire, finish, path)

    @clause("embeddings.base64")
    def test_embeddings_base64(self, contract: ContractSession) -> None:
        """Embeddings asked for as base64 are the same float vectors, in input order."""
        model = serve_canonical(contract, "embed", Capability.EMBED)
        inputs = list(canon.EMBED_INPUTS)
        try:
            response = contract.run(
                contract.registry.aembed(contract.ref(model), inputs, encoding_format="base64")
            )
        except (InvalidRequestError, UnsupportedFeatureError) as exc:
            skip_refused(contract, exc, "encoding_format='base64'")
        except Exception as exc:  # noqa: BLE001 - the clause is about what was raised
            pytest.fail(f"encoding_format='base64' raised {type(exc).__name__}: {exc}")
        assert isinstance(response, EmbeddingResponse), f"embed returned {type(response).__name__}"
        expected = tuple(canon.expected_vector(t, i) for i, t in enumerate(inputs))
        assert response.embeddings == expected, (
            f"base64 embeddings decode to {response.embeddings}, the answer holds {expected}"
        )

    @clause("requests.content_parts")
    @pytest.mark.parametrize("case", list(PARTS))
    def test_requests_content_parts(self, contract: ContractSession, case: str) -> None:
        """Text with an image, file or audio part reaches the body as the API reads each part."""
        wire = contract.require_wire()
        try:
            wire.content_parts(_PROBE)
        except NotImplementedError:
            pytest.skip(f"not declared: the wire {wire.name!r} does not read content parts")
        except (ValueError, LookupError, AttributeError, TypeError):
            pass
        _, part, expected = PARTS[case]
        try:
            _chat_with_part(contract, case, _PART_TEXT)
        except (InvalidRequestError, UnsupportedFeatureError) as exc:
            refused_before_io(contract, exc, f"{case}: the part")
            if expected is None:
                return  # an empty part refused before any I/O, as it must be
            pytest.skip(f"not declared: the provider refuses a part of kind {case}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the clause is about what was raised
            pytest.fail(f"{case}: a text + {case} message raised {type(exc).__name__}: {exc}")
        assert expected is not None, (
            f"{case}: a part with nothing in it ({part!r}) was sent, not refused before any I/O "
            "(InvalidRequestError naming it)"
        )
        _check_part_read(contract, case, _PART_TEXT, f"{case}: ")

    @clause("requests.extra_body")
    def test_requests_extra_body(self, contract: ContractSession) -> None:
        """Fields passed as extra_body reach the JSON body as top-level members, unchanged."""
        model = serve_canonical(contract, "chat", Capability.CHAT)
        prompt = [UserMessage(canon.CHAT_PROMPT)]
        params = contract.params(extra_body=dict(_EXTRA_BODY))
        try:
            contract.run(contract.registry.achat(contract.ref(model), prompt, **params))
        except (InvalidRequestError, UnsupportedFeatureError) as exc:
            skip_refused(contract, exc, "extra_body")
        body = contract.server.requests[-1].json()
        if not isinstance(body, dict):
            pytest.skip("not declared: the request body is not a JSON object")
        sent = {name: body.get(name) for name in _EXTRA_BODY}
        assert sent == _EXTRA_BODY, (
            f"extra_body {_EXTRA_BODY} reached the body as {sent} (top-level members)"
        )

    @clause("embeddings.extra_vector")
    def test_embeddings_extra_vector(self, contract: ContractSession) -> None:
        """An answer with one vector more than there were inputs raises an LmuxError."""
        wire = contract.require_wire()
        model = contract.model(Capability.EMBED)
        inputs = list(canon.EMBED_INPUTS)

        def answer(request: CapturedRequest, *, extra: bool = True) -> Reply:
            asked = wire.embed_inputs(request)
            vectors = [canon.expected_vector(t, i) for i, t in enumerate(asked)]
            if extra:
                vectors.append(canon.expected_vector("one too many", len(asked)))
            return wire.embed(request, vectors, embed_usage(asked))

        contract.use_server(answer)
        try:
            result = contract.run(contract.registry.aembed(contract.ref(model), inputs))
        except LmuxError:
            return  # the misaligned answer was refused, as it must be
        sent = contract.server.requests[-1]
        if answer(sent).chunks == answer(sent, extra=False).chunks:
            pytest.skip("not declared: the wire answers one input per call (no extra vector)")
        assert not isinstance(result, EmbeddingResponse), (
            f"an answer with {len(inputs) + 1} vectors for {len(inputs)} inputs gave "
            f"{len(result.embeddings)} vectors instead of an LmuxError"
        )
