"""Response objects with the attribute shapes of the ``openai`` package's types.

Light ``attrs`` classes (no pydantic, no ``openai`` import): ``response.choices[0].message
.content``, ``chunk.choices[0].delta.content``, ``response.usage.prompt_tokens``,
``message.tool_calls[0].function.arguments``, ``model_dump()``, ``model_dump_json()``.
Each is built from the OpenAI wire dict (:mod:`lmux_plug.openai._wire`) by ``from_dict``.
The lmux-plug answer behind a completion stays reachable as ``lmux_response`` (cost,
provider, headers), which ``model_dump`` leaves out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Generic
from typing import TypeVar

import attrs
from typing_extensions import Self

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChunkChoice",
    "CompletionTokensDetails",
    "CompletionUsage",
    "CreateEmbeddingResponse",
    "EmbeddingData",
    "EmbeddingUsage",
    "Function",
    "Model",
    "ModelList",
    "PromptTokensDetails",
]

_HIDDEN = {"dump": False}
T = TypeVar("T", bound="_Model")
_ChoiceT = TypeVar("_ChoiceT", bound="_Model")  # a completion's or a chunk's choice type


def _dump(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, _Model):
        return value.model_dump(exclude_none=exclude_none)
    if isinstance(value, list):
        return [_dump(v, exclude_none) for v in value]
    return value


@attrs.define
class _Model:
    """Shared ``model_dump`` / ``model_dump_json`` / ``to_dict`` (pydantic's names)."""

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The object as the OpenAI wire dict (``exclude_none`` drops ``None`` fields)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            if not field.metadata.get("dump", True):
                continue
            value = _dump(getattr(self, field.name), exclude_none)
            if value is None and exclude_none:
                continue
            out[field.name] = value
        return out

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        """The object as JSON text."""
        return json.dumps(self.model_dump(exclude_none=exclude_none), indent=indent)

    def to_dict(self) -> dict[str, Any]:
        """Alias of ``model_dump(exclude_none=True)`` (the ``openai`` package's helper)."""
        return self.model_dump(exclude_none=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Alias of ``model_dump_json(exclude_none=True)``."""
        return self.model_dump_json(indent=indent, exclude_none=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from the wire dict: each field as it is there (required or defaulted).

        Types with nested objects or wire defaults of their own override this.
        """
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            if not field.metadata.get("dump", True):
                continue
            if field.default is attrs.NOTHING or field.name in data:
                values[field.name] = data[field.name]
        return cls(**values)


def _many(cls: type[T], values: Any) -> list[T]:
    return [cls.from_dict(v) for v in values or ()]


def _message_fields(
    data: Mapping[str, Any], call: type[_Model], *, role: str | None
) -> dict[str, Any]:
    """The fields a message and a streamed delta share; ``role``: when the wire has none."""
    calls = data.get("tool_calls")
    return {
        "role": data.get("role", role),
        "content": data.get("content"),
        "refusal": data.get("refusal"),
        "tool_calls": _many(call, calls) if calls else None,
    }


# --------------------------------------------------------------------------- usage


@attrs.define
class PromptTokensDetails(_Model):
    """Details of the prompt tokens."""

    cached_tokens: int | None = None


@attrs.define
class CompletionTokensDetails(_Model):
    """Details of the completion tokens."""

    reasoning_tokens: int | None = None


@attrs.define
class CompletionUsage(_Model):
    """Token counts of a completion (``usage.prompt_tokens`` ...)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompletionUsage:
        """Build from the wire dict."""
        prompt = data.get("prompt_tokens_details")
        completion = data.get("completion_tokens_details")
        return cls(
            prompt_tokens=data["prompt_tokens"],
            completion_tokens=data["completion_tokens"],
            total_tokens=data["total_tokens"],
            prompt_tokens_details=PromptTokensDetails.from_dict(prompt) if prompt else None,
            completion_tokens_details=(
                CompletionTokensDetails.from_dict(completion) if completion else None
            ),
        )


# --------------------------------------------------------------------------- completions


@attrs.define
class Function(_Model):
    """The function a tool call invokes; ``arguments`` is JSON text."""

    name: str
    arguments: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Function:
        """Build from the wire dict."""
        return cls(name=data["name"], arguments=data.get("arguments", "{}"))


@attrs.define
class ChatCompletionMessageToolCall(_Model):
    """One tool call of an assistant message."""

    id: str
    function: Function
    type: str = "function"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatCompletionMessageToolCall:
        """Build from the wire dict."""
        return cls(id=data["id"], function=Function.from_dict(data["function"]))


@attrs.define
class ChatCompletionMessage(_Model):
    """The assistant's message: ``content``, ``tool_calls``, ``refusal``."""

    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatCompletionMessage:
        """Build from the wire dict."""
        return cls(**_message_fields(data, ChatCompletionMessageToolCall, role="assistant"))


@attrs.define
class Choice(_Model):
    """One choice of a completion (lmux-plug always returns one)."""

    index: int
    message: ChatCompletionMessage
    finish_reason: str
    logprobs: Any = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Choice:
        """Build from the wire dict."""
        return cls(
            index=data.get("index", 0),
            message=ChatCompletionMessage.from_dict(data["message"]),
            finish_reason=data.get("finish_reason") or "stop",
            logprobs=data.get("logprobs"),
        )


@attrs.define
class _Completion(_Model, Generic[_ChoiceT]):
    """What a completion and a chunk both carry first (their own fields follow)."""

    id: str
    choices: list[_ChoiceT]
    created: int
    model: str


def _completion_fields(data: Mapping[str, Any], choice: type[_Model]) -> dict[str, Any]:
    """The fields a completion and a chunk share, read from the wire dict."""
    usage = data.get("usage")
    return {
        "id": data["id"],
        "choices": _many(choice, data.get("choices")),
        "created": data["created"],
        "model": data["model"],
        "usage": CompletionUsage.from_dict(usage) if usage else None,
    }


@attrs.define
class ChatCompletion(_Completion[Choice]):
    """A ``chat.completion`` (what ``client.chat.completions.create`` returns)."""

    object: str = "chat.completion"
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    lmux_response: Any = attrs.field(default=None, repr=False, eq=False, metadata=_HIDDEN)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, lmux_response: Any = None) -> ChatCompletion:
        """Build from the wire dict."""
        return cls(
            **_completion_fields(data, Choice),
            system_fingerprint=data.get("system_fingerprint"),
            lmux_response=lmux_response,
        )


# --------------------------------------------------------------------------- chunks


@attrs.define
class ChoiceDeltaToolCallFunction(_Model):
    """A fragment of a streamed tool call's function."""

    name: str | None = None
    arguments: str | None = None


@attrs.define
class ChoiceDeltaToolCall(_Model):
    """A fragment of a streamed tool call; fragments with one ``index`` concatenate."""

    index: int
    id: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None
    type: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChoiceDeltaToolCall:
        """Build from the wire dict."""
        function = data.get("function")
        return cls(
            index=data["index"],
            id=data.get("id"),
            function=ChoiceDeltaToolCallFunction.from_dict(function) if function else None,
            type=data.get("type"),
        )


@attrs.define
class ChoiceDelta(_Model):
    """What one chunk adds: ``content``, ``role`` (first chunk) or ``tool_calls``."""

    content: str | None = None
    role: str | None = None
    refusal: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChoiceDelta:
        """Build from the wire dict."""
        return cls(**_message_fields(data, ChoiceDeltaToolCall, role=None))


@attrs.define
class ChunkChoice(_Model):
    """One choice of a chunk (``openai.types.chat.chat_completion_chunk.Choice``)."""

    index: int
    delta: ChoiceDelta
    finish_reason: str | None = None
    logprobs: Any = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChunkChoice:
        """Build from the wire dict."""
        return cls(
            index=data.get("index", 0),
            delta=ChoiceDelta.from_dict(data.get("delta") or {}),
            finish_reason=data.get("finish_reason"),
            logprobs=data.get("logprobs"),
        )


@attrs.define
class ChatCompletionChunk(_Completion[ChunkChoice]):
    """A ``chat.completion.chunk``; the usage-only last chunk has no choices."""

    object: str = "chat.completion.chunk"
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    lmux_chunk: Any = attrs.field(default=None, repr=False, eq=False, metadata=_HIDDEN)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, lmux_chunk: Any = None) -> ChatCompletionChunk:
        """Build from the wire dict."""
        return cls(**_completion_fields(data, ChunkChoice), lmux_chunk=lmux_chunk)


