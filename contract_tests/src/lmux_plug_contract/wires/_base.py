"""The wire-format interface and the values the local server exchanges."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import unquote

import attrs
from lmux_plug import ToolCall, Usage

__all__ = ["CapturedRequest", "Reply", "StreamRendering", "WireFormat", "json_bytes"]


def json_bytes(value: Any) -> bytes:
    """Compact JSON in raw UTF-8 (no escaped non-ASCII characters), as providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@attrs.frozen
class CapturedRequest:
    """A request the local server received (the key, if any, is in ``headers``/``query``)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (``None`` if it is not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def model_hint(self) -> str:
        """The model named in the body (``"model"``) or the path (``models/<id>:...``)."""
        body = self.json()
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            return str(body["model"])
        if "/models/" in self.path:
            return unquote(self.path.split("/models/", 1)[1].rsplit(":", 1)[0])
        return "contract-model"


@attrs.frozen
class Reply:
    """What the local server does with one request.

    ``chunks`` are written one by one (``pause`` seconds apart) with chunked transfer
    encoding when ``stream`` is set, else as one body with a ``content-length``.
    ``before``: ``"reset"`` drops the connection with an RST before answering, ``"hang"``
    never answers. ``after``: ``"finish"`` ends the body properly, ``"cut"`` closes the
    socket mid-body, ``"reset"`` sends an RST, ``"hang"`` keeps the connection open until
    the client leaves (the server records when it did).
    """

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    chunks: Sequence[bytes] = ()
    stream: bool = False
    pause: float = 0.0
    before: Literal["none", "reset", "hang"] = "none"
    after: Literal["finish", "cut", "reset", "hang"] = "finish"


@attrs.frozen
class StreamRendering:
    """A streamed answer as separate frames; the last ``terminal`` frames end it properly.

    Dropping the last ``terminal`` frames gives a stream that ends cleanly at a frame
    boundary but without its terminal event (a truncated stream).
    """

    content_type: str
    frames: tuple[bytes, ...]
    terminal: int = 1


class WireFormat:
    """Renders canonical answers in one provider wire format (subclass per wire).

    Every method receives the captured request, so a format can answer by path (Ollama's
    ``/api/embed`` vs ``/api/embeddings``) or echo the model it was asked for.
    """

    name = "base"
    #: Whether the format reports token usage for embeddings.
    embed_usage = True
    #: Whether usage arrives on (or after) the terminal stream event.
    stream_usage = True
    #: Whether the wire has an embeddings endpoint at all.
    embeddings = True

    def chat(self, request: CapturedRequest, text: str, usage: Usage) -> Reply:
        """A complete chat answer."""
        raise NotImplementedError

    def stream(
        self, request: CapturedRequest, pieces: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed text answer, one frame per piece plus its framing."""
        raise NotImplementedError

    def tool_chat(self, request: CapturedRequest, call: ToolCall, usage: Usage) -> Reply:
        """A complete (non-streamed) answer that calls ``call``.

        Optional for custom wires: without it the non-streamed tool-call clause is skipped.
        """
        raise NotImplementedError

    def tool_stream(
        self, request: CapturedRequest, call: ToolCall, fragments: Sequence[str], usage: Usage
    ) -> StreamRendering:
        """A streamed tool call, its arguments in ``fragments`` where the wire splits them."""
        raise NotImplementedError

    def embed(
        self, request: CapturedRequest, vectors: Sequence[Sequence[float]], usage: Usage
    ) -> Reply:
        """Embedding vectors for the inputs of ``request``."""
        raise NotImplementedError

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        """An HTTP error answer in the provider's error-body format."""
        raise NotImplementedError

    def stream_error(self, message: str) -> bytes:
        """An error event inside a stream (provider overloaded mid-answer)."""
        raise NotImplementedError

    def stream_error_for(self, status: int, message: str) -> bytes:
        """An error event inside a stream that the provider sends for HTTP ``status``.

        The suite expects the error class ``status`` maps to (429: RateLimitError) when a
        wire renders it; the default, :meth:`stream_error`, carries no class, so only
        ProviderError and the message are expected then.
        """
        raise NotImplementedError

    def embed_inputs(self, request: CapturedRequest) -> list[str]:
        """The texts an embeddings request asks for, in order (to synthesise vectors)."""
        raise NotImplementedError

    def asks_for_stream(self, request: CapturedRequest) -> bool:
        """Whether ``request`` asks for a streamed answer, as the real API reads it.

        The server then streams a canonical chat answer as the real API would, so a plugin
        that asks for a stream on a non-streamed call (or the reverse) is caught. Default:
        a ``"stream": true`` member of the JSON body.
        """
        body = request.json()
        return isinstance(body, dict) and body.get("stream") is True

    def reply_stream(self, rendering: StreamRendering, *, drop_terminal: bool = False) -> Reply:
        """A :class:`Reply` that streams ``rendering`` (optionally without its ending)."""
        frames = rendering.frames[: -rendering.terminal] if drop_terminal else rendering.frames
        return Reply(200, {"content-type": rendering.content_type}, frames, stream=True)
