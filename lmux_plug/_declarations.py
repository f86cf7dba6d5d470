"""Provider declarations and credentials: the value types plugin discovery needs.

:class:`ProviderSpec`, :class:`ModelSpec`, their auth schemes and :class:`Capability` are
built when plugins are discovered, so they live apart from the call types (messages,
requests, responses in :mod:`lmux_plug._types`), which are created on first use: each
``attrs`` class costs a compile at import, and discovery should pay only for these.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import attrs

# Imported at run time (not only for type checking) so cattrs can resolve the annotations.
from lmux_plug._pricing import ModelPricing
from lmux_plug._secrets import remember_secret

__all__ = [
    "CHAT_CAPABILITIES",
    "ApiKeyAuth",
    "Capability",
    "Credentials",
    "ModelSpec",
    "NoAuth",
    "ProviderSpec",
    "Secret",
]


def _tuple(value: Any) -> tuple[Any, ...]:
    """Accept any iterable where a tuple is stored, so callers may pass lists."""
    return value if isinstance(value, tuple) else tuple(value)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {} if value is None else dict(value)


def _text_or_tuple(value: str | Iterable[Any]) -> str | tuple[Any, ...]:
    """A text stays as it is; any other iterable (parts, items) is stored as a tuple."""
    return value if isinstance(value, str) else tuple(value)


@attrs.frozen(repr=False)
class Secret:
    """A credential string that never shows itself in ``repr``, ``str`` or f-strings.

    Call :meth:`reveal` at the one place the value goes on the wire.
    """

    _value: str = attrs.field(alias="value")

    def __attrs_post_init__(self) -> None:
        # Every secret is scrubbed from errors, logs and files from the moment it exists.
        if isinstance(self._value, str):
            remember_secret(self._value)

    def reveal(self) -> str:
        """Return the secret value; use only to build the outgoing request."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)


@attrs.frozen
class Credentials:
    """Resolved credentials for one call; ``api_key`` is hidden from every repr."""

    api_key: Secret | None = None
    extra_headers: Mapping[str, Secret] = attrs.field(factory=dict, converter=_frozen_mapping)


# --------------------------------------------------------------------------- declarations


class Capability(str, enum.Enum):
    """What a provider (or one of its models) can do; calls outside it fail before I/O."""

    CHAT = "chat"
    STREAM = "stream"
    EMBED = "embed"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"
    VISION = "vision"
    AUDIO = "audio"
    FILES = "files"
    REASONING = "reasoning"
    RESPONSES = "responses"
    COMPLETIONS = "completions"
    TRANSCRIPTION = "transcription"


#: What a current text chat API does: chat, streaming, tools and both JSON modes. A provider
#: spec adds the rest (``CHAT_CAPABILITIES | {Capability.VISION}``).
CHAT_CAPABILITIES = frozenset(
    {
        Capability.CHAT,
        Capability.STREAM,
        Capability.TOOLS,
        Capability.JSON_OBJECT,
        Capability.JSON_SCHEMA,
    }
)


def _capability_set(value: Iterable[Capability]) -> frozenset[Capability]:
    """Store capabilities as a frozenset (callers may pass any iterable)."""
    return value if isinstance(value, frozenset) else frozenset(value)


@attrs.frozen
class ApiKeyAuth:
    """API-key authentication: where the key is read from and where it goes on the wire.

    ``header`` and ``scheme`` put it in a header (``Authorization: Bearer <key>``);
    ``query`` puts it in a query parameter instead. The names also drive cassette scrubbing.
    """

    env: tuple[str, ...] = attrs.field(converter=_tuple)
    header: str | None = "authorization"
    scheme: str | None = "Bearer"
    query: str | None = None
    optional: bool = False

    def headers_for(self, key: str) -> dict[str, str]:
        """The headers that carry ``key``."""
        if self.header is None:
            return {}
        return {self.header: f"{self.scheme} {key}" if self.scheme else key}


@attrs.frozen
class NoAuth:
    """No credentials (local servers)."""

    env: tuple[str, ...] = ()
    header: None = None
    query: None = None
    optional: bool = True

    def headers_for(self, key: str) -> dict[str, str]:  # noqa: ARG002 - same shape as ApiKeyAuth
        """No headers."""
        return {}


@attrs.frozen
class ModelSpec:
    """A model a provider declares: its id, capabilities, pricing and context window."""

    id: str
    capabilities: frozenset[Capability] | None = None
    pricing: ModelPricing | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class ProviderSpec:
    """A provider declared as data.

    ``name`` is the model prefix (``"openai"`` in ``"openai/gpt-4o"``); ``wire`` names the
    codec that speaks to it (``"openai"`` for every OpenAI-compatible endpoint), so a
    compatible endpoint needs a spec and no code. ``capabilities`` applies to models not
    listed in ``models``; a listed model may narrow it.
    """

    name: str
    wire: str
    base_url: str
    auth: ApiKeyAuth | NoAuth = attrs.field(factory=NoAuth)
    capabilities: frozenset[Capability] = attrs.field(
        factory=lambda: frozenset({Capability.CHAT, Capability.STREAM}),
        converter=_capability_set,  # typed, so mypy infers the __init__ parameter
    )
    models: tuple[ModelSpec, ...] = attrs.field(default=(), converter=_tuple)
    base_url_env: str | None = None
    default_headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, hash=False
    )
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)
    description: str = ""
    pricing_date: str | None = None

    def model(self, model_id: str) -> ModelSpec | None:
        """The declared spec of ``model_id`` (by id or alias), if any."""
        for spec in self.models:
            if spec.id == model_id or model_id in spec.aliases:
                return spec
        return None

    def capabilities_of(self, model_id: str) -> frozenset[Capability]:
        """What ``model_id`` can do: its own declaration, else the provider's."""
        spec = self.model(model_id)
        if spec is not None and spec.capabilities is not None:
            return spec.capabilities
        return self.capabilities
