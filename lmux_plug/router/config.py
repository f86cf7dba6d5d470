"""Router configuration: deployments, logical models, and TOML loading with reload.

A *logical model* (``"fast"``) names one or more *deployments*; each deployment is a
``provider/model`` with its own base URL, key pool, weight, tier and limits. Build them
in code, or load them from ``lmux.toml`` / ``[tool.lmux_plug]`` in ``pyproject.toml``::

    [router]
    retries = 2
    deadline = 60

    [models.fast]
    strategy = "weighted"          # weighted | sticky | least-busy | lowest-latency
    fallbacks = ["smart"]              # [models.smart] and [models.long], declared
    context_fallbacks = ["long"]       # in the same file (or a "provider/model")

    [[models.fast.deployments]]
    model = "openai/gpt-4o-mini"
    base_url = "https://api.openai.com/v1"
    api_key_env = ["OPENAI_KEY_1", "OPENAI_KEY_2"]   # names only: keys stay out of files
    limits = { rpm = 500, tpm = 200000 }

A config is an immutable snapshot: :class:`ConfigSource` re-reads the file when it changes
and the router swaps snapshots, so calls in flight finish on the snapshot they started with.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import Literal

import attrs

from lmux_plug._secrets import without_userinfo
from lmux_plug._types import Secret
from lmux_plug.errors import ConfigurationError
from lmux_plug.router.config_schema import ConfigProblem
from lmux_plug.router.config_schema import ConfigValidationError
from lmux_plug.router.config_schema import SchemaConverter
from lmux_plug.router.config_schema import check_ranges
from lmux_plug.router.config_schema import extend_schema
from lmux_plug.router.config_schema import model_reference_problem
from lmux_plug.router.config_schema import schema_of
from lmux_plug.router.config_schema import unknown_keys

__all__ = [
    "ConfigProblem",
    "ConfigSource",
    "ConfigValidationError",
    "Deployment",
    "Limits",
    "LogicalModel",
    "RouterConfig",
    "apply_preset",
    "find_config_file",
    "load_config",
    "parse_config",
    "source_name",
]

Strategy = Literal["weighted", "sticky", "least-busy", "lowest-latency"]
Tier = Literal["primary", "fallback"]
STRATEGIES: tuple[str, ...] = ("weighted", "sticky", "least-busy", "lowest-latency")


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    given: object = value  # code may pass anything: a string must not become a TypeError
    if given is not None and (isinstance(given, bool) or not isinstance(given, (int, float))):
        msg = f"{attribute.name} must be a number, got {given!r}"
        raise ConfigurationError(msg)
    if value is not None and value <= 0:
        msg = f"{attribute.name} must be positive, got {value!r}"
        raise ConfigurationError(msg)


@attrs.frozen
class Limits:
    """Client-side limits of one deployment or key; ``None`` means no limit.

    ``minute`` is the length of a "minute" in seconds (tests shrink it; a day is 1440
    minutes). Request limits are sliding windows: never more than ``rpm`` calls in any
    minute. ``burst`` is how many calls may go back to back before the rest are spaced
    ``minute / rpm`` apart (``None``: the whole limit at once); smooth spacing keeps
    latency low and the provider's quota fully used. Token limits are buckets holding
    ``token_burst`` minutes of tokens (default one) that refill continuously.
    """

    rpm: int | None = attrs.field(default=None, validator=_positive_or_none)
    tpm: int | None = attrs.field(default=None, validator=_positive_or_none)
    rpd: int | None = attrs.field(default=None, validator=_positive_or_none)
    tpd: int | None = attrs.field(default=None, validator=_positive_or_none)
    burst: int | None = attrs.field(default=None, validator=_positive_or_none)
    token_burst: float = attrs.field(default=1.0, validator=_positive_or_none)
    minute: float = attrs.field(default=60.0, validator=_positive_or_none)

    @property
    def any(self) -> bool:
        """Whether any limit is set."""
        return any(v is not None for v in (self.rpm, self.tpm, self.rpd, self.tpd))


def _secrets(value: Sequence[str | Secret] | str | Secret | None) -> tuple[Secret, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Secret)):
        value = [value]
    return tuple(v if isinstance(v, Secret) else Secret(v) for v in value if v)


@attrs.frozen
class Deployment:
    """One ``provider/model`` endpoint a logical model may be served by.

    ``weight`` defaults to the declared ``rpm`` (quota pooling), else 1. ``api_keys`` is
    a key pool (round robin; see :mod:`lmux_plug.router.keys`); empty means the
    registry's usual credentials. ``attempt_timeout`` overrides the router's for calls
    to this deployment.
    """

    model: str
    base_url: str | None = None
    api_keys: tuple[Secret, ...] = attrs.field(default=(), converter=_secrets, repr=False)
    weight: float | None = attrs.field(default=None, validator=_positive_or_none)
    tier: Tier = "primary"
    limits: Limits = attrs.field(factory=Limits)
    key_limits: Limits = attrs.field(factory=Limits)
    context_window: int | None = None
    name: str | None = None
    attempt_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)

    def __attrs_post_init__(self) -> None:
        given: object = self.model  # code may pass anything: not a TypeError deep inside
        if not isinstance(given, str):
            msg = f"deployment model must be a 'provider/model' string, got {given!r}"
            raise ConfigurationError(msg)
        if "/" not in self.model or self.model.startswith("/") or self.model.endswith("/"):
            msg = f"deployment model {self.model!r} is not of the form 'provider/model'"
            raise ConfigurationError(msg)
        if self.tier not in ("primary", "fallback"):
            msg = f"deployment tier must be 'primary' or 'fallback', got {self.tier!r}"
            raise ConfigurationError(msg)

    @property
    def id(self) -> str:
        """A stable name for stats, breakers and buckets (``name`` or model@base_url)."""
        if self.name:
            return self.name
        if not self.base_url:
            return self.model
        if "@" in self.base_url:  # user info: the id is logged and shown, never a password
            return f"{self.model}@{without_userinfo(self.base_url)}"
        return f"{self.model}@{self.base_url}"

    @property
    def effective_weight(self) -> float:
        """The selection weight: explicit, else the declared rpm, else 1."""
        if self.weight is not None:
            return self.weight
        return float(self.limits.rpm) if self.limits.rpm else 1.0


def _deployments(value: Sequence[Deployment | str] | str) -> tuple[Deployment, ...]:
    # One "provider/model" string is one deployment (as ``api_keys`` takes one key), not
    # one deployment per character.
    if isinstance(value, (str, Deployment)):
        value = [value]
    given: object = value
    if not isinstance(given, Sequence):
        msg = f"deployments must be a list of Deployment or 'provider/model' strings, got {given!r}"
        raise ConfigurationError(msg)
    out: list[Deployment] = []
    for item in value:
        item_given: object = item
        if isinstance(item_given, str):
            out.append(Deployment(item_given))
        elif isinstance(item_given, Deployment):
            out.append(item_given)
        else:
            msg = f"a deployment must be a Deployment or a 'provider/model' string, got {item!r}"
            raise ConfigurationError(msg)
    return tuple(out)


def _names(value: Sequence[str] | str) -> tuple[str, ...]:
    # A fallback chain of one may be written as its name: "smart", not ("s", "m", ...).
    given: object = value
    if isinstance(given, str):
        return (given,)
    if not isinstance(given, Sequence) or not all(isinstance(v, str) for v in given):
        msg = f"a fallback list must be a list of model names, got {given!r}"
        raise ConfigurationError(msg)
    return tuple(value)


@attrs.frozen
class LogicalModel:
    """A name callers use, served by ``deployments``, with default fallback chains.

    ``retries``: extra attempts for this model, instead of the router's ``retries`` (a
    call's own ``retries=`` still wins).
    """

    name: str
    deployments: tuple[Deployment, ...] = attrs.field(converter=_deployments)
    strategy: Strategy = "weighted"
    fallbacks: tuple[str, ...] = attrs.field(default=(), converter=_names)
    context_fallbacks: tuple[str, ...] = attrs.field(default=(), converter=_names)
    content_filter_fallbacks: tuple[str, ...] = attrs.field(default=(), converter=_names)
    retries: int | None = attrs.field(default=None, validator=lambda m, _, v: _retries(m, v))
    # Preset: default call parameters (``temperature``, ``max_tokens``, ``response_format``
    # ...) and a system prompt, applied to calls of this name unless the call sets them.
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=dict, hash=False)
    system: str | None = attrs.field(default=None, validator=lambda m, _, v: _system(m, v))

    def __attrs_post_init__(self) -> None:
        if self.params:
            from lmux_plug.params import check_chat_params  # noqa: PLC0415

            check_chat_params(self.params, model=self.name)
        if not self.deployments:
            msg = f"logical model {self.name!r} has no deployments"
            raise ConfigurationError(msg)
        if self.strategy not in STRATEGIES:
            msg = f"unknown strategy {self.strategy!r} for {self.name!r}; use one of {STRATEGIES}"
            raise ConfigurationError(msg)
        ids = [d.id for d in self.deployments]
        if len(set(ids)) != len(ids):
            msg = f"logical model {self.name!r} has two deployments with the same id; set name="
            raise ConfigurationError(msg)


def _retries(model: LogicalModel, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"logical model {model.name!r}: retries must be an int >= 0, got {value!r}"
        raise ConfigurationError(msg)


def _system(model: LogicalModel, value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"logical model {model.name!r}: system must be a string, got {value!r}"
        raise ConfigurationError(msg)


def _models(value: Mapping[str, LogicalModel | Sequence[Deployment | str]]) -> dict[str, Any]:
    given: object = value
    if isinstance(given, RouterConfig):
        msg = "models is a RouterConfig: pass it as Router(config=...)"
        raise ConfigurationError(msg)
    if not isinstance(given, Mapping):
        msg = (
            "models must be a mapping of logical names to a LogicalModel or a list of "
            f"deployments, got {given!r}"
        )
        raise ConfigurationError(msg)
    out: dict[str, LogicalModel] = {}
    for name, model in value.items():
        name_given: object = name
        if not isinstance(name_given, str) or not name_given:
            msg = f"a logical model's name must be a non-empty string, got {name_given!r}"
            raise ConfigurationError(msg)
        out[name] = model if isinstance(model, LogicalModel) else LogicalModel(name, model)
    return out


@attrs.frozen
class RouterConfig:
    """One immutable snapshot of the router's settings.

    ``retries``: extra attempts per model of a chain; ``deadline``: seconds for a whole
    call (retries, waits and fallbacks included); ``retry_after_cap``: the longest
    ``Retry-After`` honoured; breaker: ``breaker_threshold`` consecutive retryable
    failures open it for ``breaker_cooldown`` seconds (doubling on each re-opening up to
    ``breaker_max_cooldown``), then ``breaker_probes`` trial calls decide.

    ``attempt_timeout``: seconds one attempt may take before it is cut and retried
    (elsewhere if possible); ``None``: only the deadline bounds it. ``on_state_error``:
    what a shared state backend (Redis) being unreachable does: ``"degrade"`` (default)
    keeps serving with local in-memory limits, breakers and key health, logs a warning
    and goes back to the shared backend once it answers again; ``"fail"`` raises
    :class:`~lmux_plug.router.state.StateBackendError` for every call meanwhile.
    """

    models: Mapping[str, LogicalModel] = attrs.field(factory=dict, converter=_models)
    retries: int = 2
    deadline: float = 120.0
    backoff_base: float = 0.05
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 5.0
    breaker_max_cooldown: float = 300.0
    breaker_probes: int = 1
    cache_ttl: float | None = None
    cache_size: int = 1024
    singleflight: bool = False
    content_filter_fallback: bool = False
    learn_limits: bool = True
    attempt_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)
    on_state_error: Literal["degrade", "fail"] = attrs.field(
        default="degrade", validator=attrs.validators.in_(("degrade", "fail"))
    )

    def __attrs_post_init__(self) -> None:
        # A config built in code is held to the file's rules (types, ranges, references),
        # so ``RouterConfig(retries="many")`` fails here, not as a TypeError on each call.
        problems = _settings_problems(self) + _reference_problems(self.models)
        if problems:
            raise ConfigValidationError(type(self).__name__, problems)


def _settings_problems(config: RouterConfig) -> list[ConfigProblem]:
    values = {
        field.name: getattr(config, field.name)
        for field in attrs.fields(RouterConfig)
        if field.name != "models" and getattr(config, field.name) is not None
    }
    _, problems = _schema().structure_table(
        values, schema_of(RouterConfig, frozenset({"models"})), "$.router"
    )
    return problems + check_ranges(values, "$.router")


@functools.cache
def _schema() -> SchemaConverter:
    return SchemaConverter()


# -- TOML --------------------------------------------------------------------------------


def _toml_loads(text: str, source: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415 - only when a file is read
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # noqa: PLC0415
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{source}: invalid TOML: {exc}"
        raise ConfigurationError(msg) from exc


# Top-level tables of a config file; ``gateway`` belongs to the gateway (checked there).
_TOP_LEVEL = ("router", "models", "gateway")
# Sent as keyword to each schema, in addition to the runtime class's own fields.
_REFERENCE_FIELDS = ("fallbacks", "context_fallbacks", "content_filter_fallbacks")


def _keys(
    names: Sequence[str], keys: Sequence[str], path: str
) -> tuple[list[Secret], list[ConfigProblem]]:
    secrets: list[Secret] = []
    problems: list[ConfigProblem] = []
    for index, name in enumerate(names):
        value = os.environ.get(name)
        if not value:
            problems.append(
                ConfigProblem(
                    f"{path}.api_key_env[{index}]", f"environment variable {name} is not set"
                )
            )
        else:
            secrets.append(Secret(value))
    secrets.extend(Secret(k) for k in keys if k)
    return secrets, problems


def _deployment(
    raw: Any, path: str, schema: SchemaConverter
) -> tuple[Deployment | None, list[ConfigProblem]]:
    if isinstance(raw, str):
        raw = {"model": raw}
    if not isinstance(raw, Mapping):
        return None, [ConfigProblem(path, "expected 'provider/model' or a table with model = ...")]
    raw = dict(raw)
    if isinstance(raw.get("api_key_env"), str):
        raw["api_key_env"] = [raw["api_key_env"]]
    if isinstance(raw.get("api_keys"), str):
        raw["api_keys"] = [raw["api_keys"]]
    fields, problems = schema.structure_table(raw, _deployment_schema(), path)
    if "model" not in raw:
        problems.append(ConfigProblem(f"{path}.model", "required key missing"))
    problems += check_ranges(fields, path)
    for name in ("limits", "key_limits"):
        if name in fields:
            limits = {
                k: v for k, v in attrs.asdict(fields[name], recurse=False).items() if v is not None
            }
            problems += check_ranges(limits, f"{path}.{name}")
            fields[name] = limits
    keys, key_problems = _keys(fields.pop("api_key_env", ()), fields.pop("api_keys", ()), path)
    problems += key_problems
    if problems:
        return None, problems
    try:
        for name in ("limits", "key_limits"):
            if name in fields:
                fields[name] = Limits(**fields[name])
        return Deployment(api_keys=keys, **fields), []
    except (ConfigurationError, TypeError, ValueError) as exc:
        return None, [ConfigProblem(path, getattr(exc, "message", str(exc)))]


def _deployment_schema() -> type:
    limits = schema_of(Limits)
    return extend_schema(
        schema_of(Deployment, frozenset({"api_keys", "limits", "key_limits"})),
        {
            "api_keys": tuple[str, ...],
            "api_key_env": tuple[str, ...],
            "limits": limits,
            "key_limits": limits,
        },
    )


def _logical_model(
    name: str, raw: Any, path: str, schema: SchemaConverter
) -> tuple[LogicalModel | None, list[ConfigProblem]]:
    if not isinstance(raw, Mapping):
        return None, [ConfigProblem(path, "expected a table with deployments = [...]")]
    raw = dict(raw)
    deployments_raw = raw.pop("deployments", None)
    fields, problems = schema.structure_table(
        raw, schema_of(LogicalModel, frozenset({"name", "deployments"})), path
    )
    problems = [_placed(problem, path) for problem in problems]
    problems += check_ranges(fields, path)
    if deployments_raw is None:
        problems.append(ConfigProblem(f"{path}.deployments", "required key missing"))
        deployments_raw = []
    elif not isinstance(deployments_raw, list):
        problems.append(ConfigProblem(f"{path}.deployments", "expected a list"))
        deployments_raw = []
    elif not deployments_raw:
        problems.append(ConfigProblem(f"{path}.deployments", "no deployments"))
    deployments = []
    for index, item in enumerate(deployments_raw):
        deployment, found = _deployment(item, f"{path}.deployments[{index}]", schema)
        problems += found
        if deployment is not None:
            deployments.append(deployment)
    problems += _preset_problems(fields, path)
    if problems:
        return None, problems
    try:
        return LogicalModel(name, deployments, **fields), []
    except (ConfigurationError, TypeError, ValueError) as exc:
        return None, [ConfigProblem(path, getattr(exc, "message", str(exc)))]


def _placed(problem: ConfigProblem, path: str) -> ConfigProblem:
    """An unknown key of a model table that belongs elsewhere says where it goes."""
    key = problem.path[len(path) + 1 :]
    if not problem.message.startswith("unknown key") or "." in key or "[" in key:
        return problem
    from lmux_plug.params import CHAT_PARAMETERS  # noqa: PLC0415 - on the error path only

    if key in CHAT_PARAMETERS:
        where = f"a preset parameter goes in [{path[2:]}.params]"
    elif key in {f.name for f in attrs.fields(RouterConfig)}:
        where = f"{key} is a setting of the whole router: put it under [router]"
    else:
        return problem
    return ConfigProblem(problem.path, f"{problem.message}; {where}")


def _preset_problems(fields: Mapping[str, Any], path: str) -> list[ConfigProblem]:
    params = fields.get("params")
    if not params:
        return []
    from lmux_plug.params import InvalidParameterError  # noqa: PLC0415
    from lmux_plug.params import check_chat_params  # noqa: PLC0415

    # Each parameter on its own, so every bad one is listed at once (the call-time check
    # stops at the first); then all together, for the checks that span parameters.
    problems = []
    for group in [{name: value} for name, value in params.items()] + [params]:
        try:
            check_chat_params(group)
        except InvalidParameterError as exc:
            message = exc.message.partition(": ")[2]
            problems.append(ConfigProblem(f"{path}.params.{exc.param}", message))
    return list(dict.fromkeys(problems))


def _reference_problems(models: Mapping[str, LogicalModel]) -> list[ConfigProblem]:
    """Fallback chains must name declared logical models or ``provider/model`` strings.

    A model may not list itself, and may not list one target twice: the chain is tried in
    order, so either would only repeat a model that has just failed.
    """
    problems = []
    for name, model in models.items():
        for field in _REFERENCE_FIELDS:
            seen: set[str] = set()
            for index, target in enumerate(getattr(model, field)):
                path = f"$.models.{name}.{field}[{index}]"
                problem = model_reference_problem(target, list(models), path)
                if problem is None and target == name:
                    problem = ConfigProblem(path, f"model {name!r} lists itself as a fallback")
                elif problem is None and target in seen:
                    problem = ConfigProblem(path, f"{target!r} is listed twice")
                seen.add(target)
                if problem is not None:
                    problems.append(problem)
    return problems


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> RouterConfig:
    """Build a :class:`RouterConfig` from a decoded TOML table (``router`` + ``models``).

    Raises :class:`ConfigValidationError` listing every problem, each with the source and
    its path (``lmux.toml: $.models.fast.deployments[0].weight: must be > 0, got -1``). A
    file must declare at least one logical model: an empty or half-written file is
    invalid, so a hot reload of one keeps the last good config.
    """
    schema = SchemaConverter()
    problems = unknown_keys(data, _TOP_LEVEL, "$", "table")
    settings, found = schema.structure_table(
        data.get("router", {}), schema_of(RouterConfig, frozenset({"models"})), "$.router"
    )
    problems += found + check_ranges(settings, "$.router")
    models_raw = data.get("models")
    models: dict[str, LogicalModel] = {}
    if not isinstance(models_raw, Mapping) or not models_raw:
        what = "expected a table of logical models" if models_raw is not None else "missing"
        problems.append(
            ConfigProblem(
                "$.models", f"{what}: declare at least one [models.NAME] with deployments"
            )
        )
    else:
        for name, raw in models_raw.items():
            model, found = _logical_model(name, raw, f"$.models.{name}", schema)
            problems += found
            if model is not None:
                models[name] = model
        if len(models) == len(models_raw):
            problems += _reference_problems(models)
    if problems:
        raise ConfigValidationError(source, problems)
    try:
        return RouterConfig(models=models, **settings)
    except (ConfigurationError, TypeError, ValueError) as exc:
        raise ConfigValidationError(
            source, [ConfigProblem("$.router", getattr(exc, "message", str(exc)))]
        ) from exc


def find_config_file(start: Path | None = None) -> Path | None:
    """``lmux.toml``, else a ``pyproject.toml`` with ``[tool.lmux_plug]``, from ``start`` up."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "lmux.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.lmux_plug" in pyproject.read_text("utf-8"):
            return pyproject
    return None


