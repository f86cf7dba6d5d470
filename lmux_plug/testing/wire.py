"""Read recorded provider traffic (``shared/wire``) as typed records, for replay tests.

Plugin tests replay real recorded exchanges through their codecs. The recordings come from
many projects in several formats; this module reads all of them into one shape:

- vcrpy cassettes (YAML): bodies as ``body.string``, ``body.base64_string`` or pydantic-ai's
  ``parsed_body``; gzip bodies (stored as ``!!binary``) are decompressed; header names
  written with python tags (aiohttp's multidict ``istr``) are read as plain strings;
- Polly HAR files (JSON ``log.entries``), with base64 response content;
- vercel/ai body-only fixtures: ``*.json`` (one JSON body) and ``*.chunks.txt`` (one SSE
  ``data`` payload a line, re-framed here as a ``text/event-stream`` body).

Usage in a plugin's tests::

    WIRE = wire_dir(Path(__file__).resolve().parents[3], "myprovider")

    @pytest.mark.parametrize("path", recordings(WIRE))
    def test_replay(path):
        for exchange in load_recording(path):
            ...  # exchange.request.uri, exchange.response.status / .headers / .body

``recordings`` returns an empty list when the folder is absent; ``skip_without_wire``
skips the calling test with a message then; ``check_exclusions`` checks the recordings a
suite leaves out against the folder. ``recording_params`` makes the parameters of
such a test, each recording's path below the folder as its id, or one skipped
``no-wire-folder`` case without the folder. ``sse_events`` and ``sse_json`` read a recorded
``text/event-stream`` body plainly (no codec), for the expectations a replay compares
against. PyYAML (in the ``testing`` extra) is imported only when a YAML recording is read.
"""

from __future__ import annotations

import base64
import functools
import gzip
import importlib
import json
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal

__all__ = [
    "SUFFIXES",
    "WireExchange",
    "WireRequest",
    "WireResponse",
    "check_exclusions",
    "load_recording",
    "parse_json",
    "recording_params",
    "recordings",
    "skip_without_wire",
    "sse_events",
    "sse_json",
    "wire_dir",
]

#: File endings of the recordings ``load_recording`` reads.
SUFFIXES = (".yaml", ".yml", ".json", ".har", ".chunks.txt")

#: How a recording was stored: a vcrpy cassette, a HAR file, or a body-only fixture.
WireFormat = Literal["vcr", "har", "json-body", "sse-body"]