# --------------------------------------------------------------------------- embeddings


@attrs.define
class EmbeddingData(_Model):
    """One vector (``openai.types.Embedding``)."""

    embedding: list[float]
    index: int
    object: str = "embedding"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingData:
        """Build from the wire dict."""
        return cls(embedding=list(data["embedding"]), index=data["index"])


@attrs.define
class EmbeddingUsage(_Model):
    """Token counts of an embedding call."""

    prompt_tokens: int
    total_tokens: int


@attrs.define
class CreateEmbeddingResponse(_Model):
    """What ``client.embeddings.create`` returns: ``data[i].embedding``."""

    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage
    object: str = "list"
    lmux_response: Any = attrs.field(default=None, repr=False, eq=False, metadata=_HIDDEN)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, lmux_response: Any = None
    ) -> CreateEmbeddingResponse:
        """Build from the wire dict."""
        return cls(
            data=_many(EmbeddingData, data["data"]),
            model=data["model"],
            usage=EmbeddingUsage.from_dict(data["usage"]),
            lmux_response=lmux_response,
        )


# --------------------------------------------------------------------------- models


@attrs.define
class Model(_Model):
    """A model the client can call (``"prefix/model"`` or a logical name)."""

    id: str
    owned_by: str
    created: int = 0
    object: str = "model"


@attrs.define
class ModelList(_Model):
    """``client.models.list()``: iterate it, or read ``.data``."""

    data: list[Model]
    object: str = "list"

    def __iter__(self) -> Iterator[Model]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
