"""The core's own hook implementations, which every other plugin can override.

Both run ``trylast``: an auth plugin (key pool, keyring, cloud chain) or a pricing plugin
answers first, and these are the fallback.
"""

from __future__ import annotations

import os

from lmux_plug._declarations import Credentials
from lmux_plug._declarations import ProviderSpec
from lmux_plug._declarations import Secret
from lmux_plug._pricing import ModelPricing
from lmux_plug.hookspecs import hookimpl

__all__ = ["CoreDefaults"]


class CoreDefaults:
    """Credentials from the declared env vars; prices from the declared model specs."""

    @hookimpl(trylast=True)
    def lmux_plug_auth(self, provider: ProviderSpec) -> Credentials | None:
        """The first non-empty env var named in ``provider.auth.env``."""
        for name in provider.auth.env:
            value = os.environ.get(name)
            if value:
                return Credentials(api_key=Secret(value))
        return None

    @hookimpl(trylast=True)
    def lmux_plug_pricing(self, provider: ProviderSpec, model: str) -> ModelPricing | None:
        """The pricing declared on the model's spec, if any."""
        spec = provider.model(model)
        return None if spec is None else spec.pricing
