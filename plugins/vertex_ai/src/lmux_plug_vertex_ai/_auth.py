"""Google application default credentials for Vertex AI, through google-auth.

Used only when no access token was given (``VERTEX_ACCESS_TOKEN`` or ``api_key=``).
``google.auth.default()`` finds the credentials (``GOOGLE_APPLICATION_CREDENTIALS``, the
gcloud ADC file, the metadata server on Google Cloud); they are kept per process and
refreshed in a worker thread when their token is missing or expired, over urllib3 (no
``requests`` needed). google-auth is imported on first use only.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

from lmux_plug import AuthenticationError
from lmux_plug_vertex_ai._spec import TOKEN_ENV

__all__ = ["SCOPES", "access_token", "default_project"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_lock = threading.Lock()
_found: dict[str, Any] = {}  # "credentials" / "project", once found


def _missing(reason: str) -> AuthenticationError:
    msg = (
        f"no credentials for Vertex AI ({reason}): set {TOKEN_ENV} to an access token, "
        "or GOOGLE_APPLICATION_CREDENTIALS / `gcloud auth application-default login` "
        "for google-auth default credentials"
    )
    return AuthenticationError(msg, provider="vertex_ai")


def _default() -> tuple[Any, str | None]:
    with _lock:
        if "credentials" not in _found:
            try:
                google_auth = importlib.import_module("google.auth")
                exceptions = importlib.import_module("google.auth.exceptions")
            except ImportError as exc:
                raise _missing("google-auth is not installed") from exc
            try:
                credentials, project = google_auth.default(scopes=list(SCOPES))
            except exceptions.DefaultCredentialsError as exc:
                raise _missing(str(exc).split(".")[0]) from exc
            _found["credentials"], _found["project"] = credentials, project
        return _found["credentials"], _found["project"]


def _fresh_token() -> str:
    credentials, _ = _default()
    with _lock:
        if not credentials.valid:
            urllib3 = importlib.import_module("urllib3")
            transport = importlib.import_module("google.auth.transport.urllib3")
            exceptions = importlib.import_module("google.auth.exceptions")
            try:
                credentials.refresh(transport.Request(urllib3.PoolManager()))
            except exceptions.GoogleAuthError as exc:
                msg = f"refreshing the Google default credentials failed: {exc}"
                raise AuthenticationError(msg, provider="vertex_ai") from exc
        return str(credentials.token)


async def access_token() -> str:
    """A valid OAuth access token from the default credentials (refreshed when due)."""
    return await asyncio.to_thread(_fresh_token)


async def default_project() -> str | None:
    """The project the default credentials belong to, if they name one."""
    _, project = await asyncio.to_thread(_default)
    return project if isinstance(project, str) and project else None


def forget() -> None:
    """Drop the cached default credentials (tests; a changed environment)."""
    with _lock:
        _found.clear()