def load_config(path: str | os.PathLike[str]) -> RouterConfig:
    """Read a config file (``lmux.toml`` or a ``pyproject.toml`` with ``[tool.lmux_plug]``)."""
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        msg = f"cannot read router config {file}: {exc.strerror}"
        raise ConfigurationError(msg) from exc
    data = _toml_loads(text, str(file))
    if file.name == "pyproject.toml":
        data = data.get("tool", {}).get("lmux_plug", {})
    return parse_config(data, source_name(file))


def source_name(path: str | os.PathLike[str] | None) -> str:
    """How errors name a config file: ``pyproject.toml [tool.lmux_plug]`` for a pyproject.

    The paths of the problems start at ``[tool.lmux_plug]`` there (``$.router.retries``).
    """
    if path is None:
        return "<config>"
    file = Path(path)
    return f"{file} [tool.lmux_plug]" if file.name == "pyproject.toml" else str(file)


class ConfigSource:
    """A config file watched for changes: :meth:`current` re-reads it when it changed.

    The modification time is checked at most every ``check_interval`` seconds, so the
    check costs nothing on the hot path. A file that became invalid keeps the last good
    snapshot and records the error in :attr:`last_error`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval: float = 1.0,
        check: Callable[[RouterConfig, str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.check_interval = check_interval
        self.last_error: ConfigurationError | None = None
        # More checks of a loaded snapshot (the router's: providers its registry knows).
        self._check = check
        self._mtime = self._stat()
        self._config = self._load()
        self._next_check = time.monotonic() + check_interval

    def _load(self) -> RouterConfig:
        config = load_config(self.path)
        if self._check is not None:
            self._check(config, str(self.path))
        return config

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except OSError:
            return -1.0

    def current(self) -> RouterConfig:
        """The newest valid snapshot (re-read if the file changed since the last check)."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            self.reload_if_changed()
        return self._config

    def reload_if_changed(self) -> bool:
        """Re-read the file now if its mtime changed; return whether a new snapshot loaded."""
        mtime = self._stat()
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        return self.reload()

    def reload(self) -> bool:
        """Re-read the file now; keep the old snapshot (and log why) if the new one is invalid."""
        try:
            self._config = self._load()
        except ConfigurationError as exc:
            self.last_error = exc
            _log().warning("config reload failed; keeping the last good config:\n%s", exc)
            return False
        self.last_error = None
        _log().info(
            "config reloaded from %s (%d logical models)", self.path, len(self._config.models)
        )
        return True