@dataclass(frozen=True)
class WireRequest:
    """The recorded request: method, URI and body bytes (all ``None`` for body-only fixtures)."""

    method: str | None
    uri: str | None
    body: bytes | None

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when there is none or it is not JSON."""
        return parse_json(self.body)


@dataclass(frozen=True)
class WireResponse:
    """The recorded response.

    ``status`` is ``None`` for body-only fixtures (they record no status). ``headers`` has
    lower-case names; where a name repeats (``Set-Cookie``, ``Vary``) the last value wins,
    and ``header_list`` keeps every ``(name, value)`` pair as recorded.
    """

    status: int | None
    headers: Mapping[str, str]
    body: bytes
    header_list: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class WireExchange:
    """One request/response pair of a recording, with the file it came from."""

    source: Path
    format: WireFormat
    request: WireRequest
    response: WireResponse


def wire_dir(repo_root: str | Path, *parts: str) -> Path:
    """``<repo_root>/../shared/wire[/parts...]``: where recordings live beside a checkout.

    The path is returned whether or not it exists (for skip messages); see ``recordings``.
    """
    return Path(repo_root) / ".." / "shared" / "wire" / Path(*parts)


def recordings(
    folder: str | Path,
    *,
    suffixes: tuple[str, ...] = SUFFIXES,
    exclude: Collection[str] = (),
) -> list[Path]:
    """Recording files below ``folder`` (sorted), leaving out file names in ``exclude``.

    Empty when ``folder`` does not exist, so a parametrized test simply has no cases.
    """
    base = Path(folder)
    if not base.is_dir():
        return []
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file() and p.name.endswith(suffixes) and p.name not in exclude
    )


def recording_params(
    folder: str | Path,
    *,
    exclude: Collection[str] = (),
    select: Callable[[Path], bool] | None = None,
) -> list[Any]:
    """``pytest.param`` of each of ``recordings(folder, exclude=exclude)``, for ``parametrize``.

    Each one's id is its path below ``folder``; ``select`` keeps only the paths it accepts.
    Without the folder there is one case, ``no-wire-folder``, marked to skip with the
    message of :func:`skip_without_wire`, so a run shows that nothing was replayed.
    """
    import pytest  # noqa: PLC0415 (only tests call this; the module stays importable without)

    base = Path(folder)
    if not base.is_dir():
        reason = f"recorded wire traffic not found at {folder}"
        return [pytest.param(None, id="no-wire-folder", marks=pytest.mark.skip(reason=reason))]
    return [
        pytest.param(path, id=str(path.relative_to(base)))
        for path in recordings(base, exclude=exclude)
        if select is None or select(path)
    ]


def sse_events(body: bytes | str) -> list[tuple[str, str]]:
    """``(event, data)`` of each event of a ``text/event-stream`` body, read plainly.

    ``event`` is the ``event:`` field (``"message"`` without one); ``data`` joins the
    event's ``data:`` lines with newlines. Events without data (comments, keep-alives) are
    left out. A replay test's own reading of SSE, independent of the codecs under test.
    """
    text = body.decode() if isinstance(body, bytes) else body
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if data:
            events.append((name, "\n".join(data)))
    return events


def sse_json(body: bytes | str) -> list[Any]:
    """The JSON of each event's data (:func:`sse_events`), leaving out a ``[DONE]`` marker."""
    return [json.loads(data) for _, data in sse_events(body) if data != "[DONE]"]


def skip_without_wire(folder: str | Path) -> None:
    """Skip the calling test, naming ``folder``, when the recordings are not there."""
    if not Path(folder).is_dir():
        import pytest  # noqa: PLC0415 (only tests call this; the module stays importable without)

        pytest.skip(f"recorded wire traffic not found at {folder}")


def check_exclusions(folder: str | Path, exclude: Mapping[str, str]) -> None:
    """Check a replay suite's exclusions (file name -> why it is not replayed) against ``folder``.

    Skips without the folder. Otherwise every excluded name must be a recording there (an
    exclusion must not outlive its file, nor hide a typo) and at least one recording must be
    left to replay (no reader bug may turn them all into exclusions).
    """
    skip_without_wire(folder)
    names = {p.name for p in Path(folder).rglob("*") if p.is_file()}
    unknown = sorted(set(exclude) - names)
    if unknown:
        msg = f"exclusions naming no recording in {folder}: {unknown}"
        raise AssertionError(msg)
    if not recordings(folder, exclude=exclude):
        msg = f"{folder} holds no replayable recording"
        raise AssertionError(msg)


def load_recording(path: str | Path) -> list[WireExchange]:
    """Every exchange of one recording file, in recorded order."""
    path = Path(path)
    data = path.read_bytes()
    if path.name.endswith(".chunks.txt"):
        lines = [line for line in data.decode().splitlines() if line.strip()]
        sse = "".join(f"data: {line}\n\n" for line in lines).encode()
        return [_body_only(path, "sse-body", sse, "text/event-stream")]
    if path.suffix in (".yaml", ".yml"):
        return _from_document(path, _load_yaml(data.decode()))
    doc = json.loads(data) if path.suffix in (".json", ".har") else None
    if isinstance(doc, dict) and ("interactions" in doc or "log" in doc):
        return _from_document(path, doc)
    return [_body_only(path, "json-body", data, "application/json")]


