"""lmux-plug provider plugin for OpenAI, Azure OpenAI and every OpenAI-compatible endpoint.

Installed, it is discovered through the ``lmux_plug`` entry point and serves the prefixes
``openai``, ``azure``, ``groq``, ``together``, ``deepseek``, ``mistral``, ``openrouter``,
``fireworks``, ``deepinfra``, ``perplexity``, ``cerebras``, ``xai``, ``vllm``, ``llamacpp``,
``lmstudio`` and ``ollama_openai`` - all declared as data in :mod:`._providers`. It also
serves any spec a user registers with ``wire="openai"``::

    registry.register("mygw", ProviderSpec(name="mygw", wire="openai",
        base_url="http://127.0.0.1:8000/v1", auth=ApiKeyAuth(env=("MYGW_KEY",))))

Importing this module is cheap: the codec and the HTTP client load on the first call.
"""

from __future__ import annotations

from lmux_plug import wire
from lmux_plug_openai._providers import PROVIDERS
from lmux_plug_openai._providers import WIRE

__all__ = [
    "PROVIDERS",
    "WIRE",
]

# Every provider of this plugin is on the ``openai`` wire, and so is any spec a user
# registers with ``wire="openai"``. Chat Completions (usage rides on a stream's terminal
# chunk) and embeddings are the codec's.
lmux_plug_providers, lmux_plug_wires = wire.spec_hooks(*PROVIDERS)
lmux_plug_chat, lmux_plug_stream, lmux_plug_embed = wire.codec_hooks("lmux_plug_openai._codec")

# Beyond chat: the Responses API (``POST /responses``; a stream has one chunk per event, the
# last with the whole response), legacy text completions (``POST /completions``) and audio
# transcription (multipart ``POST /audio/transcriptions``). Each provider declares which of
# them it serves (capabilities ``responses``, ``completions``, ``transcription``); the
# registry refuses the others before any I/O. Their client loads on the first call.
_APIS = "lmux_plug_openai._apis_client"
lmux_plug_create_response = wire.lazy_hook(_APIS, "create_response")
lmux_plug_create_response_stream = wire.lazy_hook(_APIS, "create_response_stream")
lmux_plug_complete = wire.lazy_hook(_APIS, "complete")
lmux_plug_complete_stream = wire.lazy_hook(_APIS, "complete_stream")
lmux_plug_transcribe = wire.lazy_hook(_APIS, "transcribe")
lmux_plug_transcribe_stream = wire.lazy_hook(_APIS, "transcribe_stream")