def _log() -> logging.Logger:
    from lmux_plug._secrets import scrubbed_logger  # noqa: PLC0415 - only when a reload logs

    return scrubbed_logger("lmux_plug.router.config")


def apply_preset(
    config: RouterConfig, model: str, messages: Any, params: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The messages and parameters of a call to ``model`` with its preset applied.

    The call's own parameters win; the preset's system prompt is put first unless the
    call already starts with a system (or developer) message.
    """
    logical = config.models.get(model)
    if logical is None or (not logical.params and logical.system is None):
        return messages, params
    # ``None`` means "not given" for a call's parameter: it leaves the preset's value.
    merged = {**logical.params, **{k: v for k, v in params.items() if v is not None}}
    if logical.system is not None:
        messages = _with_system(messages, logical.system)
    return messages, merged


def _with_system(messages: Any, system: str) -> Any:
    from lmux_plug._types import DeveloperMessage  # noqa: PLC0415
    from lmux_plug._types import SystemMessage  # noqa: PLC0415
    from lmux_plug._types import UserMessage  # noqa: PLC0415

    listed = [UserMessage(messages)] if isinstance(messages, str) else list(messages)
    first = listed[0] if listed else None
    role = first.get("role") if isinstance(first, Mapping) else None
    if isinstance(first, (SystemMessage, DeveloperMessage)) or role in ("system", "developer"):
        return listed
    return [SystemMessage(system), *listed]
