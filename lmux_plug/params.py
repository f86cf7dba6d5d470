"""Checking of call parameters: one place, run before any I/O.

``chat`` / ``achat`` / ``chat_stream`` / ``achat_stream`` take the keywords of
:class:`ChatParams`; ``embed`` / ``aembed`` those of :class:`EmbedParams`. The registry calls
:func:`check_chat_params` and :func:`check_embed_inputs` first, so a misspelt keyword
(``temprature``) or a value of the wrong type or range (``temperature="hot"``,
``max_tokens=-1``, ``stop=5``) is an :class:`InvalidParameterError` naming the parameter,
never a silent body field, a ``TypeError`` deep in a plugin or a provider's 400.

Provider-specific fields go through ``extra_body`` (a mapping merged into the request
body), which is not checked beyond being a mapping with string keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from lmux_plug.errors import InvalidRequestError
from lmux_plug.lazy import lazy_exports

if TYPE_CHECKING:
    from lmux_plug._param_dicts import ChatCallParams
    from lmux_plug._param_dicts import ChatParams
    from lmux_plug._param_dicts import EmbedCallParams
    from lmux_plug._param_dicts import EmbedParams

__all__ = [
    "CHAT_PARAMETERS",
    "EMBED_PARAMETERS",
    "REASONING_EFFORTS",
    "ChatCallParams",
    "ChatParams",
    "EmbedCallParams",
    "EmbedParams",
    "InvalidParameterError",
    "check_api_params",
    "check_chat_params",
    "check_embed_inputs",
    "check_embed_params",
    "check_routing_options",
    "did_you_mean",
    "split_api_params",
]

#: The ``reasoning_effort`` values a request may carry, lowest first (also
#: ``lmux_plug.codec.REASONING_EFFORTS``). Defined here, not in the codec module: this
#: module is loaded by ``import lmux_plug``, and the codec module pulls in the call types.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

# The keyword ``TypedDict``s are made on first read (see lmux_plug._param_dicts).
__getattr__, __dir__ = lazy_exports(
    __name__,
    dict.fromkeys(
        ("ChatCallParams", "ChatParams", "EmbedCallParams", "EmbedParams"), "lmux_plug._param_dicts"
    ),
)


class InvalidParameterError(InvalidRequestError):
    """A call parameter is unknown, of the wrong type or out of range; ``param`` names it."""

    def __init__(self, param: str, message: str, **context: Any) -> None:
        super().__init__(f"{param}: {message}", **context)
        self.param = param


# -- value checks ----------------------------------------------------------------------
# Each takes the parameter name and value and returns the value to use (or raises).


def _number(low: float, high: float) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParameterError(name, f"expected a number, got {_shown(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise InvalidParameterError(name, f"must be between {low:g} and {high:g}, got {value}")
        return value

    return check


def _integer(low: int, high: int | None = None) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameterError(name, f"expected an integer, got {_shown(value)}")
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise InvalidParameterError(name, f"must be {bound}, got {value}")
        return value

    return check


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(name, f"expected a number of seconds, got {_shown(value)}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidParameterError(name, f"must be a positive number of seconds, got {value}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(name, f"expected a string, got {_shown(value)}")
    return value


def _only_one(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value != 1:
        msg = f"only n=1 is supported (one answer per call), got {_shown(value)}"
        raise InvalidParameterError(name, msg)
    return value


def _at_least_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(name, f"expected a number of seconds, got {_shown(value)}")
    if not math.isfinite(value) or value < 0:
        raise InvalidParameterError(name, f"must be a number of seconds >= 0, got {value}")
    return value


def _models(name: str, value: Any) -> tuple[str, ...]:
    # A lone string is refused: iterating it would try each character as a model.
    if isinstance(value, (list, tuple)) and all(isinstance(m, str) and m for m in value):
        return tuple(value)
    raise InvalidParameterError(name, f"expected a list of model names, got {_shown(value)}")


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value not in allowed:
            hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
            raise InvalidParameterError(
                name, f"expected one of {', '.join(allowed)}, got {_shown(value)}{hint}"
            )
        return str(value)

    return check


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameterError(name, f"expected true or false, got {_shown(value)}")
    return value


def _stop(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise InvalidParameterError(
        name, f"expected a string or a list of strings, got {_shown(value)}"
    )


def _string_mapping(what: str) -> Callable[[str, Any], dict[str, Any]]:
    def check(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise InvalidParameterError(name, f"expected a mapping of {what}, got {_shown(value)}")
        if not all(isinstance(key, str) for key in value):
            raise InvalidParameterError(name, "every key must be a string")
        return dict(value)

    return check


def _headers(name: str, value: Any) -> dict[str, str]:
    checked = _string_mapping("header names to strings")(name, value)
    for key, item in checked.items():
        if not isinstance(item, str):
            # The value may be a credential: name its type only.
            msg = f"expected a string, got {type(item).__name__}"
            raise InvalidParameterError(f"{name}[{key!r}]", msg)
        if not key or any(c in key for c in "\r\n:\0 ") or any(c in item for c in "\r\n\0"):
            raise InvalidParameterError(name, f"header {key!r} has a forbidden character")
    return checked


def _metadata(name: str, value: Any) -> dict[str, Any]:
    # OpenAI's request metadata: string keys to string values.
    checked = _string_mapping("strings to strings")(name, value)
    for key, item in checked.items():
        if not isinstance(item, str):
            raise InvalidParameterError(
                f"{name}[{key!r}]", f"expected a string, got {_shown(item)}"
            )
    return checked


def _bias(name: str, value: Any) -> dict[str, Any]:
    checked = _string_mapping("token ids to numbers")(name, value)
    number = _number(-100, 100)
    for key, item in checked.items():
        number(f"{name}[{key!r}]", item)
    return checked


def _tools(name: str, value: Any) -> tuple[Any, ...]:
    from lmux_plug.convert import to_tool  # noqa: PLC0415 - keeps `import lmux_plug.params` light

    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidParameterError(name, f"expected a list of tools, got {_shown(value)}")
    return tuple(_converted(f"{name}[{i}]", to_tool, tool) for i, tool in enumerate(value))


def _tool_choice(name: str, value: Any) -> Any:
    from lmux_plug.convert import to_tool_choice  # noqa: PLC0415

    return _converted(name, to_tool_choice, value)


def _response_format(name: str, value: Any) -> Any:
    from lmux_plug.convert import to_response_format  # noqa: PLC0415

    return _converted(name, to_response_format, value)


def _converted(name: str, convert: Callable[[Any], Any], value: Any) -> Any:
    """Run a converter of :mod:`lmux_plug.convert`, naming the parameter in its error."""
    try:
        return convert(value)
    except InvalidParameterError:
        raise
    except InvalidRequestError as exc:
        raise InvalidParameterError(name, exc.message) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise InvalidParameterError(name, f"invalid value {_shown(value)}") from exc


# name -> check. Keys of ``ChatRequest`` fields first, then body fields (``_BODY_FIELDS``).
_CHAT_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "max_tokens": _integer(1),
    "max_completion_tokens": _integer(1),
    "stop": _stop,
    "seed": _integer(-(2**63), 2**64 - 1),
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "reasoning_effort": _choice(*REASONING_EFFORTS),
    "user": _text,
    "timeout": _seconds,
    "extra_headers": _headers,
    "extra_body": _string_mapping("body fields"),
    "extra": _string_mapping("body fields"),  # older spelling of extra_body
    "frequency_penalty": _number(-2, 2),
    "presence_penalty": _number(-2, 2),
    "logit_bias": _bias,
    "logprobs": _flag,
    "top_logprobs": _integer(0, 20),
    "top_k": _integer(1),
    "n": _only_one,
    "parallel_tool_calls": _flag,
    "metadata": _metadata,
    "service_tier": _text,
    "store": _flag,
}
# Accepted keywords that are not ``ChatRequest`` fields: sent as provider body fields.
_BODY_FIELDS = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "top_k",
        "parallel_tool_calls",
        "metadata",
        "service_tier",
        "store",
    }
)
_EMBED_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "dimensions": _integer(1),
    "encoding_format": _choice("float", "base64"),
    "input_type": _text,
    "timeout": _seconds,
    "extra_headers": _headers,
    "extra_body": _string_mapping("body fields"),
}

# The routing options of a call (router, drop-in client, batch): how it is retried and where
# it falls back, as opposed to what is sent.
_ROUTING_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "fallback_models": _models,
    "context_fallbacks": _models,
    "retries": _integer(0),
    "deadline": _seconds,
    "attempt_timeout": _seconds,
    "sticky_key": _text,
    "cache": _flag,
    "cache_ttl": _at_least_seconds,
    "singleflight": _flag,
    "content_filter_fallback": _flag,
}

# The keywords of ``create_response``, ``complete`` and ``transcribe``: name -> check; the
# names of the API's other fields, accepted unchecked (their shapes are the provider's),
# are in ``_API_PASSED``. Anything else is refused with a did-you-mean, as for chat.
_COMMON_API_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "timeout": _seconds,
    "extra_headers": _headers,
    "extra_body": _string_mapping("body fields"),
    "extra": _string_mapping("body fields"),
    "user": _text,
}
_API_CHECKS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "responses": {
        **_COMMON_API_CHECKS,
        "instructions": _text,
        "previous_response_id": _text,
        "max_output_tokens": _integer(1),
        "max_tool_calls": _integer(1),
        "temperature": _number(0, 2),
        "top_p": _number(0, 1),
        "top_logprobs": _integer(0, 20),
        "store": _flag,
        "prompt_cache_key": _text,
        "parallel_tool_calls": _flag,
        "metadata": _metadata,
        "reasoning_effort": _choice(*REASONING_EFFORTS),
        "service_tier": _text,
        "safety_identifier": _text,
        "background": _flag,
    },
    "completions": {
        **_COMMON_API_CHECKS,
        "max_tokens": _integer(1),
        "temperature": _number(0, 2),
        "top_p": _number(0, 1),
        "seed": _integer(-(2**63), 2**64 - 1),
        "n": _integer(1, 128),
        "best_of": _integer(1, 20),
        "stop": _stop,
        "suffix": _text,
        "echo": _flag,
        "logprobs": _integer(0, 5),
        "logit_bias": _bias,
        "presence_penalty": _number(-2, 2),
        "frequency_penalty": _number(-2, 2),
    },
    "transcription": {
        **_COMMON_API_CHECKS,
        "filename": _text,
        "language": _text,
        "prompt": _text,
        "temperature": _number(0, 1),
        "response_format": _choice("json", "text", "srt", "verbose_json", "vtt", "diarized_json"),
    },
}
_API_PASSED: dict[str, frozenset[str]] = {
    "responses": frozenset(
        {
            "tools",
            "tool_choice",
            "text",
            "response_format",
            "reasoning",
            "include",
            "truncation",
            "conversation",
            "prompt",
            "prompt_cache_options",
            "prompt_cache_retention",
            "context_management",
            "background_options",
            "moderation",
            "image",
            "access_programs",
            "stream_options",
        }
    ),
    "completions": frozenset({"stream_options"}),
    "transcription": frozenset(
        {
            "timestamp_granularities",
            "include",
            "chunking_strategy",
            "known_speaker_names",
            "known_speaker_references",
            "keywords",
            "languages",
            "stream_options",
        }
    ),
}

#: Every keyword a chat call accepts besides ``model``, ``messages``, ``api_key``, ``base_url``.
CHAT_PARAMETERS = frozenset(_CHAT_CHECKS) - {"extra"}
#: Every keyword an embedding call accepts besides ``model``, ``inputs``, ``api_key``, ``base_url``.
EMBED_PARAMETERS = frozenset(_EMBED_CHECKS)


def check_chat_params(params: Mapping[str, Any], *, model: str | None = None) -> dict[str, Any]:
    """Check the keywords of a chat call; return the :class:`ChatRequest` fields they give.

    ``tools``, ``tool_choice`` and ``response_format`` come back converted to the core types,
    ``stop`` as a tuple; body fields (``frequency_penalty`` ...) and ``extra_body`` are merged
    into ``extra``. ``None`` values mean "not given". Raises :class:`InvalidParameterError`
    naming the first bad parameter (with a did-you-mean for an unknown keyword).
    """
    _reject_unknown(params, _CHAT_CHECKS, model)
    fields: dict[str, Any] = {}
    body: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        checked = _run(_CHAT_CHECKS[name], name, value, model)
        if name in ("extra_body", "extra"):
            extra.update(checked)
        elif name in _BODY_FIELDS or name == "n":
            body[name] = checked
        else:
            fields[name] = checked
    if "max_completion_tokens" in fields:
        fields.setdefault("max_tokens", fields["max_completion_tokens"])
        del fields["max_completion_tokens"]
    body.pop("n", None)  # n=1 is the only accepted value and the default
    if body or extra:
        fields["extra"] = {**body, **extra}
    return fields


def check_embed_params(params: Mapping[str, Any], *, model: str | None = None) -> dict[str, Any]:
    """Check the keywords of an embedding call; return them without the ``None`` ones."""
    _reject_unknown(params, _EMBED_CHECKS, model)
    return {
        name: _run(_EMBED_CHECKS[name], name, value, model)
        for name, value in params.items()
        if value is not None
    }


def check_routing_options(model: str | None = None, /, **options: Any) -> None:
    """Check a call's routing options (``retries``, ``deadline``, ``fallback_models`` ...).

    ``None`` means "not given". Raises :class:`InvalidParameterError` naming the first bad
    one (``retries="many"``, ``deadline=-1``, ``fallback_models="openai/gpt-4o"``).
    """
    for name, value in options.items():
        if value is not None:
            _run(_ROUTING_CHECKS[name], name, value, model)


def check_api_params(kind: str, params: Mapping[str, Any], *, model: str | None = None) -> None:
    """Check the keywords of ``create_response`` / ``complete`` / ``transcribe``.

    ``kind`` is ``"responses"``, ``"completions"`` or ``"transcription"``. An unknown keyword
    is an :class:`InvalidParameterError` with a did-you-mean (provider fields go in
    ``extra_body``); the checked ones are range- and type-checked; ``None`` means not given.
    """
    checks = _API_CHECKS[kind]
    _reject_unknown(params, {**checks, **dict.fromkeys(_API_PASSED[kind])}, model)
    for name, value in params.items():
        check = checks.get(name)
        if check is not None and value is not None:
            _run(check, name, value, model)


def split_api_params(kind: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` as (the keywords ``kind``'s call takes, the rest: provider body fields).

    For a request body that mixes both (a gateway's JSON, where the SDK flattened
    ``extra_body`` into the body).
    """
    known = _API_CHECKS[kind].keys() | _API_PASSED[kind]
    taken = {k: v for k, v in params.items() if k in known}
    rest = {k: v for k, v in params.items() if k not in known}
    return taken, rest


