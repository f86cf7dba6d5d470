"""The keyword arguments the drop-in client's ``create`` calls accept, checked before any I/O.

The ``openai`` package's methods refuse an unknown keyword (a ``TypeError``); the drop-in
refuses it too, as a ``BadRequestError`` with a did-you-mean, so ``temprature=0`` is never
sent upstream as a body field. Every keyword the ``openai`` package's ``create`` takes is
accepted: the ones lmux-plug knows are checked (types and ranges, :mod:`lmux_plug.params`),
the others are sent as body fields. Provider-specific fields go in ``extra_body``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import TypedDict

from lmux_plug.errors import ConfigurationError
from lmux_plug.params import CHAT_PARAMETERS
from lmux_plug.params import InvalidParameterError
from lmux_plug.params import check_chat_params
from lmux_plug.params import check_routing_options
from lmux_plug.params import did_you_mean

__all__ = [
    "CHAT_CREATE_FIELDS",
    "CLIENT_OPTIONS",
    "EMBED_CREATE_FIELDS",
    "ChatCreateArguments",
    "ChatFields",
    "ChatOptions",
    "check_chat_fields",
    "check_client_options",
    "check_client_values",
    "check_embed_fields",
]


class ChatFields(TypedDict, total=False):
    """``chat.completions.create`` keywords of the ``openai`` package sent as body fields.

    The ones lmux-plug knows are checked (:mod:`lmux_plug.params`); the others go to the
    provider as they are, hence ``Any`` here.
    """

    audio: Any
    frequency_penalty: Any
    function_call: Any
    functions: Any
    logit_bias: Any
    logprobs: Any
    max_completion_tokens: Any
    max_tokens: Any
    metadata: Any
    modalities: Any
    moderation: Any
    n: Any
    parallel_tool_calls: Any
    prediction: Any
    presence_penalty: Any
    prompt_cache_key: Any
    prompt_cache_options: Any
    prompt_cache_retention: Any
    reasoning_effort: Any
    response_format: Any
    safety_identifier: Any
    seed: Any
    service_tier: Any
    stop: Any
    store: Any
    temperature: Any
    tool_choice: Any
    tools: Any
    top_logprobs: Any
    top_p: Any
    user: Any
    verbosity: Any
    web_search_options: Any


class ChatOptions(ChatFields, total=False):
    """Every optional keyword of ``chat.completions.create`` besides ``stream``."""

    stream_options: Mapping[str, Any] | None
    fallback_models: Sequence[str] | None
    retries: int | None
    timeout: float | None
    extra_headers: Mapping[str, str] | None
    extra_body: Mapping[str, Any] | None


class ChatCreateArguments(ChatOptions):
    """The keywords of ``chat.completions.create`` but ``stream`` (which picks the return type).

    Written once here for the sync and async clients and every overload of theirs.
    """

    model: str
    messages: Iterable[Any]


#: ``chat.completions.create`` keywords of the ``openai`` package, besides the ones the
#: drop-in names in its signature (``model``, ``messages``, ``stream``, ``timeout`` ...).
CHAT_CREATE_FIELDS = frozenset(ChatFields.__optional_keys__)
#: ``embeddings.create`` keywords of the ``openai`` package besides the named ones.
EMBED_CREATE_FIELDS = frozenset({"dimensions", "encoding_format", "user"})
#: Options of the ``openai`` package's client constructors that have no use here: accepted
#: and ignored, so a constructor call ports unchanged.
CLIENT_OPTIONS = frozenset(
    {
        "_enforce_credentials",
        "_strict_response_validation",
        "admin_api_key",
        "data_residency",
        "default_query",
        "http_client",
        "organization",
        "project",
        "provider",
        "webhook_secret",
        "websocket_base_url",
        "workload_identity",
    }
)
# Keywords every create call takes in its signature, for the did-you-mean.
_NAMED = ("model", "stream", "fallback_models", "retries", "timeout", "extra_headers")
_STREAM_OPTIONS = frozenset({"include_usage", "include_obfuscation"})


def _refuse_unknown(fields: Mapping[str, Any], known: frozenset[str], model: object) -> None:
    name = str(model) if isinstance(model, str) else None
    if "extra_query" in fields:
        msg = (
            "query parameters are not supported (calls go through lmux-plug, not one URL); "
            "provider-specific fields go in extra_body"
        )
        raise InvalidParameterError("extra_query", msg, model=name)
    for field in fields:
        if field not in known:
            hint = did_you_mean(field, sorted(known | {*_NAMED, "extra_body"}))
            msg = (
                f"unknown parameter{hint}; provider-specific fields go in "
                f"extra_body={{{field!r}: ...}}"
            )
            raise InvalidParameterError(field, msg, model=name)


def check_chat_fields(
    fields: Mapping[str, Any], *, model: object, stream: object, stream_options: object
) -> None:
    """Check the keywords of ``chat.completions.create`` (beyond ``model`` and ``messages``)."""
    _refuse_unknown(fields, CHAT_CREATE_FIELDS | {"messages"}, model)
    name = str(model) if isinstance(model, str) else None
    if not isinstance(stream, bool):
        raise InvalidParameterError("stream", f"expected true or false, got {stream!r}", model=name)
    if stream_options is not None:
        if not stream:  # as OpenAI's API answers it
            msg = "only allowed with stream=True"
            raise InvalidParameterError("stream_options", msg, model=name)
        if not isinstance(stream_options, Mapping):
            msg = f"expected a mapping like {{'include_usage': True}}, got {stream_options!r}"
            raise InvalidParameterError("stream_options", msg, model=name)
        for key, value in stream_options.items():
            if key not in _STREAM_OPTIONS:
                hint = did_you_mean(str(key), sorted(_STREAM_OPTIONS))
                msg = f"unknown option{hint}"
                raise InvalidParameterError(f"stream_options.{key}", msg, model=name)
            if not isinstance(value, bool):
                msg = f"expected true or false, got {value!r}"
                raise InvalidParameterError(f"stream_options.{key}", msg, model=name)
    checked = {k: v for k, v in fields.items() if k in CHAT_PARAMETERS}
    if checked:
        check_chat_params(checked, model=name)


def check_embed_fields(fields: Mapping[str, Any], *, model: object) -> None:
    """Refuse a keyword ``embeddings.create`` does not take (``dimensoins=3``)."""
    _refuse_unknown(fields, EMBED_CREATE_FIELDS | {"input"}, model)


def check_client_options(owner: str, options: Mapping[str, Any]) -> None:
    """Refuse a constructor option that is neither lmux-plug's nor the ``openai`` package's."""
    for option in options:
        if option not in CLIENT_OPTIONS:
            known = sorted(
                {"api_key", "base_url", "registry", "router", "default_provider", "timeout"}
                | {"max_retries", "default_headers"}
            )
            hint = did_you_mean(option, known)
            msg = f"{owner}() got an unknown option {option!r}{hint}"
            raise ConfigurationError(msg)


def check_client_values(
    owner: str,
    *,
    timeout: object,
    max_retries: object,
    default_headers: object,
    default_provider: object,
) -> None:
    """Check the constructor's own options when the client is made, not at its first call."""
    try:
        check_chat_params({"timeout": timeout, "extra_headers": default_headers})
        check_routing_options(retries=max_retries)
    except InvalidParameterError as exc:
        names = {"extra_headers": "default_headers", "retries": "max_retries"}
        option = names.get(exc.param.partition("[")[0], exc.param)
        msg = f"{owner}({option}=...): {exc.message.partition(': ')[2]}"
        raise ConfigurationError(msg) from None
    if not isinstance(default_provider, str) or not default_provider:
        msg = f"{owner}(default_provider=...): expected a provider prefix, got {default_provider!r}"
        raise ConfigurationError(msg)
