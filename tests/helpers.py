"""Helpers shared by the test modules (fixtures live in ``conftest.py``).

Import them as ``from tests.helpers import ...``; the name keeps pytest from collecting it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: A user turn as a plain Chat Completions dict.
HI = [{"role": "user", "content": "hi"}]


#: An OpenAI-style function tool, ``get_weather(city)``.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def python(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` (``-c CODE``, ``-m MODULE ...``), output as text.

    The exit status is the caller's to assert (``check=True`` raises on a failure instead);
    ``timeout`` bounds a hang.
    """
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=check,
    )
