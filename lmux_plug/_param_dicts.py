"""The keyword sets of the call functions, as ``TypedDict`` classes (``**params: Unpack[...]``).

Public through :mod:`lmux_plug.params` and :mod:`lmux_plug`, which load this module when one
of its names is first read: they are annotations for type checkers, and creating them costs
a ``compile()`` per field (``typing.ForwardRef`` compiles every string annotation of a
``TypedDict`` when the class is made), which ``import lmux_plug`` need not pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import TypedDict

if TYPE_CHECKING:
    from lmux_plug._types import ResponseFormat
    from lmux_plug._types import Tool
    from lmux_plug._types import ToolChoice

__all__ = ["ChatCallParams", "ChatParams", "EmbedCallParams", "EmbedParams"]


class ChatParams(TypedDict, total=False):
    """The keywords a chat call accepts (all optional; ``None`` means the provider default)."""

    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    max_completion_tokens: int | None
    stop: str | Sequence[str] | None
    seed: int | None
    tools: Sequence[Tool | Mapping[str, Any]] | None
    tool_choice: ToolChoice | str | Mapping[str, Any] | None
    response_format: ResponseFormat | Mapping[str, Any] | None
    reasoning_effort: str | None
    user: str | None
    timeout: float | None
    extra_headers: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None
    # OpenAI-style body fields, checked here and sent as body fields.
    frequency_penalty: float | None
    presence_penalty: float | None
    logit_bias: Mapping[str, float] | None
    logprobs: bool | None
    top_logprobs: int | None
    top_k: int | None
    n: int | None
    parallel_tool_calls: bool | None
    metadata: Mapping[str, str] | None
    service_tier: str | None
    store: bool | None


class EmbedParams(TypedDict, total=False):
    """The keywords an embedding call accepts."""

    dimensions: int | None
    encoding_format: str | None
    # What the texts are for (``search_document``, ``search_query``, ``classification``,
    # ``clustering``): providers with input types (Cohere, Vertex AI) read it from the body.
    input_type: str | None
    timeout: float | None
    extra_headers: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None


class ChatCallParams(ChatParams, total=False):
    """:class:`ChatParams` plus the per-call credentials (for the sync and module functions)."""

    api_key: str | None
    base_url: str | None


class EmbedCallParams(EmbedParams, total=False):
    """:class:`EmbedParams` plus the per-call credentials."""

    api_key: str | None
    base_url: str | None
