"""The SSE-of-JSON framing the Responses, completion and transcription streams share.

:class:`EventStreamDecoder` splits the body into server-sent events, decodes each ``data``
as a JSON object (malformed JSON raises ``ProviderError``), handles ``data: [DONE]`` and the
end of the body, and raises the error an error event carries. A subclass says what each
event means (:meth:`EventStreamDecoder._on_event`) and what ends the stream properly.
The whole (unstreamed) answers of the same APIs are read by :func:`answer_object`, and
:func:`answer_decoder` makes an API's whole-answer decoder from it.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Generic
from typing import NoReturn
from typing import TypeVar

from lmux_plug import ProviderError
from lmux_plug.wire import ServerSentEvent
from lmux_plug.wire import SSEDecoder
from lmux_plug_openai._codec import _loads
from lmux_plug_openai._codec import _lower
from lmux_plug_openai._codec import error_from_payload
from lmux_plug_openai._codec import loads_json

__all__ = ["EventStreamDecoder", "answer_decoder", "json_object"]

T = TypeVar("T")


class EventStreamDecoder(Generic[T]):
    """Bytes of an SSE stream of JSON events in, typed chunks out (feed in any split)."""

    #: Names the stream in the error raised when it ends too early.
    what = "stream"

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        headers: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._provider = provider
        self._model = model
        self._headers = _lower(headers)
        self._secrets = secrets
        self._sse = SSEDecoder()
        self.done = False
        self._start()

    def feed(self, data: bytes) -> list[T]:
        """Add body bytes; return the chunks they complete."""
        return self._events(self._sse.feed(data))

    def close(self) -> list[T]:
        """End of body: the last chunks, or ``ProviderError`` if the stream was cut short."""
        out = self._events(self._sse.flush())
        if not self._finished():
            out.extend(self._at_end())
        return out

    # -- for subclasses -----------------------------------------------------------------

    def _start(self) -> None:
        """Set up the subclass's own state (called at the end of ``__init__``)."""

    def _on_event(self, name: str, event: Mapping[str, Any]) -> list[T]:
        """The chunks of one decoded event (set ``done`` on the terminal one)."""
        raise NotImplementedError

    def _on_done(self) -> list[T]:
        """``data: [DONE]``: most streams end with their own terminal event instead."""
        return []

    def _at_end(self) -> list[T]:
        """The body ended before the stream was done: truncated, unless overridden."""
        msg = f"{self.what} from {self._provider} ended before it was complete (truncated)"
        raise ProviderError(msg, provider=self._provider, model=self._model)

    def _raise(self, error: Any) -> NoReturn:
        """Raise the :class:`LmuxError` an error event describes."""
        raise error_from_payload(
            error, self._headers, provider=self._provider, model=self._model, secrets=self._secrets
        )

    # -- framing ------------------------------------------------------------------------

    def _finished(self) -> bool:
        return self.done

    def _events(self, events: list[ServerSentEvent]) -> list[T]:
        out: list[T] = []
        for event in events:
            if self.done:
                break
            text = event.data.strip()
            if not text:
                continue
            if text == "[DONE]":
                out.extend(self._on_done())
                continue
            try:
                payload = loads_json(text)
            except ValueError as exc:
                msg = f"malformed stream event from {self._provider}: {text[:200]!r}"
                raise ProviderError(msg, provider=self._provider, model=self._model) from exc
            if isinstance(payload, Mapping):
                out.extend(self._on_event(event.event, payload))
        return out


def json_object(
    body: bytes | str | Mapping[str, Any], provider: str, model: str, what: str
) -> Mapping[str, Any]:
    """A whole answer body as a JSON object; ``ProviderError`` for malformed or other JSON."""
    payload = _loads(body, provider, model)
    if not isinstance(payload, Mapping):
        msg = f"{provider} answered {what} with {type(payload).__name__}, not an object"
        raise ProviderError(msg, provider=provider, model=model)
    return payload


def answer_object(
    body: bytes | str | Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    key: str,
    what: str,
    provider: str,
    model: str,
    secrets: tuple[str, ...] = (),
) -> Mapping[str, Any]:
    """A whole answer body as a JSON object, or the error it carries.

    Some compatible servers answer an error with a 200: an object without ``key`` (the
    field of a success: ``choices``, ``output``, ``text``) whose ``error`` is set raises
    that error (``headers``: lower-case names).
    """
    payload = json_object(body, provider, model, what)
    if key not in payload and payload.get("error") is not None:
        raise error_from_payload(payload, headers, provider=provider, model=model, secrets=secrets)
    return payload


def answer_decoder(key: str, what: str, build: Callable[..., T]) -> Callable[..., T]:
    """The decoder of a whole answer whose success carries ``key`` (see :func:`answer_object`).

    ``build(payload, headers, provider=, model=, secrets=)`` makes the typed answer of the
    JSON object, given the lower-cased headers. The decoder takes ``(body, headers, *,
    provider, model, secrets=())`` (``headers`` in any case, ``secrets`` scrubbed from errors).
    """

    def decode(
        body: bytes | str | Mapping[str, Any],
        headers: Mapping[str, str] | None,
        *,
        provider: str,
        model: str,
        secrets: tuple[str, ...] = (),
    ) -> T:
        lowered = _lower(headers)
        payload = answer_object(
            body, lowered, key=key, what=what, provider=provider, model=model, secrets=secrets
        )
        return build(payload, lowered, provider=provider, model=model, secrets=secrets)

    return decode
