"""Validation of the gateway's config file (``[gateway]``), as strict as the router's.

The ``[gateway]`` table is structured by the router's strict ``cattrs`` converter
(:mod:`lmux_plug.router.config_schema`): types, ranges, unknown keys with a did-you-mean,
and references (an alias names a ``provider/model`` or a ``[models.NAME]`` of the same
file; a key's ``key_env`` and a provider's ``api_key_env`` are set). Every problem is
reported at once, each with the file and its path::

    lmux.toml: $.gateway.port: expected int, got 'x'
    lmux.toml: $.gateway.keys[0].rpm: must be > 0, got -1
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any
from typing import Literal
from typing import Optional

import attrs

from lmux_plug._secrets import without_userinfo
from lmux_plug.router.config_schema import ConfigProblem
from lmux_plug.router.config_schema import ConfigValidationError
from lmux_plug.router.config_schema import SchemaConverter
from lmux_plug.router.config_schema import check_ranges
from lmux_plug.router.config_schema import model_reference_problem
from lmux_plug.router.config_schema import unknown_keys

__all__ = ["GATEWAY_FIELDS", "check_gateway_config", "check_gateway_references"]

# Optional[...] rather than ``X | None``: cattrs reads these annotations at run time (3.10).
# ruff: noqa: UP045


@attrs.frozen(kw_only=True)
class _ProviderTable:
    api_key_env: Optional[str] = None
    base_url: Optional[str] = None


@attrs.frozen(kw_only=True)
class _KeyTable:
    name: Optional[str] = None
    key: Optional[str] = None
    key_env: Optional[str] = None
    key_sha256: Optional[str] = None
    rpm: Optional[int] = None
    budget_usd: Any = None  # a string ("25.00", exact) or a number
    models: Optional[tuple[str, ...]] = None


@attrs.frozen(kw_only=True)
class _GatewayTable:
    host: Optional[str] = None
    port: Optional[int] = None
    max_body_bytes: Optional[int] = None
    body_timeout: Optional[float] = None
    default_provider: Optional[str] = None
    aliases: Optional[dict[str, str]] = None
    providers: Optional[dict[str, _ProviderTable]] = None
    keys: Optional[tuple[_KeyTable, ...]] = None
    allow_open: Optional[bool] = None
    max_in_flight: Optional[int] = None
    state: Optional[str] = None
    state_prefix: Optional[str] = None
    unpriced_price: Optional[dict[str, Any]] = None
    budget_max_tokens: Optional[int] = None
    header_timeout: Optional[float] = None
    workers: Optional[int] = None
    metrics_auth: Optional[Literal["key", "open"]] = None


#: The keys a ``[gateway]`` table may have.
GATEWAY_FIELDS = frozenset(a.name for a in attrs.fields(_GatewayTable))
# Top-level tables of a config file the gateway reads (the router reads the other two).
_TOP_LEVEL = ("gateway", "router", "models")
_STATE_SCHEMES = ("redis://", "rediss://", "unix://")


def check_gateway_config(config: Mapping[str, Any], source: str = "<config>") -> None:
    """Raise :class:`ConfigValidationError` listing every problem of a config's gateway part.

    ``config`` is the decoded file (``[tool.lmux_plug]`` of a ``pyproject.toml``); ``source``
    names it in each line. The ``[router]`` and ``[models.*]`` tables are checked by the
    router's :func:`~lmux_plug.router.config.parse_config`, and their problems listed too.
    """
    problems = unknown_keys(config, _TOP_LEVEL, "$", "table")
    raw = config.get("gateway", {})
    schema = SchemaConverter()
    table, found = schema.structure_table(raw, _GatewayTable, "$.gateway")
    problems += found
    problems += check_ranges(table, "$.gateway")
    models = config.get("models")
    logical = list(models) if isinstance(models, Mapping) else []
    problems += _alias_problems(table.get("aliases") or {}, logical)
    for name, provider in (table.get("providers") or {}).items():
        problems += _provider_problems(provider, f"$.gateway.providers.{name}")
    for index, entry in enumerate(table.get("keys") or ()):
        problems += _key_problems(entry, f"$.gateway.keys[{index}]")
    problems += _state_problems(table.get("state"))
    if "unpriced_price" in table:
        problems += _price_problems(table["unpriced_price"], "$.gateway.unpriced_price")
    if table.get("default_provider") == "":
        problems.append(ConfigProblem("$.gateway.default_provider", "must not be empty"))
    if "router" in config or "models" in config:
        # The router's tables of the same file, so that one run lists every problem.
        from lmux_plug.router.config import parse_config  # noqa: PLC0415

        try:
            parse_config(config, source)
        except ConfigValidationError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise ConfigValidationError(source, problems)


def _alias_problems(aliases: Mapping[str, str], logical: list[str]) -> list[ConfigProblem]:
    found = (
        model_reference_problem(target, logical, f"$.gateway.aliases.{name}")
        for name, target in aliases.items()
    )
    return [problem for problem in found if problem is not None]


def _provider_problems(provider: _ProviderTable, path: str) -> list[ConfigProblem]:
    problems = []
    if provider.api_key_env is not None and not os.environ.get(provider.api_key_env):
        problems.append(
            ConfigProblem(
                f"{path}.api_key_env", f"environment variable {provider.api_key_env} is not set"
            )
        )
    if provider.base_url is not None and not provider.base_url.startswith(("http://", "https://")):
        problems.append(
            ConfigProblem(
                f"{path}.base_url",
                f"expected an http(s) URL, got {without_userinfo(provider.base_url)!r}",
            )
        )
    return problems


def _key_problems(entry: _KeyTable, path: str) -> list[ConfigProblem]:
    problems = check_ranges({"rpm": entry.rpm}, path)
    sources = [n for n in ("key", "key_env", "key_sha256") if getattr(entry, n) is not None]
    if len(sources) != 1:
        got = ", ".join(sources) or "none"
        message = f"needs exactly one of key, key_env, key_sha256 (got {got})"
        problems.append(ConfigProblem(path, message))
    digest = entry.key_sha256
    if digest is not None and (
        len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower())
    ):
        problems.append(ConfigProblem(f"{path}.key_sha256", "expected 64 hex digits"))
    if entry.key_env is not None and not os.environ.get(entry.key_env):
        problems.append(
            ConfigProblem(f"{path}.key_env", f"environment variable {entry.key_env} is not set")
        )
    if entry.budget_usd is not None:
        problem = _amount_problem(entry.budget_usd)
        if problem:
            problems.append(ConfigProblem(f"{path}.budget_usd", problem))
    return problems


def _amount_problem(value: object) -> str | None:
    """Why ``value`` is not an amount of dollars (a number or a numeric string >= 0)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f'expected an amount like "25.00", got {value!r}'
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        return f'expected an amount like "25.00", got {value!r}'
    if not amount.is_finite() or amount < 0:
        return f"must be >= 0, got {value!r}"
    return None


