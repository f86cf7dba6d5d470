"""Hypothesis strategies of the contract suite (the core's are in ``lmux_plug.testing.strategies``).

Plural nouns, as Hypothesis names things: ``split_points(n)`` cuts a byte stream,
``error_statuses()`` and ``error_responses(wire)`` make HTTP error answers, rendered in a
provider's error format or arbitrary.
"""

from __future__ import annotations

import email.utils
import json

from hypothesis import strategies as st
from lmux_plug.testing.strategies import json_values

from lmux_plug_contract.wires import Reply
from lmux_plug_contract.wires import WireFormat

__all__ = ["error_bodies", "error_responses", "error_statuses", "split_points"]


def split_points(length: int, *, max_size: int = 12) -> st.SearchStrategy[tuple[int, ...]]:
    """Sorted distinct cut positions strictly inside ``range(length)`` (possibly none)."""
    if length < 2:
        return st.just(())
    return st.lists(st.integers(1, length - 1), max_size=max_size, unique=True).map(
        lambda v: tuple(sorted(v))
    )


def error_statuses() -> st.SearchStrategy[int]:
    """HTTP error statuses: the ones providers use, plus any 4xx/5xx."""
    common = st.sampled_from([400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529])
    return st.one_of(common, st.integers(400, 599))


def error_bodies() -> st.SearchStrategy[bytes]:
    """Arbitrary error bodies: empty, text, HTML, any JSON, half a JSON object."""
    return st.one_of(
        st.just(b""),
        st.text(max_size=60).map(str.encode),
        st.just(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        json_values(6).map(lambda v: json.dumps(v).encode()),
        st.just(b'{"error": {"message": "cut'),
    )


def error_responses(wire: WireFormat) -> st.SearchStrategy[Reply]:
    """Error answers: the provider's own format or an arbitrary body, sometimes with Retry-After."""

    @st.composite
    def build(draw: st.DrawFn) -> Reply:
        status = draw(error_statuses(), label="status")
        headers: dict[str, str] = {}
        retry = draw(st.sampled_from(["none", "seconds", "date", "garbage"]), label="retry-after")
        if retry == "seconds":
            headers["retry-after"] = str(draw(st.integers(0, 120)))
        elif retry == "date":
            headers["retry-after"] = email.utils.formatdate(usegmt=True)
        elif retry == "garbage":
            headers["retry-after"] = draw(st.text(alphabet="abcxyz;,= ", max_size=10))
        if draw(st.booleans(), label="provider format"):
            return wire.error(status, draw(st.text(max_size=40), label="message"), headers)
        content_type = draw(st.sampled_from(["application/json", "text/plain", "text/html"]))
        return Reply(
            status, {"content-type": content_type, **headers}, (draw(error_bodies(), label="body"),)
        )

    return build()