def parse_json(raw: bytes | str | None) -> Any:
    """``raw`` parsed as JSON; ``None`` when it is ``None`` or not JSON."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# --------------------------------------------------------------------------- formats


def _body_only(path: Path, fmt: WireFormat, body: bytes, content_type: str) -> WireExchange:
    headers = (("content-type", content_type),)
    return WireExchange(
        source=path,
        format=fmt,
        request=WireRequest(method=None, uri=None, body=None),
        response=WireResponse(status=None, headers=dict(headers), body=body, header_list=headers),
    )


def _from_document(path: Path, doc: Any) -> list[WireExchange]:
    if isinstance(doc, Mapping) and "log" in doc and "interactions" not in doc:
        return [_from_har_entry(path, entry) for entry in doc["log"].get("entries") or []]
    out = []
    items = (doc.get("interactions") if isinstance(doc, Mapping) else None) or []
    for item in items:
        request, response = item.get("request") or {}, item.get("response") or {}
        status = response.get("status")
        code = status.get("code") if isinstance(status, Mapping) else status
        pairs = _header_pairs(response.get("headers"))
        out.append(
            WireExchange(
                source=path,
                format="vcr",
                request=WireRequest(
                    method=request.get("method"), uri=request.get("uri"), body=_vcr_body(request)
                ),
                response=WireResponse(
                    status=code,
                    headers=_last_wins(pairs),
                    body=_vcr_body(response) or b"",
                    header_list=pairs,
                ),
            )
        )
    return out


def _from_har_entry(path: Path, entry: Mapping[str, Any]) -> WireExchange:
    request, response = entry["request"], entry["response"]
    post = (request.get("postData") or {}).get("text")
    content = response.get("content") or {}
    text = content.get("text") or ""
    body = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()
    pairs = _header_pairs(response.get("headers"))
    return WireExchange(
        source=path,
        format="har",
        request=WireRequest(
            method=request.get("method"),
            uri=request.get("url"),
            body=None if post is None else post.encode(),
        ),
        response=WireResponse(
            status=response.get("status"),
            headers=_last_wins(pairs),
            body=body,
            header_list=pairs,
        ),
    )


def _header_pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    """Pairs from vcrpy ``{name: [values]}``, plain ``{name: value}`` or HAR ``[{name, value}]``."""
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, list):
        return tuple(
            (str(item["name"]), str(item.get("value", "")))
            for item in raw
            if isinstance(item, Mapping) and "name" in item
        )
    for name, value in (raw or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs.extend((str(name), "" if v is None else str(v)) for v in values)
    return tuple(pairs)


def _last_wins(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {name.lower(): value for name, value in pairs}


def _vcr_body(part: Mapping[str, Any]) -> bytes | None:
    if "parsed_body" in part:  # pydantic-ai's serializer keeps JSON bodies as YAML
        return json.dumps(part["parsed_body"]).encode()
    body = part.get("body", part.get("content"))
    if isinstance(body, Mapping):
        if "string" in body:
            body = body["string"]
        elif "base64_string" in body:
            body = base64.b64decode(body["base64_string"])
        elif "text" in body:
            body = body["text"]
        else:
            body = json.dumps(body)
    if body is None:
        return None
    raw = bytes(body) if isinstance(body, (bytes, bytearray)) else str(body).encode()
    if raw[:2] == b"\x1f\x8b":  # gzip, stored as !!binary by most recorders
        raw = gzip.decompress(raw)
    return raw


def _load_yaml(text: str) -> Any:
    return _yaml().load(text, Loader=_tolerant_loader())


def _yaml() -> Any:
    # Imported on first use: PyYAML is in the ``testing`` extra, and only YAML recordings
    # need it (importlib keeps mypy from wanting PyYAML's stub package).
    return importlib.import_module("yaml")


@functools.cache
def _tolerant_loader() -> Any:
    """A SafeLoader reading python/* and ``!`` tags (multidict ``istr`` keys) as plain data."""
    yaml = _yaml()

    def unknown(loader: Any, _suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            items = loader.construct_sequence(node, deep=True)
            return items[0] if len(items) == 1 else tuple(items)
        return loader.construct_mapping(node, deep=True)

    loader: Any = type("TolerantLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("tag:yaml.org,2002:python/", unknown)
    loader.add_multi_constructor("!", unknown)
    return loader