def _price_problems(price: Mapping[str, Any], path: str) -> list[ConfigProblem]:
    problems = []
    for part in ("input", "output"):
        if part not in price:
            problems.append(ConfigProblem(f"{path}.{part}", "required key missing"))
        else:
            problem = _amount_problem(price[part])
            if problem:
                problems.append(ConfigProblem(f"{path}.{part}", problem))
    return problems + unknown_keys(price, ("input", "output"), path)


def _state_problems(state: str | None) -> list[ConfigProblem]:
    if state is None or state == "memory" or state.startswith(_STATE_SCHEMES):
        return []
    message = f"expected 'memory' or a redis://host:port/db URL, got {without_userinfo(state)!r}"
    return [ConfigProblem("$.gateway.state", message)]


def check_gateway_references(config: Mapping[str, Any], registry: Any, source: str) -> None:
    """Raise :class:`ConfigValidationError` for providers the registry does not have.

    ``[gateway.providers.NAME]`` and the ``provider/model`` targets of ``aliases`` must name
    an installed provider (the install command for a known plugin, else a did-you-mean).
    Run after :func:`check_gateway_config`, with the registry the gateway will serve.
    """
    from lmux_plug._cli_models import install_hint  # noqa: PLC0415
    from lmux_plug._cli_models import model_problem  # noqa: PLC0415

    table = config.get("gateway") or {}
    known = [spec.name for spec in registry.providers()]
    models = config.get("models")
    logical = set(models) if isinstance(models, Mapping) else set()
    problems = []
    for prefix in table.get("providers") or {}:
        if prefix in known:
            continue
        missing_plugin = install_hint(prefix)
        if missing_plugin is not None:
            problems.append(ConfigProblem(f"$.gateway.providers.{prefix}", missing_plugin))
        else:
            problems += unknown_keys({prefix: None}, known, "$.gateway.providers", "provider")
    for name, target in (table.get("aliases") or {}).items():
        problem = model_problem(registry, target, logical)
        if problem is not None:
            problems.append(ConfigProblem(f"$.gateway.aliases.{name}", problem))
    if problems:
        raise ConfigValidationError(source, problems)
