"""Where an OpenAI-wire call goes: the URL and query parameters of each kind of call.

The sans-IO codec (:mod:`lmux_plug_openai._codec`) and the other API codecs of this
plugin build their :class:`lmux_plug.wire.WireRequest` from :func:`endpoint`; the core's
driver (:mod:`lmux_plug.wire`) does the I/O.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lmux_plug.errors import ConfigurationError
from lmux_plug.wire import path_segment

if TYPE_CHECKING:
    from lmux_plug import ProviderContext

__all__ = ["endpoint"]

_PATHS = {
    "chat": "chat/completions",
    "embed": "embeddings",
    "complete": "completions",
    "transcribe": "audio/transcriptions",
}
_DEFAULT_AZURE_API_VERSION = "2024-10-21"


def endpoint(provider: ProviderContext, model: str, kind: str) -> tuple[str, dict[str, str]]:
    """Return the URL and query parameters of one call (``kind`` as in ``_PATHS``).

    Plain endpoints append ``chat/completions`` / ``embeddings`` to the base URL. Azure
    (``options["url_style"] == "azure"``) puts the model id (the deployment name) in the path
    and the API version in ``api-version``.
    """
    path = _PATHS[kind]
    params = provider.auth_params()
    if provider.option("url_style") != "azure":
        return provider.url(path), params
    base = provider.base_url
    if "{" in base:
        env = provider.spec.base_url_env or "the provider's base-URL variable"
        msg = (
            f"{provider.name!r} needs its endpoint: set {env} "
            f"(e.g. https://my-resource.openai.azure.com) or pass base_url="
        )
        raise ConfigurationError(msg, provider=provider.name, model=model)
    version_env = provider.option("api_version_env")
    version = (os.environ.get(str(version_env)) if version_env else None) or str(
        provider.option("api_version", _DEFAULT_AZURE_API_VERSION)
    )
    # The deployment name is one path segment: escaped, and '..' or control characters
    # refused before any I/O (it must not walk the upstream path).
    deployment = path_segment(model, what="deployment name", provider=provider.name)
    url = provider.url(f"openai/deployments/{deployment}/{path}")
    return url, {**params, "api-version": version}
