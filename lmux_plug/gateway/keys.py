"""Virtual keys: who may call the gateway, how often, for how much, and which models.

A client presents a virtual key (``Authorization: Bearer <key>``); the gateway stores only
its SHA-256 and never forwards it. Provider keys live in the registry/router and never
reach a client. Keys come from the ``[gateway]`` table of the config::

    [[gateway.keys]]
    name = "team-a"
    key_sha256 = "9f86d0..."      # or key_env = "TEAM_A_KEY", or key = "..." (discouraged)
    rpm = 60                      # requests per minute (sliding window)
    budget_usd = "5.00"           # total cost this key may spend (Decimal text)
    models = ["openai/*", "fast"] # allowed model names (fnmatch patterns); default all

or from ``LMUX_PLUG_GATEWAY_KEYS="team-a=<key>,team-b=<key>"`` (no limits).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import os
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

import attrs

from lmux_plug.errors import ConfigurationError
from lmux_plug.gateway.errors import GatewayError

__all__ = ["KeyStore", "VirtualKey", "hash_key"]

ENV_KEYS = "LMUX_PLUG_GATEWAY_KEYS"


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a virtual key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def _decimal(value: object, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        msg = f"{name} must be a number, got {value!r}"
        raise ConfigurationError(msg) from exc
    if result < 0:
        msg = f"{name} must be >= 0, got {value!r}"
        raise ConfigurationError(msg)
    return result


@attrs.frozen(eq=False)
class VirtualKey:
    """One client key: its hash, limits, budget and allowed models.

    What a key has used lives in the state backend (:mod:`lmux_plug.gateway.accounts`),
    shared by every gateway process.
    """

    name: str
    key_hash: str = attrs.field(repr=False)
    rpm: int | None = None
    budget: Decimal | None = None
    models: tuple[str, ...] = ()
    # Seconds in a "minute"; tests shrink it so a window passes quickly.
    window: float = 60.0

    def allows_model(self, model: str) -> bool:
        """Whether this key may call ``model`` (no patterns: every model)."""
        return not self.models or any(fnmatch.fnmatchcase(model, p) for p in self.models)

    def check_model(self, *names: str) -> None:
        """Raise a 403 :class:`GatewayError` unless one of ``names`` is allowed.

        ``names`` are one model under its names (an alias and what it stands for).
        """
        if not any(self.allows_model(name) for name in names):
            msg = f"key {self.name!r} may not call model {names[0]!r}"
            raise GatewayError(403, msg, type="permission_error", code="model_not_allowed")


class KeyStore:
    """The gateway's virtual keys, looked up by hash."""

    def __init__(self, keys: Iterable[VirtualKey] = ()) -> None:
        self._by_hash: dict[str, VirtualKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: VirtualKey) -> None:
        """Add a key; two keys with one secret are a configuration error."""
        if key.key_hash in self._by_hash:
            msg = f"virtual keys {self._by_hash[key.key_hash].name!r} and {key.name!r} are equal"
            raise ConfigurationError(msg)
        self._by_hash[key.key_hash] = key

    def __len__(self) -> int:
        return len(self._by_hash)

    def __iter__(self) -> Any:
        return iter(self._by_hash.values())

    @property
    def enabled(self) -> bool:
        """Whether any key is configured (no keys: the gateway is open)."""
        return bool(self._by_hash)

    def authenticate(self, authorization: str | None) -> VirtualKey:
        """The key for an ``Authorization`` header; :class:`GatewayError` 401 otherwise."""
        if not authorization:
            msg = "missing API key: send 'Authorization: Bearer <virtual key>'"
            raise GatewayError(401, msg, type="invalid_request_error", code="missing_api_key")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            msg = "malformed Authorization header: expected 'Bearer <virtual key>'"
            raise GatewayError(401, msg, type="invalid_request_error", code="invalid_api_key")
        digest = hash_key(token)
        key = self._by_hash.get(digest)
        # compare_digest on the stored hash keeps the final check constant-time.
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            msg = "invalid API key"
            raise GatewayError(401, msg, type="invalid_request_error", code="invalid_api_key")
        return key

    @classmethod
    def from_config(
        cls,
        entries: Sequence[Mapping[str, Any]] = (),
        *,
        environ: Mapping[str, str] | None = None,
        window: float = 60.0,
    ) -> KeyStore:
        """Keys from ``[[gateway.keys]]`` entries plus ``LMUX_PLUG_GATEWAY_KEYS``."""
        env = os.environ if environ is None else environ
        store = cls()
        for index, entry in enumerate(entries):
            store.add(_key_from_entry(entry, index, env, window))
        for index, item in enumerate(filter(None, env.get(ENV_KEYS, "").split(","))):
            name, sep, secret = item.strip().partition("=")
            if not sep:
                name, secret = f"env-{index}", name
            if not secret:
                msg = f"{ENV_KEYS} item {index} has an empty key"
                raise ConfigurationError(msg)
            store.add(VirtualKey(name=name, key_hash=hash_key(secret), window=window))
        return store


def _key_from_entry(entry: object, index: int, env: Mapping[str, str], window: float) -> VirtualKey:
    if not isinstance(entry, Mapping):
        msg = f"gateway.keys[{index}] must be a table"
        raise ConfigurationError(msg)
    unknown = set(entry) - {"name", "key", "key_env", "key_sha256", "rpm", "budget_usd", "models"}
    if unknown:
        msg = f"gateway.keys[{index}] has unknown fields {sorted(unknown)}"
        raise ConfigurationError(msg)
    name = str(entry.get("name") or f"key-{index}")
    sources = [k for k in ("key", "key_env", "key_sha256") if k in entry]
    if len(sources) != 1:
        msg = f"gateway.keys[{index}] ({name}) needs exactly one of key, key_env, key_sha256"
        raise ConfigurationError(msg)
    if "key_sha256" in entry:
        digest = str(entry["key_sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            msg = f"gateway.keys[{index}] ({name}): key_sha256 must be 64 hex digits"
            raise ConfigurationError(msg)
    elif "key_env" in entry:
        secret = env.get(str(entry["key_env"]))
        if not secret:
            variable = entry["key_env"]
            msg = f"gateway.keys[{index}] ({name}): environment variable {variable} is not set"
            raise ConfigurationError(msg)
        digest = hash_key(secret)
    else:
        digest = hash_key(str(entry["key"]))
    rpm = entry.get("rpm")
    if rpm is not None and (isinstance(rpm, bool) or not isinstance(rpm, int) or rpm <= 0):
        msg = f"gateway.keys[{index}] ({name}): rpm must be a positive integer"
        raise ConfigurationError(msg)
    models = entry.get("models") or ()
    if isinstance(models, str) or not all(isinstance(m, str) for m in models):
        msg = f"gateway.keys[{index}] ({name}): models must be a list of strings"
        raise ConfigurationError(msg)
    return VirtualKey(
        name=name,
        key_hash=digest,
        rpm=rpm,
        budget=_decimal(entry.get("budget_usd"), f"gateway.keys[{index}].budget_usd"),
        models=tuple(models),
        window=window,
    )
