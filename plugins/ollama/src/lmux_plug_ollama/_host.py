"""Where the Ollama server is: normalising ``OLLAMA_HOST`` and configured base URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from lmux_plug_ollama._spec import DEFAULT_PORT

__all__ = ["normalise_base_url"]


def normalise_base_url(value: str) -> str:
    """Accept ``OLLAMA_HOST`` spellings: ``host``, ``host:port``, ``:port``, or a full URL.

    Without a scheme, ``http`` and port 11434 are assumed, as the Ollama CLI does.
    """
    text = value.strip().rstrip("/")
    if "://" in text:
        return text
    if text.startswith(":"):
        text = "localhost" + text
    parts = urlsplit(f"http://{text}")
    host = parts.hostname or "localhost"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port or DEFAULT_PORT
    return f"http://{host}:{port}{parts.path}"
