"""Model-name help for the command line: did-you-mean and install hints, before any call.

A user types ``gpt-4o-mini`` (no prefix), ``openai/gpt-4o-mnii`` (a typo) or
``bedrock/...`` (a provider whose plugin is not installed); each gets one clear line
instead of a bare "unknown provider" error.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmux_plug.registry import Registry

__all__ = ["KNOWN_PLUGINS", "install_hint", "model_problem", "model_suggestion"]

# Provider prefixes served by plugins this project publishes -> the distribution to install.
KNOWN_PLUGINS: dict[str, str] = {
    "openai": "lmux-plug-openai",
    "azure": "lmux-plug-openai",
    "groq": "lmux-plug-openai",
    "together": "lmux-plug-openai",
    "deepseek": "lmux-plug-openai",
    "mistral": "lmux-plug-openai",
    "openrouter": "lmux-plug-openai",
    "fireworks": "lmux-plug-openai",
    "deepinfra": "lmux-plug-openai",
    "perplexity": "lmux-plug-openai",
    "cerebras": "lmux-plug-openai",
    "xai": "lmux-plug-openai",
    "vllm": "lmux-plug-openai",
    "llamacpp": "lmux-plug-openai",
    "lmstudio": "lmux-plug-openai",
    "ollama_openai": "lmux-plug-openai",
    "anthropic": "lmux-plug-anthropic",
    "gemini": "lmux-plug-gemini",
    "ollama": "lmux-plug-ollama",
    "bedrock": "lmux-plug-bedrock",
    "vertex_ai": "lmux-plug-vertex-ai",
    "cohere": "lmux-plug-cohere",
}


def declared_models(registry: Registry) -> list[str]:
    """Every ``prefix/model`` the registry's providers declare (ids and aliases)."""
    names: list[str] = []
    for spec in registry.providers():
        for model in spec.models:
            names.append(f"{spec.name}/{model.id}")
            names.extend(f"{spec.name}/{alias}" for alias in model.aliases)
    return names


def install_hint(prefix: str) -> str | None:
    """``pip install ...`` for a known provider prefix, else ``None``."""
    package = KNOWN_PLUGINS.get(prefix)
    if package is None:
        return None
    folder = package.removeprefix("lmux-plug-").replace("-", "_")
    return (
        f"provider {prefix!r} needs its plugin: pip install {package} "
        f"(from a clone of lmux-plug: pip install -e plugins/{folder})"
    )


def model_problem(registry: Registry, model: str, logical: set[str]) -> str | None:
    """Why ``model`` cannot be called at all (one line), or ``None`` if it can be tried.

    ``logical`` holds names that stand alone (router models, aliases).
    """
    if model in logical:
        return None
    prefix, sep, model_id = model.partition("/")
    known = declared_models(registry)
    if not sep:
        near = difflib.get_close_matches(model, sorted(logical), n=1)
        if near:  # a misspelt logical model of the config ('fsat' for 'fast')
            return f"model {model!r} names no provider nor logical model; did you mean {near[0]!r}?"
        exact = [name for name in known if name.partition("/")[2] == model]
        close = exact or difflib.get_close_matches(
            model, [name.partition("/")[2] for name in known], n=1
        )
        if close and not exact:
            close = [name for name in known if name.partition("/")[2] == close[0]]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"model {model!r} names no provider (use 'provider/model'){hint}"
    if prefix in {spec.name for spec in registry.providers()}:
        return None
    missing_plugin = install_hint(prefix)
    if missing_plugin is not None:
        return missing_plugin
    near = difflib.get_close_matches(prefix, [spec.name for spec in registry.providers()], n=1)
    did = f"; did you mean {near[0] + '/' + model_id!r}?" if near else ""
    return f"unknown provider {prefix!r} in {model!r}{did}"


def model_suggestion(registry: Registry, model: str) -> str | None:
    """A did-you-mean for a model id its provider does not declare (``None`` if declared)."""
    known = declared_models(registry)
    if model in known or "/" not in model:
        return None
    prefix = model.partition("/")[0]
    same_provider = [name for name in known if name.startswith(prefix + "/")]
    close = difflib.get_close_matches(model, same_provider, n=1, cutoff=0.75)
    if not close:
        return None
    return f"{model!r} is not a declared model; did you mean {close[0]!r}?"
