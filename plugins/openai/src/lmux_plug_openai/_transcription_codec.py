"""Sans-IO codec for audio transcription (``POST /audio/transcriptions``).

The request is a ``multipart/form-data`` upload built here (RFC 7578): one text part per
field, repeated ``timestamp_granularities[]`` parts, and the audio as a file part. Answers are
JSON (``json``, ``verbose_json``, ``diarized_json``: text, language, duration, segments with
their speakers, words, usage in tokens or in seconds) or plain text (``text``, ``srt``,
``vtt``). Streamed transcription is SSE with ``transcript.text.delta`` events and a final
``transcript.text.done`` that carries the usage.
"""

from __future__ import annotations

import json
import secrets as _secrets
from collections.abc import Mapping
from typing import Any

from lmux_plug import InvalidRequestError
from lmux_plug import ProviderError
from lmux_plug import TranscriptionChunk
from lmux_plug import TranscriptionRequest
from lmux_plug import TranscriptionResponse
from lmux_plug import TranscriptionSegment
from lmux_plug import Usage
from lmux_plug.codec import objects_of
from lmux_plug_openai._codec import _lower
from lmux_plug_openai._codec import request_id_of
from lmux_plug_openai._event_stream import EventStreamDecoder
from lmux_plug_openai._event_stream import answer_object

__all__ = [
    "TranscriptionStreamDecoder",
    "decode_transcription",
    "encode_transcription",
    "transcription_from_payload",
]

_TEXT_FORMATS = frozenset({"text", "srt", "vtt"})


def _field_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        msg = f"form field {name!r} cannot be sent: {exc}"
        raise InvalidRequestError(msg) from exc


