"""Vertex AI endpoint URLs.

``{root}/{version}/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}``.

The base URL is the API root. Its host may hold ``{location}`` (the default,
``https://{location}-aiplatform.googleapis.com``); the ``global`` location has no regional
host (``https://aiplatform.googleapis.com``). A base URL that already ends in a version
(``.../v1beta1``) or holds ``/projects/.../locations/...`` is used as it is, so
``registry.configure("vertex_ai", base_url=...)`` can also set version, project and location.
Model ids may be plain (``gemini-2.5-flash``), publisher paths (``publishers/meta/models/x``)
or full resource names (``projects/p/locations/l/endpoints/123``, a tuned model).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import quote
from urllib.parse import urlsplit

from lmux_plug import ConfigurationError
from lmux_plug.wire import path_segment
from lmux_plug_vertex_ai._spec import API_VERSION
from lmux_plug_vertex_ai._spec import DEFAULT_LOCATION
from lmux_plug_vertex_ai._spec import LOCATION_ENV
from lmux_plug_vertex_ai._spec import PROJECT_ENV

__all__ = ["api_root", "location_from_env", "model_url", "project_from_env"]

_VERSION = re.compile(r"/(v1|v1beta1)$")
_LOCATION = re.compile(r"[a-z0-9-]+")


def project_from_env() -> str | None:
    """The project id from ``GOOGLE_CLOUD_PROJECT`` (or its older spellings)."""
    return next((v for name in PROJECT_ENV if (v := os.environ.get(name))), None)


def location_from_env() -> str:
    """The location from ``GOOGLE_CLOUD_LOCATION`` / ``GOOGLE_CLOUD_REGION``, else ``global``."""
    location = next((v for name in LOCATION_ENV if (v := os.environ.get(name))), DEFAULT_LOCATION)
    if not _LOCATION.fullmatch(location):
        msg = f"GOOGLE_CLOUD_LOCATION {location!r} is not a Vertex AI location name"
        raise ConfigurationError(msg, provider="vertex_ai")
    return location


def needs_project(base_url: str, model: str) -> bool:
    """Whether the URL for ``model`` still needs a project id."""
    return "/projects/" not in urlsplit(base_url).path and not model.startswith("projects/")


def api_root(base_url: str, location: str, options: Mapping[str, object]) -> tuple[str, str]:
    """``(root, version)``: the base URL with its host filled in and without a version."""
    root = base_url.rstrip("/")
    if "{location}" in root:
        root = (
            root.replace("{location}-", "").replace("{location}.", "")
            if location == "global"
            else root.replace("{location}", location)
        )
    match = _VERSION.search(root)
    if match is not None:
        return root[: match.start()], match.group(1)
    version = options.get("api_version", API_VERSION)
    return root, str(version)


def model_url(
    base_url: str,
    model: str,
    method: str,
    *,
    project: str | None,
    location: str,
    options: Mapping[str, object],
) -> str:
    """The full URL of ``model``'s ``method`` (``generateContent``, ``predict``, ...).

    A model id with a ``.``/``..`` segment or control characters is refused with
    ``InvalidRequestError`` before any I/O: it must not walk the upstream path.
    """
    path_segment(model, provider="vertex_ai")  # only the check: the quoting below keeps '/'
    if "/projects/" in urlsplit(base_url).path:
        # The caller's base URL names version, project and location already.
        return f"{base_url.rstrip('/')}/{_model_path(model)}:{method}"
    root, version = api_root(base_url, location, options)
    if model.startswith("projects/"):
        return f"{root}/{version}/{quote(model, safe='/@')}:{method}"
    if project is None:
        msg = (
            f"no Google Cloud project for Vertex AI: set {' or '.join(PROJECT_ENV[:1])}, "
            "or use default credentials that name one"
        )
        raise ConfigurationError(msg, provider="vertex_ai")
    scope = f"{root}/{version}/projects/{quote(project, safe='')}/locations/{location}"
    return f"{scope}/{_model_path(model)}:{method}"


def _model_path(model: str) -> str:
    if model.startswith("publishers/"):
        return quote(model, safe="/@")
    return f"publishers/google/models/{quote(model, safe='@')}"
