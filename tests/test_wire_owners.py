"""Plugin seams: declared wire owners, misspelt hooks, the typed hook facade (issue 11.2, 11.4)."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Sequence
from pathlib import Path

import pytest

from lmux_plug import ChatRequest
from lmux_plug import ChatResponse
from lmux_plug import ConfigurationError
from lmux_plug import PluginLoadWarning
from lmux_plug import ProviderContext
from lmux_plug import ProviderSpec
from lmux_plug import Registry
from lmux_plug import Usage
from lmux_plug import hookimpl
from tests.test_discovery import make_distribution
from tests.test_discovery import run_python


class Speaker:
    """A plugin that answers calls for ``wire`` (declared or not) and names itself."""

    def __init__(self, label: str, wire: str, *, declare: bool = True, spec: bool = False) -> None:
        self.__name__ = label  # the registry's name for the plugin
        self.label = label
        self.wire = wire
        self.declare = declare
        self.spec = spec

    @hookimpl
    def lmux_plug_wires(self) -> Sequence[str]:
        return [self.wire] if self.declare else []

    @hookimpl
    def lmux_plug_providers(self) -> Sequence[ProviderSpec]:
        if not self.spec:
            return []
        return [ProviderSpec(self.label, self.wire, "https://x.test")]

    @hookimpl
    def lmux_plug_chat(
        self, request: ChatRequest, provider: ProviderContext
    ) -> Awaitable[ChatResponse]:
        async def answer() -> ChatResponse:
            return ChatResponse(
                content=self.label, model=request.model, provider=provider.name, usage=Usage()
            )

        return answer()


def _data_spec(wire: str) -> ProviderSpec:
    return ProviderSpec("gw", wire, "https://gw.test")


def test_hook_wires_routes_data_only_specs_to_the_declaring_plugin() -> None:
    registry = Registry(
        [Speaker("first", "acme", declare=False, spec=True), Speaker("owner", "acme")]
    )
    registry.register("gw", _data_spec("acme"))
    # Declared beats inferred, whatever the order of loading.
    assert registry.chat("gw/m", "hi").content == "owner"
    # A plugin still serves the specs it declares itself.
    assert registry.chat("first/m", "hi").content == "first"


def test_two_plugins_declaring_one_wire_is_a_reported_conflict_naming_both() -> None:
    first, second = Speaker("a", "acme"), Speaker("b", "acme")
    registry = Registry()
    registry.add_plugin(first, name="plugin-a")
    with pytest.warns(PluginLoadWarning, match="wire conflict"):
        added = registry.add_plugin(second, name="plugin-b")
    assert added is None
    (broken,) = registry.broken
    assert broken.name == "plugin-b"
    assert "'plugin-a'" in broken.reason
    assert "'plugin-b'" in broken.reason
    assert "'acme'" in broken.reason
    registry.register("gw", _data_spec("acme"))
    assert registry.chat("gw/m", "hi").content == "a"


def test_the_conflict_does_not_depend_on_load_order() -> None:
    for order in (("a", "b"), ("b", "a")):
        with pytest.warns(PluginLoadWarning, match="wire conflict"):
            registry = Registry([Speaker(label, "acme") for label in order])
        assert len(registry.broken) == 1


def test_two_undeclared_servers_of_one_wire_refuse_a_data_only_spec() -> None:
    registry = Registry(
        [
            Speaker("a", "acme", declare=False, spec=True),
            Speaker("b", "acme2", declare=False, spec=True),
        ]
    )
    registry.register("gw", _data_spec("acme"))  # one undeclared server: unambiguous
    assert registry.chat("gw/m", "hi").content == "a"
    registry.add_plugin(Speaker("c", "acme", declare=False, spec=True), name="c")
    with pytest.raises(ConfigurationError, match="both serve wire 'acme'"):
        registry.register("gw2", _data_spec("acme"))


def test_bad_wire_declarations_are_broken_plugins() -> None:
    class Bad:
        @hookimpl
        def lmux_plug_wires(self) -> object:
            return [3]

    with pytest.warns(PluginLoadWarning, match="bad declaration"):
        registry = Registry([Bad()])
    assert registry.broken[0].reason.startswith("bad declaration")


def test_a_misspelt_hook_is_a_broken_plugin_naming_it() -> None:
    class Typo:
        @hookimpl
        def lmux_plug_caht(self, request: object, provider: object) -> None:
            return None

    with pytest.warns(PluginLoadWarning, match="lmux_plug_caht"):
        registry = Registry([Typo()])
    (broken,) = registry.broken
    assert "lmux_plug_caht" in broken.reason
    assert not registry.plugin_manager.is_registered(broken)


def test_an_optional_unknown_hook_is_allowed() -> None:
    class Future:
        @hookimpl(optionalhook=True)
        def lmux_plug_from_the_future(self) -> None:
            return None

    registry = Registry([Future()])
    assert registry.broken == []


def test_check_pending_reports_plugins_registered_on_the_manager_directly() -> None:
    class Typo:
        @hookimpl
        def lmux_plug_embedd(self) -> None:
            return None

    registry = Registry()
    typo = Typo()
    registry.plugin_manager.register(typo, name="typo")
    with pytest.warns(PluginLoadWarning, match="lmux_plug_embedd"):
        registry.check_pending()
    assert [b.name for b in registry.broken] == ["typo"]
    assert not registry.plugin_manager.is_registered(typo)


MISSPELT = """
from lmux_plug import ProviderSpec, hookimpl

@hookimpl
def lmux_plug_providers():
    return [ProviderSpec(name="typo", wire="echo", base_url="https://typo.test")]

@hookimpl
def lmux_plug_caht(request, provider):
    raise AssertionError("never called")
"""


def test_an_installed_plugin_with_a_misspelt_hook_is_reported(tmp_path: Path) -> None:
    make_distribution(tmp_path, "typo", MISSPELT)
    result = run_python(
        tmp_path,
        "import lmux_plug\n"
        "r = lmux_plug.Registry.from_entry_points()\n"
        "print([(b.name, b.reason) for b in r.broken])\n"
        "print('typo' in [p.name for p in r.providers()])\n"
        "print(r.chat('echo/echo-1', 'others still work').content)\n",
    )
    assert result.returncode == 0, result.stderr
    broken, has_typo, echoed = result.stdout.splitlines()
    assert "('typo', " in broken
    assert "lmux_plug_caht" in broken
    assert has_typo == "False"
    assert echoed == "others still work"


def test_a_wrapper_registered_later_wraps_calls_of_cached_routes() -> None:
    seen: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def lmux_plug_chat(self, request: ChatRequest, provider: ProviderContext) -> object:
            seen.append(request.model)
            return (yield)

    registry = Registry([Speaker("a", "acme", spec=True)])
    assert registry.chat("a/m1", "hi").content == "a"  # the route's callers are now cached
    registry.plugin_manager.register(Wrapper())
    assert registry.chat("a/m2", "hi").content == "a"
    assert seen == ["m2"]


def test_a_second_answering_plugin_registered_later_does_not_steal_routes() -> None:
    registry = Registry([Speaker("a", "acme", spec=True)])
    assert registry.chat("a/m", "hi").content == "a"
    registry.plugin_manager.register(Speaker("intruder", "other"))
    assert registry.chat("a/m", "hi").content == "a"


def test_no_pluggy_private_api_in_the_registry() -> None:
    source = (Path(__file__).parents[1] / "lmux_plug" / "registry.py").read_text()
    assert "_hookexec" not in source
    assert "__code__" not in source
