"""What a call may cost at most, and what it did cost: the gateway's pricing policy.

A key with a budget reserves the **worst case** of a call before it is sent (see
:mod:`lmux_plug.gateway.accounts`) and settles the actual cost after, so concurrent calls
can never spend more than the budget. The worst case is::

    input bound x input price + max output tokens x output price

* The input bound counts every UTF-8 byte of the messages, tools and response format as a
  token (byte-level tokenizers never make more tokens than bytes), plus a fixed allowance
  per message and per image, audio or file part.
* Max output tokens is the request's ``max_tokens`` / ``max_completion_tokens``; without
  one, a budgeted call gets ``[gateway] budget_max_tokens`` (default 4096) added to its
  request, so the provider cannot generate more than was reserved.
* The price is the highest of every model the call may reach (a router model's
  deployments and fallbacks, the body's ``fallback_models``).

**Unpriced models**: a budgeted key refuses a model with no known price (403
``unpriced_model``) unless ``[gateway] unpriced_price`` gives a default price, which is then
used both to reserve and to charge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import ROUND_CEILING
from decimal import Decimal
from typing import Any

import attrs

from lmux_plug._pricing import ModelPricing
from lmux_plug._pricing import calculate_cost
from lmux_plug._pricing import per_million_tokens
from lmux_plug._types import Usage
from lmux_plug.errors import ConfigurationError
from lmux_plug.errors import LmuxError
from lmux_plug.gateway.errors import GatewayError

__all__ = [
    "AUDIO_TOKENS_PER_SECOND",
    "TRANSCRIPT_TOKENS_PER_SECOND",
    "BudgetPolicy",
    "Pricer",
    "StreamTally",
    "audio_seconds_bound",
    "check_output_limits",
    "input_bound",
    "to_nano",
]

_NANO = Decimal("1e-9")
# Tokens counted for each message (role, separators) and for each non-text part: an image
# costs up to ~1,600 tokens at the providers' largest sizes.
_PER_MESSAGE = 8
_PER_MEDIA = 3000
_MEDIA_PARTS = frozenset({"image_url", "input_audio", "file", "image", "audio"})


def to_nano(amount: Decimal) -> int:
    """US dollars as whole nano-dollars, rounded up (what the shared counters store)."""
    return int((amount / _NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(amount: int) -> Decimal:
    """Nano-dollars back to US dollars."""
    return Decimal(amount) * _NANO


@attrs.frozen
class BudgetPolicy:
    """How the gateway prices calls on budgeted keys (``[gateway]`` settings).

    ``unpriced_price``: the default price of a model without one (``None``: refuse such
    models on a budgeted key). ``budget_max_tokens``: the output reserved (and enforced as
    ``max_tokens``) when a budgeted call does not set one.
    """

    unpriced_price: ModelPricing | None = None
    budget_max_tokens: int = 4096

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> BudgetPolicy:
        """Read ``unpriced_price = {input = "..", output = ".."}`` (USD per million tokens)."""
        price = table.get("unpriced_price")
        pricing = None
        if price is not None:
            if not isinstance(price, Mapping) or set(price) != {"input", "output"}:
                msg = (
                    "[gateway] unpriced_price must be a table with input and output "
                    "(USD per million tokens)"
                )
                raise ConfigurationError(msg)
            try:
                pricing = ModelPricing(
                    input=per_million_tokens(str(price["input"])),
                    output=per_million_tokens(str(price["output"])),
                )
            except (ArithmeticError, ValueError) as exc:
                msg = f"[gateway] unpriced_price is not a valid price: {price!r}"
                raise ConfigurationError(msg) from exc
        tokens = table.get("budget_max_tokens", 4096)
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0:
            msg = f"[gateway] budget_max_tokens must be a positive integer, got {tokens!r}"
            raise ConfigurationError(msg)
        return cls(unpriced_price=pricing, budget_max_tokens=tokens)


def _text_bytes(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def input_bound(*parts: object) -> int:
    """An upper bound of the prompt tokens in ``parts`` (messages, tools, ...): see module doc."""
    total = 0
    stack: list[object] = list(parts)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += _text_bytes(item)
        elif isinstance(item, Mapping):
            if item.get("type") in _MEDIA_PARTS:
                total += _PER_MEDIA
            if "role" in item:
                total += _PER_MESSAGE
            stack.extend(item.values())
            stack.extend(k for k in item if isinstance(k, str))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif item is not None:
            total += 8  # a number or boolean: a few characters
    return total


# Names (lowercase, without "_" and "-") under which providers take an output-token limit.
_OUTPUT_LIMITS = frozenset(
    {
        "maxtokens",
        "maxoutputtokens",
        "maxcompletiontokens",
        "maxnewtokens",
        "maxtokenstosample",
        "maxgentokens",
        "numpredict",
    }
)


def check_output_limits(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse an output-token limit anywhere in ``body`` but its ``allowed`` top-level fields.

    A budgeted call reserves its worst case from the limit it declares; a provider-specific
    limit passed through as a raw body field (``generationConfig.maxOutputTokens``,
    ``options.num_predict``, ...) would let the provider write more than was reserved.
    """
    allowed = set(allowed)
    stack: list[tuple[str, object]] = [(k, v) for k, v in body.items() if k not in allowed]
    while stack:
        path, value = stack.pop()
        name = path.rsplit(".", 1)[-1]
        if name.lower().replace("_", "").replace("-", "") in _OUTPUT_LIMITS:
            msg = (
                f"'{path}' sets an output limit this key's budget cannot reserve; "
                "use the request's own max tokens field"
            )
            raise GatewayError(400, msg, param=path.split(".", 1)[0])
        if isinstance(value, Mapping):
            stack.extend((f"{path}.{k}", v) for k, v in value.items() if isinstance(k, str))
        elif isinstance(value, list):
            stack.extend((path, v) for v in value)