def check_embed_inputs(inputs: Any, *, model: str | None = None) -> tuple[str, ...]:
    """One text or a non-empty list of texts, as a tuple (``InvalidParameterError`` if not)."""
    if isinstance(inputs, str):
        return (inputs,)
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(t, str) for t in inputs):
        return tuple(inputs)
    if isinstance(inputs, (list, tuple)) and not inputs:
        problem = "got an empty list"
    else:
        problem = f"got {_shown(inputs)}"
    msg = f"expected a string or a non-empty list of strings, {problem}"
    raise InvalidParameterError("inputs", msg, model=model)


def _reject_unknown(
    params: Mapping[str, Any], known: Mapping[str, object], model: str | None
) -> None:
    for name in params:
        if name not in known:
            names = sorted(set(known) - {"extra"})
            if name in _INSTEAD:
                msg = f"not a keyword here: {_INSTEAD[name]}"
                raise InvalidParameterError(name, msg, model=model)
            hint = did_you_mean(name, names)
            msg = (
                f"unknown parameter{hint}; provider-specific fields go in "
                f"extra_body={{{name!r}: ...}} (accepted: {', '.join(names)})"
            )
            raise InvalidParameterError(name, msg, model=model)


# Keywords people bring from the openai package that mean something else here.
_INSTEAD = {
    "stream": "call the _stream twin (chat_stream, achat_stream, create_response_stream ...)",
    "model": "the model is the first argument",
    "messages": "the messages are the second argument",
    "input": "the input (the texts to embed) is the second argument",
    "functions": "use tools=[...] (OpenAI's functions are tools of type 'function')",
    "function_call": "use tool_choice=",
    **dict.fromkeys(
        ("retries", "fallback_models", "deadline", "attempt_timeout", "context_fallbacks"),
        "a routing option: call through lmux_plug.router.Router (or the drop-in client "
        "lmux_plug.openai.OpenAI), which retries and falls back",
    ),
}


def _run(check: Callable[[str, Any], Any], name: str, value: Any, model: str | None) -> Any:
    try:
        return check(name, value)
    except InvalidParameterError as exc:
        if exc.model is None:
            exc.model = model
        raise


def did_you_mean(value: str, choices: Sequence[str] | frozenset[str]) -> str:
    """`` (did you mean 'temperature'?)`` for the closest of ``choices``, or ``""``."""
    import difflib  # noqa: PLC0415 - only on the error path

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shown(value: Any) -> str:
    """A short description of a bad value for an error message (never a huge repr)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"
