"""AWS credentials, region and SigV4 signing for Bedrock, all through botocore.

No cryptography here: botocore's ``SigV4Auth`` signs, botocore's credential providers find
the credentials. The explicit environment variables (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``) are read directly, without starting the
chain; otherwise the standard chain runs once (in a worker thread: it may read files or ask
an instance-metadata endpoint) and its credentials object is kept, so refreshing
credentials (SSO, assumed roles, instance roles) keep refreshing.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from lmux_plug import AuthenticationError
from lmux_plug import ConfigurationError
from lmux_plug_bedrock._spec import BEARER_ENV
from lmux_plug_bedrock._spec import REGION_ENV
from lmux_plug_bedrock._spec import SERVICE

__all__ = ["SigningKeys", "botocore", "region_for", "resolve_keys", "sign"]

_KEY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_chain_lock = threading.Lock()
_chain: dict[str, Any] = {}  # profile -> botocore credentials (refreshable ones refresh)


@attrs.frozen(repr=False)
class SigningKeys:
    """Frozen AWS credentials for one request; never shown in a repr."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:
        return "SigningKeys('**********')"

    def secrets(self) -> tuple[str, ...]:
        """The values to scrub from error messages (the access key id is not secret)."""
        return tuple(s for s in (self.secret_key, self.token) if s)


def _profile() -> str | None:
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or None


def botocore(module: str) -> Any:
    """``botocore.<module>``, imported on first use (botocore ships no type information)."""
    return importlib.import_module(f"botocore.{module}")


def _session() -> Any:
    return botocore("session").Session(profile=_profile())


def region_for(options: Mapping[str, object]) -> str:
    """The region: ``region`` option, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the config file.

    Raises :class:`ConfigurationError` naming the variables when none is set.
    """
    for value in (options.get("region"), *(os.environ.get(name) for name in REGION_ENV)):
        if isinstance(value, str) and value:
            return value
    try:
        configured = _session().get_config_variable("region")
    except Exception:  # noqa: BLE001 - a broken config file is the same as no region
        configured = None
    if isinstance(configured, str) and configured:
        return configured
    msg = f"no AWS region for Bedrock: set {' or '.join(REGION_ENV)} (or region in ~/.aws/config)"
    raise ConfigurationError(msg, provider="bedrock")


def _from_env() -> SigningKeys | None:
    access, secret = (os.environ.get(name) for name in _KEY_ENV)
    if access and secret:
        return SigningKeys(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    return None


def _from_chain() -> SigningKeys | None:
    profile = _profile() or "default"
    with _chain_lock:
        found = _chain.get(profile)
        if found is None:
            try:
                found = _session().get_credentials()
            except Exception as exc:
                # A broken profile or SSO cache: say so instead of a botocore traceback.
                msg = (
                    f"the AWS credential chain failed for profile {profile!r}: {exc}; "
                    f"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or {BEARER_ENV}"
                )
                raise AuthenticationError(msg, provider="bedrock") from exc
            if found is None:
                return None
            _chain[profile] = found
    frozen = found.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        return None
    return SigningKeys(frozen.access_key, frozen.secret_key, frozen.token or None)


async def resolve_keys() -> SigningKeys:
    """AWS credentials for SigV4: the env variables, else the standard chain.

    Raises :class:`AuthenticationError` naming what to set when there are none.
    """
    keys = _from_env()
    if keys is None:
        keys = await asyncio.to_thread(_from_chain)
    if keys is None:
        msg = (
            "no credentials for Bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            f"(and AWS_SESSION_TOKEN for temporary keys), configure an AWS profile, or set "
            f"{BEARER_ENV} to a Bedrock API key"
        )
        raise AuthenticationError(msg, provider="bedrock")
    return keys


def sign(
    keys: SigningKeys, region: str, url: str, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    """``headers`` plus the SigV4 headers (``authorization``, ``x-amz-date``, token) for a POST.

    ``url`` is signed exactly as it will be sent: its path is already percent-encoded (model
    ids with ``:`` carry ``%3A``), and the caller must not re-quote it afterwards.
    """
    aws = botocore("credentials").Credentials(keys.access_key, keys.secret_key, keys.token)
    request = botocore("awsrequest").AWSRequest(
        method="POST", url=url, data=body, headers=dict(headers)
    )
    botocore("auth").SigV4Auth(aws, SERVICE, region).add_auth(request)
    return {name.lower(): str(value) for name, value in request.headers.items()}