# The fewest bytes a second of speech takes (Opus and AMR at 6 kbit/s): an upload of N
# bytes holds at most N / 750 seconds of audio.
_AUDIO_BYTES_PER_SECOND = 750
# Per second of that audio, bounds of the tokens a token-priced transcription model may
# bill: audio input tokens, and transcript text (people speak 2-4 words a second).
AUDIO_TOKENS_PER_SECOND = 50
TRANSCRIPT_TOKENS_PER_SECOND = 20


def audio_seconds_bound(size: int) -> int:
    """The most seconds of audio an upload of ``size`` bytes can hold."""
    return math.ceil(size / _AUDIO_BYTES_PER_SECOND)


class StreamTally:
    """What a stream has carried so far, to charge it if it is cut before its usage arrives.

    A cut stream is charged its input bound and, as output, at least one token per piece
    that carried text and one per four bytes of that text (the reservation's own units), so
    a client that disconnects early pays for what it read, not for the whole reservation.
    """

    __slots__ = ("pieces", "text_bytes")

    def __init__(self) -> None:
        self.pieces = 0
        self.text_bytes = 0

    def add(self, *texts: str | None) -> None:
        """Count one piece of the stream and its texts (output text, tool arguments, ...)."""
        size = 0
        for text in texts:
            if text:
                size += _text_bytes(text)
        if size:
            self.pieces += 1
            self.text_bytes += size

    def usage(self, input_tokens: int) -> Usage:
        """The usage charged for the stream so far, its prompt bounded by ``input_tokens``."""
        output = max(self.pieces, math.ceil(self.text_bytes / 4))
        return Usage(input_tokens=input_tokens, output_tokens=output)


class Pricer:
    """Prices of the models a gateway serves, from its registry and router config."""

    def __init__(self, backend: Any, policy: BudgetPolicy) -> None:
        self._backend = backend
        self.policy = policy

    def _logical(self, name: str) -> Any:
        config = getattr(self._backend.router, "config", None)
        return (getattr(config, "models", None) or {}).get(name)

    def reachable(self, names: Iterable[str]) -> list[str]:
        """Every ``provider/model`` a call to ``names`` may end up at (router fallbacks too)."""
        out: list[str] = []
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            model = self._logical(name)
            if model is None:
                out.append(name)
                continue
            stack.extend(d.model for d in model.deployments)
            for chain in ("fallbacks", "context_fallbacks", "content_filter_fallbacks"):
                stack.extend(getattr(model, chain, ()))
        return out

    def pricing(self, name: str) -> ModelPricing | None:
        """The price of one ``provider/model`` (the default price if unpriced, else ``None``)."""
        try:
            found = self._backend.registry.pricing(name)
        except LmuxError:
            found = None
        if isinstance(found, ModelPricing):
            return found
        return self.policy.unpriced_price

    def worst_case(
        self,
        names: Iterable[str],
        input_tokens: int,
        output_tokens: int,
        audio_seconds: int = 0,
    ) -> Decimal:
        """The highest cost of the call over every model it may reach.

        ``audio_seconds`` is priced at the model's ``per_minute`` rate (transcription).

        Raises a 403 :class:`GatewayError` when one of them has no price and no default
        price is configured.
        """
        worst = Decimal(0)
        for name in self.reachable(names):
            pricing = self.pricing(name)
            if pricing is None:
                msg = (
                    f"model {name!r} has no known price and this key has a budget; "
                    "ask the gateway's operator to price it (unpriced_price)"
                )
                raise GatewayError(403, msg, type="permission_error", code="unpriced_model")
            rates = pricing.rates_for(input_tokens)
            input_rate = max(
                rates.input,
                rates.cache_write if rates.cache_write is not None else rates.input,
            )
            cost = input_tokens * input_rate + output_tokens * rates.output
            if audio_seconds and pricing.per_minute is not None:
                cost += pricing.per_minute * audio_seconds / 60
            worst = max(worst, cost)
        return worst

    def cost(self, name: str, usage: Usage) -> Decimal | None:
        """The cost of ``usage`` on ``name`` (default price if unpriced; ``None``: no price)."""
        pricing = self.pricing(name)
        return None if pricing is None else calculate_cost(usage, pricing).total
