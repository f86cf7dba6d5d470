"""What a chat request body says, read back the way the provider's API reads it.

The conversation clauses (``requests.conversation``) send a known conversation and ask
the wire to read the body back as a flat list of :class:`Said` items, in order: which
role said which text, which tool was called, which tool result answered which call and
whether it was marked as an error, which reasoning block went back with its signature.
Consecutive turns of one role may be merged by a plugin (several APIs require it): the
list is flat, so merging changes nothing in it while a misplaced or lost turn does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from typing import Literal

import attrs

__all__ = ["Said", "SaidKind", "keyed_part"]

#: text: a text block; call: a tool call (``text`` is "name {arguments as sorted JSON}");
#: result: a tool result; thinking: a reasoning block sent back (``redacted`` apart).
SaidKind = Literal["text", "call", "result", "thinking", "redacted", "other"]


@attrs.frozen
class Said:
    """One item of a conversation as the API reads it.

    ``role`` is ``system``, ``user`` or ``assistant`` (a wire maps its own names: Gemini's
    ``model`` is ``assistant``); ``ref`` ties a tool result to its call (an id, or the
    function name where the API matches by name); ``error`` marks a tool result the API
    reads as a failure; ``signature`` is a reasoning block's signature.
    """

    role: str
    kind: SaidKind
    text: str
    ref: str | None = None
    error: bool = False
    signature: str | None = None

    @classmethod
    def call(cls, role: str, name: Any, arguments: Any, ref: Any) -> Said:
        """A tool call ``name`` with ``arguments`` (the decoded JSON value).

        The text is the name and the arguments as sorted JSON, so that calls compare
        across wires whatever key order or spacing a body has.
        """
        return cls(role, "call", f"{name} {json.dumps(arguments, sort_keys=True)}", ref=ref)


def keyed_part(
    part: Any, media: Callable[[dict[str, Any]], tuple[str, str] | None]
) -> tuple[str, str]:
    """A user-turn part of an API that keys parts by name, as ``requests.content_parts`` has it.

    A ``text`` key makes it text; ``media`` names any other object part (None: a part
    the API does not read); what is left is ``other``, an object by its keys.
    """
    if not isinstance(part, dict):
        return ("other", repr(part))
    if "text" in part:
        return ("text", str(part["text"]))
    return media(part) or ("other", ",".join(sorted(part)))
