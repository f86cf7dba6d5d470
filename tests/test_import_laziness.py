"""``import lmux_plug`` and plugin discovery load only what they need (issue 14).

The time it takes is measured in ``bench/bench_import.py``; these tests guard the reason it
is short: heavy modules (the HTTP stack, the call types, the codecs, logging) are loaded by
the first call, not by the import or by discovering every installed plugin. Each check
runs in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import importlib
import json
import os

import pytest

import lmux_plug
from lmux_plug import wire
from tests.helpers import python

# Never loaded by `import lmux_plug` + `Registry.from_entry_points()` (+ `close()`).
NOT_AT_DISCOVERY = (
    # the HTTP stack and the event loop
    "asyncio",
    "ssl",
    "aiohttp",
    "httptools",
    "lmux_plug.http",
    "lmux_plug._http1",
    # the call types, their converters and cattrs, the client protocols
    "lmux_plug._types",
    "lmux_plug.client",
    "lmux_plug._api_types",
    "lmux_plug.convert",
    "cattrs",
    # the keyword TypedDicts (a compile() per field) and the provider context
    "lmux_plug._param_dicts",
    "lmux_plug._context",
    # the codec driver behind lmux_plug.wire, its decoders and helpers
    "lmux_plug._codec_driver",
    "lmux_plug._sse",
    "lmux_plug.codec",
    # standard modules only some calls need
    "logging",
    "json",
    "hashlib",
    "email",
    "importlib.metadata",
    "urllib.parse",
    # optional layers and the plugins' own heavy dependencies
    "lmux_plug.router",
    "lmux_plug.batch",
    "lmux_plug.gateway",
    "lmux_plug.openai",
    "starlette",
    "openai",
    "opentelemetry",
    "botocore",
)

DISCOVER = """
import sys
import lmux_plug
registry = lmux_plug.Registry.from_entry_points()
registry.close()
modules = sorted(sys.modules)
import json  # only now: json is one of the modules checked
print(json.dumps({
    "plugins": [p.name for p in registry.plugins()],
    "broken": [b.name for b in registry.broken],
    "modules": modules,
}))
"""


def run_fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout.

    Coverage's subprocess hook is left out: it would import modules of its own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    out = python("-c", code, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_and_discovery_leave_heavy_modules_unloaded() -> None:
    result = json.loads(run_fresh(DISCOVER))
    # Discovery did its work: the built-in echo and the installed plugins loaded.
    assert "echo" in result["plugins"]
    assert "openai" in result["plugins"]
    assert result["broken"] == []
    modules = set(result["modules"])
    loaded = sorted(
        m
        for m in modules
        if any(m == name or m.startswith(name + ".") for name in NOT_AT_DISCOVERY)
    )
    assert loaded == []
    # No plugin loaded its codec at discovery either.
    assert sorted(m for m in modules if m.startswith("lmux_plug_") and "codec" in m) == []


def test_a_first_call_loads_what_it_needs() -> None:
    code = (
        "import sys, lmux_plug\n"
        "registry = lmux_plug.Registry.from_entry_points()\n"
        "print(registry.chat('echo/echo-1', 'hi').content)\n"
        "print(type(registry.transport).__name__)\n"
        "print(all(m in sys.modules for m in ('lmux_plug._types', 'lmux_plug.convert', 'lmux_plug.http')))\n"
        "registry.close()\n"
    )
    assert run_fresh(code).split() == ["hi", "Transport", "True"]


def test_submodules_import_lmux_plug_used_to_load_are_still_attributes() -> None:
    code = (
        "import sys, lmux_plug\n"
        "assert 'lmux_plug.http' not in sys.modules\n"
        "print(lmux_plug.http.Transport.__name__, lmux_plug.convert.to_messages.__name__,"
        " lmux_plug.resilience.decide.__name__)\n"
    )
    assert run_fresh(code).split() == ["Transport", "to_messages", "decide"]


@pytest.mark.parametrize("name", lmux_plug.__all__)
def test_every_public_name_of_the_package_resolves(name: str) -> None:
    assert getattr(lmux_plug, name) is not None


def test_lazy_names_are_the_defining_modules_objects() -> None:
    from lmux_plug import ChatRequest
    from lmux_plug import Usage
    from lmux_plug import _types

    assert ChatRequest is _types.ChatRequest
    assert Usage is _types.Usage
    # Declarations are one class wherever they are imported from.
    assert _types.ProviderSpec is lmux_plug.ProviderSpec


def test_lazy_keyword_dicts_and_context_are_one_object_wherever_read() -> None:
    from lmux_plug import ChatParams
    from lmux_plug import ProviderContext
    from lmux_plug import _context
    from lmux_plug import _param_dicts
    from lmux_plug import params

    assert ChatParams is params.ChatParams is _param_dicts.ChatParams
    assert params.EmbedCallParams.__optional_keys__ >= {"dimensions", "api_key"}
    assert {"ChatParams", "EmbedParams"} <= set(dir(params))
    assert ProviderContext is _context.ProviderContext
    with pytest.raises(AttributeError, match="no attribute 'ChatParam'"):
        _ = params.ChatParam


@pytest.mark.parametrize("name", wire.__all__)
def test_every_name_of_wire_resolves_to_its_home(name: str) -> None:
    value = getattr(wire, name)
    if name not in wire._DEFINED_HERE:  # the plugin-side helpers are defined in wire itself
        homes = [importlib.import_module(home) for home in wire._HOMES]
        (home,) = [module for module in homes if name in module.__all__]
        assert value is getattr(home, name)
    assert name in dir(wire)


def test_wire_refuses_unknown_names() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        wire.no_such_name  # noqa: B018 - the attribute read is the test


def test_package_logger_gets_the_scrub_filter_when_logging_comes_later() -> None:
    code = (
        "import sys, lmux_plug\n"
        "assert 'logging' not in sys.modules\n"
        "import logging\n"
        "from lmux_plug._secrets import ScrubFilter, scrubbed_logger\n"
        "scrubbed_logger('lmux_plug.some_module')\n"
        "for name in ('lmux_plug', 'lmux_plug.some_module'):\n"
        "    print(any(isinstance(f, ScrubFilter) for f in logging.getLogger(name).filters))\n"
    )
    assert run_fresh(code).split() == ["True", "True"]


def test_package_logger_has_the_scrub_filter_at_import_when_logging_came_first() -> None:
    code = (
        "import logging, lmux_plug\n"
        "from lmux_plug._secrets import ScrubFilter\n"
        "print(any(isinstance(f, ScrubFilter) for f in logging.getLogger('lmux_plug').filters))\n"
    )
    assert run_fresh(code).split() == ["True"]


def test_hook_lookup_shortcut_agrees_with_pluggy() -> None:
    """The manager's module shortcut (lmux_plug._plugins) answers what pluggy answers."""
    import importlib

    import pluggy

    from lmux_plug import _plugins
    from lmux_plug import echo
    from lmux_plug import hookspecs

    manager = _plugins.make_plugin_manager()
    modules = [echo, *(importlib.import_module(f"lmux_plug_{p}") for p in ("openai", "otel"))]
    compared = 0
    for module in modules:
        for name in dir(module):
            ours = manager.parse_hookimpl_opts(module, name)
            assert ours == pluggy.PluginManager.parse_hookimpl_opts(manager, module, name), name
            compared += ours is not None
    for name in dir(hookspecs):
        ours_spec = manager.parse_hookspec_opts(hookspecs, name)
        assert ours_spec == pluggy.PluginManager.parse_hookspec_opts(manager, hookspecs, name)
        compared += ours_spec is not None
    assert compared > 20  # hooks and specs were found, not only skipped names