def _quoted(value: str) -> str:
    """A header parameter value, quoted as RFC 7578 asks (quotes and backslashes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_transcription(
    request: TranscriptionRequest, *, stream: bool = False, boundary: str | None = None
) -> tuple[bytes, str]:
    """The multipart body and its ``content-type`` header value for ``request``."""
    if not request.model:
        msg = "model id must not be empty"
        raise InvalidRequestError(msg)
    fields: list[tuple[str, str]] = [("model", request.model)]
    for name in ("language", "prompt", "response_format", "temperature"):
        value = getattr(request, name)
        if value is not None:
            fields.append((name, _field_value(name, value)))
    fields.extend(("timestamp_granularities[]", g) for g in request.timestamp_granularities or ())
    if stream:
        fields.append(("stream", "true"))
    for name, value in request.extra.items():
        if isinstance(value, (list, tuple)):
            fields.extend((f"{name}[]", _field_value(name, v)) for v in value)
        else:
            fields.append((name, _field_value(name, value)))
    marker = boundary or f"lmux-plug-{_secrets.token_hex(16)}"
    parts: list[bytes] = []
    for name, value in fields:
        if "\r" in name or "\n" in name:
            msg = f"form field name {name!r} must not contain line breaks"
            raise InvalidRequestError(msg, model=request.model)
        parts.append(
            f"--{marker}\r\ncontent-disposition: form-data; name={_quoted(name)}\r\n\r\n".encode()
            + value.encode()
            + b"\r\n"
        )
    parts.append(
        (
            f'--{marker}\r\ncontent-disposition: form-data; name="file"; '
            f"filename={_quoted(request.filename)}\r\ncontent-type: {request.media_type}\r\n\r\n"
        ).encode()
        + request.audio
        + b"\r\n"
    )
    parts.append(f"--{marker}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={marker}"


# --------------------------------------------------------------------------- decoding


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _usage(raw: Any) -> tuple[Usage, float | None]:
    """Token usage, and the audio seconds of whisper-style ``{"type": "duration"}`` usage."""
    if not isinstance(raw, Mapping):
        return Usage(), None
    if raw.get("type") == "duration":
        return Usage(), _number(raw.get("seconds"))

    def count(key: str) -> int:
        value = raw.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    return Usage(input_tokens=count("input_tokens"), output_tokens=count("output_tokens")), None


def _segments(raw: Any) -> tuple[TranscriptionSegment, ...]:
    found: list[TranscriptionSegment] = []
    for segment in objects_of(raw):
        speaker = segment.get("speaker")
        ident = segment.get("id")
        found.append(
            TranscriptionSegment(
                text=str(segment.get("text") or ""),
                start=_number(segment.get("start")) or 0.0,
                end=_number(segment.get("end")) or 0.0,
                speaker=str(speaker) if speaker is not None else None,
                id=ident if isinstance(ident, (str, int)) and not isinstance(ident, bool) else None,
            )
        )
    return tuple(found)


def transcription_from_payload(
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
    text: str | None = None,
) -> TranscriptionResponse:
    """Decode a JSON transcription (also a stream's ``transcript.text.done`` event)."""
    usage, seconds = _usage(payload.get("usage"))
    duration = _number(payload.get("duration"))
    language = payload.get("language")
    words = payload.get("words")
    return TranscriptionResponse(
        text=str(payload.get("text") if payload.get("text") is not None else text or ""),
        model=model,
        provider=provider,
        language=str(language) if language is not None else None,
        duration=duration if duration is not None else seconds,
        segments=_segments(payload.get("segments")),
        words=tuple(w for w in words if isinstance(w, Mapping)) if isinstance(words, list) else (),
        usage=usage,
        request_id=request_id_of(headers),
        headers=headers,
        raw=payload,
    )


def decode_transcription(
    body: bytes,
    headers: Mapping[str, str] | None,
    *,
    provider: str,
    model: str,
    response_format: str | None = None,
    secrets: tuple[str, ...] = (),
) -> TranscriptionResponse:
    """Decode a whole transcription answer: JSON, or plain text for text/srt/vtt formats."""
    lowered = _lower(headers)
    content_type = lowered.get("content-type", "")
    if response_format in _TEXT_FORMATS or (
        "json" not in content_type and not body.lstrip().startswith(b"{")
    ):
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            msg = f"{provider} answered a transcription that is not UTF-8 text"
            raise ProviderError(msg, provider=provider, model=model) from exc
        return TranscriptionResponse(
            text=text,
            model=model,
            provider=provider,
            request_id=request_id_of(lowered),
            headers=lowered,
            raw=text,
        )
    payload = answer_object(
        body,
        lowered,
        key="text",
        what="a transcription",
        provider=provider,
        model=model,
        secrets=secrets,
    )
    return transcription_from_payload(payload, lowered, provider=provider, model=model)


class TranscriptionStreamDecoder(EventStreamDecoder[TranscriptionChunk]):
    """Turn a streamed transcription (SSE) into :class:`TranscriptionChunk` values."""

    what = "transcription stream"

    def _start(self) -> None:
        self._text: list[str] = []
        self._segments: list[Mapping[str, Any]] = []

    def _on_event(self, name: str, event: Mapping[str, Any]) -> list[TranscriptionChunk]:
        kind = str(event.get("type") or name or "")
        if kind == "error" or (
            event.get("error") is not None and not kind.startswith("transcript")
        ):
            self._raise(event.get("error") or event)
        if kind == "transcript.text.delta":
            raw_delta = event.get("delta")
            delta = raw_delta if isinstance(raw_delta, str) else ""
            self._text.append(delta)
            return [TranscriptionChunk(type=kind, delta=delta)]
        if kind == "transcript.text.segment":
            self._segments.append(event)
            return [TranscriptionChunk(type=kind)]
        if kind == "transcript.text.done":
            payload = dict(event)
            if self._segments and "segments" not in payload:
                payload["segments"] = list(self._segments)
            response = transcription_from_payload(
                payload,
                self._headers,
                provider=self._provider,
                model=self._model,
                text="".join(self._text),
            )
            self.done = True
            return [TranscriptionChunk(type=kind, response=response, usage=response.usage)]
        return [TranscriptionChunk(type=kind)]
