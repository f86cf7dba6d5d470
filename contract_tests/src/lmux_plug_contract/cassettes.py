"""VCR cassettes: where they live, central scrubbing, secret scanning, network blocking.

Scrubbing is built from the provider's declared auth scheme (``ProviderSpec.auth``: the
header and query names) plus the usual suspects (``authorization``, ``x-api-key``,
``api-key``, ``cookie``, ``set-cookie``, organisation ids). The key in force is also
replaced wherever it appears in a body. :func:`find_secrets` fails a cassette that still
holds anything that looks like a real secret.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from lmux_plug import ProviderSpec

__all__ = [
    "HEADER_PREFIX",
    "NetworkGuard",
    "cassette_header",
    "find_secrets",
    "make_vcr",
    "network_guard",
    "write_header",
]

HEADER_PREFIX = "# lmux-plug-contract: "
PLACEHOLDER = "REDACTED"
_ALWAYS_SCRUBBED_HEADERS = (
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "proxy-authorization",
)
_RESPONSE_HEADERS_DROPPED = (
    "set-cookie",
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
    "x-organization-id",
    "cf-ray",
)
_QUERY_SCRUBBED = ("key", "api_key", "apikey", "access_token")
SECRET_PATTERNS = (
    re.compile(r"sk-(?:proj-|ant-(?:api|admin)\d+-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"gsk_[A-Za-z0-9]{20,}"),
    re.compile(r"(?:xai|r8|hf)_[A-Za-z0-9]{20,}"),
    re.compile(r"(?i)bearer\s+(?!REDACTED\b)[A-Za-z0-9_\-.=]{20,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"org-[A-Za-z0-9]{20,}"),
)


def _json_body_matcher(r1: Any, r2: Any) -> None:
    def load(body: Any) -> Any:
        if body is None:
            return None
        raw = body if isinstance(body, bytes) else str(body).encode()
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    if load(r1.body) != load(r2.body):
        msg = "request bodies differ (the canonical request changed: re-record the cassette)"
        raise AssertionError(msg)


SYNTHESISED_ORIGIN = "http://wire-server.lmux-contract.invalid"


def make_vcr(
    spec: ProviderSpec, secrets: Sequence[str] = (), *, local_origin: str | None = None
) -> Any:
    """A ``vcr.VCR`` that scrubs what ``spec.auth`` declares and matches on path and body.

    Host and port are not matched: a cassette synthesised against the local wire server
    replays against the provider's real base URL.
    """
    import vcr  # type: ignore[import-untyped]  # noqa: PLC0415 - only cassette clauses need it

    headers = {h.lower() for h in _ALWAYS_SCRUBBED_HEADERS}
    if spec.auth.header:
        headers.add(spec.auth.header.lower())
    query = set(_QUERY_SCRUBBED)
    if spec.auth.query:
        query.add(spec.auth.query)
    secret_values = tuple(s for s in secrets if s)

    def scrub_text(value: Any) -> Any:
        if isinstance(value, bytes):
            for secret in secret_values:
                value = value.replace(secret.encode(), PLACEHOLDER.encode())
        elif isinstance(value, str):
            for secret in secret_values:
                value = value.replace(secret, PLACEHOLDER)
        return value

    def before_record_request(request: Any) -> Any:
        request.body = scrub_text(request.body)
        if local_origin and request.uri.startswith(local_origin):
            # A stable, obviously-not-real origin: the port changes every run.
            request.uri = SYNTHESISED_ORIGIN + request.uri[len(local_origin) :]
        return request

    def before_record_response(response: Mapping[str, Any]) -> Mapping[str, Any]:
        kept = {
            k: v
            for k, v in response["headers"].items()
            if k.lower() not in _RESPONSE_HEADERS_DROPPED
        }
        response["headers"] = kept  # type: ignore[index]
        body = response.get("body") or {}
        if "string" in body:
            body["string"] = scrub_text(body["string"])
        return response

    recorder = vcr.VCR(
        filter_headers=[(h, PLACEHOLDER) for h in sorted(headers)],
        filter_query_parameters=[(q, PLACEHOLDER) for q in sorted(query)],
        before_record_request=before_record_request,
        before_record_response=before_record_response,
        decode_compressed_response=True,
        match_on=("method", "path", "json_body"),
    )
    recorder.register_matcher("json_body", _json_body_matcher)
    return recorder


def cassette_header(path: Path) -> dict[str, Any]:
    """The metadata line the suite writes at the top of a cassette (``{}`` if none)."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline()
    except OSError:
        return {}
    if first.startswith(HEADER_PREFIX):
        try:
            value = json.loads(first[len(HEADER_PREFIX) :])
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def write_header(path: Path, meta: Mapping[str, Any]) -> None:
    """Put (or replace) the metadata line and a human-readable note at the top of ``path``."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("# ")]
    note = (
        "# synthesised locally by lmux-plug-contract from the provider's wire format "
        "(not recorded from the real API)\n"
        if meta.get("source") == "synthesised"
        else "# recorded from the real API by lmux-plug-contract; secrets scrubbed\n"
    )
    header = HEADER_PREFIX + json.dumps(dict(meta), sort_keys=True) + "\n"
    path.write_text(header + note + "".join(lines), encoding="utf-8")


def find_secrets(text: str, allowed: Sequence[str] = ()) -> list[tuple[int, str]]:
    """``(line number, match)`` for everything in ``text`` that looks like a real secret."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern in SECRET_PATTERNS:
            for match in pattern.finditer(line):
                value = match.group(0)
                if not any(a and a in value for a in allowed):
                    found.append((number, value[:12] + "..."))
    return found


@attrs.define
class NetworkGuard:
    """Records every outgoing connection attempt; refuses those not to loopback."""

    attempts: list[str] = attrs.field(factory=list)
    allow_loopback: bool = True


_LOOPBACK = ("127.", "::1", "localhost")


@contextlib.contextmanager
def network_guard(*, allow_loopback: bool = True) -> Iterator[NetworkGuard]:
    """Block the network (what CI's replay mode needs) and record attempts to use it."""
    guard = NetworkGuard(allow_loopback=allow_loopback)
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def describe(address: Any) -> str:
        return str(address[0]) if isinstance(address, tuple) and address else str(address)

    def allowed(host: str) -> bool:
        return guard.allow_loopback and host.startswith(_LOOPBACK)

    def connect(self: socket.socket, address: Any) -> Any:
        host = describe(address)
        guard.attempts.append(host)
        if self.family in (socket.AF_INET, socket.AF_INET6) and not allowed(host):
            msg = f"network blocked by the lmux-plug contract suite: connect to {host}"
            raise ConnectionRefusedError(msg)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        host = describe(address)
        guard.attempts.append(host)
        if self.family in (socket.AF_INET, socket.AF_INET6) and not allowed(host):
            return 111  # ECONNREFUSED
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not allowed(name):
            guard.attempts.append(name)
            msg = f"network blocked by the lmux-plug contract suite: resolve {name}"
            raise socket.gaierror(socket.EAI_NONAME, msg)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield guard
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
