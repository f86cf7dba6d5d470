"""What a call hook receives besides the request: the provider, bound for one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from lmux_plug._declarations import Credentials
from lmux_plug._declarations import ProviderSpec

if TYPE_CHECKING:
    from lmux_plug.http import AsyncTransport

__all__ = ["ProviderContext"]


# A dict class (``slots=False``), as the call types are: one is built per call, and attrs'
# frozen ``__init__`` stores into the instance dict instead of calling ``object.__setattr__``
# per field. Still frozen, hashable and equal by value.
@attrs.frozen(slots=False)
class ProviderContext:
    """A provider bound for one call: its spec, the base URL in force, credentials, transport.

    ``base_url`` may differ from ``spec.base_url`` (an env override or a router
    deployment). Build headers with :meth:`auth_headers`, so keys go where the spec says.
    """

    spec: ProviderSpec
    base_url: str
    transport: AsyncTransport = attrs.field(repr=False)
    credentials: Credentials = attrs.field(factory=Credentials)

    @property
    def name(self) -> str:
        """The provider's name (the model prefix)."""
        return self.spec.name

    def auth_headers(self) -> dict[str, str]:
        """Default headers, then the credential headers the spec's auth scheme asks for."""
        headers = dict(self.spec.default_headers)
        key = self.credentials.api_key
        if key is not None:
            headers.update(self.spec.auth.headers_for(key.reveal()))
        for name, value in self.credentials.extra_headers.items():
            headers[name] = value.reveal()
        return headers

    def auth_params(self) -> dict[str, str]:
        """Query parameters that carry the key, for schemes that put it in the URL."""
        key = self.credentials.api_key
        if key is None or self.spec.auth.query is None:
            return {}
        return {self.spec.auth.query: key.reveal()}

    def secrets(self) -> tuple[str, ...]:
        """Every secret of this call, so error messages can be scrubbed of them."""
        key = self.credentials.api_key
        extra = self.credentials.extra_headers
        if not extra:  # the usual case, asked on every call: a key or nothing
            return (key.reveal(),) if key else ()
        found = [key, *extra.values()]
        return tuple(secret.reveal() for secret in found if secret)

    def url(self, path: str) -> str:
        """Join ``path`` to the base URL with exactly one slash."""
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def option(self, name: str, default: object = None) -> object:
        """A provider option from the spec (wire quirks, API versions, ...)."""
        options: Mapping[str, object] = self.spec.options
        return options.get(name, default)
