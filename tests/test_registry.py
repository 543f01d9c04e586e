from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench.models import catalog
from pytest_vlmbench.models.base import ModelSpec
from pytest_vlmbench.registry import Registry, UnknownNameError, same_definition
from pytest_vlmbench.strategies import STRATEGIES


def test_aliases_case_and_did_you_mean() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1, aliases=["a1"])
    assert reg.get("ALPHA").load() == 1
    assert reg.get("a1").name == "alpha"
    with pytest.raises(UnknownNameError, match=r"Unknown widget 'alpah'\. Did you mean 'alpha'\? Known widgets: alpha\."):
        reg.get("alpah")


def test_double_registration_needs_replace() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("Alpha", 2)
    reg.register("alpha", 3, replace=True)
    assert reg.get("alpha").load() == 3


def test_unknown_names_list_the_kind_in_its_plural() -> None:
    for kind, known in (("strategy", "strategies"), ("model", "models"), ("class", "classes"), ("key", "keys")):
        reg: Registry[int] = Registry(kind)
        reg.register("one", 1)
        with pytest.raises(UnknownNameError) as info:
            reg.get("zzz")
        assert str(info.value) == f"Unknown {kind} 'zzz'. Known {known}: one."
    assert "Known strategies: binary, closed_set, direct" in STRATEGIES.unknown_message("nope")


def _conflict(reg: Registry[Any], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ValueError) as info:
        reg.register(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.endswith("pass replace=True to override it.")
    return message


def test_the_same_definition_twice_is_a_no_op_a_different_one_an_error() -> None:
    reg: Registry[Any] = Registry("widget")
    first = reg.register("alpha", "os.path:join", aliases=["a1"], family="x")
    assert reg.register("alpha", "os.path:join", aliases=["a1"], family="x") is first  # the same "module:attr"
    target = object()
    reg.register("beta", target)
    reg.register("beta", target)  # the same object
    assert reg.names() == ["alpha", "beta"]
    # Anything that differs is a conflicting definition, with today's sentence.
    assert _conflict(reg, "alpha", "os.path:split", aliases=["a1"], family="x") == (
        "widget name 'alpha' is already registered (for 'alpha'); pass replace=True to override it."
    )
    _conflict(reg, "alpha", "os.path:join", aliases=["a2"], family="x")  # other aliases
    _conflict(reg, "alpha", "os.path:join", family="x")
    _conflict(reg, "alpha", "os.path:join", aliases=["a1"], family="y")  # other metadata
    _conflict(reg, "beta", object())  # an equal-looking but other object
    _conflict(reg, "gamma", 1, aliases=["A1"])  # an alias owned by another entry
    assert reg.get("alpha") is first and reg.get("beta").load() is target
    reg.register("alpha", "os.path:split", replace=True)
    assert reg.get("alpha").target == "os.path:split"


CONFTEST = """
from pytest_vlmbench import MODELS, ModelSpec

def load(source, spec, options):
    raise AssertionError("never loaded here")

MODELS.register("conftest-model", ModelSpec(name="conftest-model", source="org/m", family="custom",
                                            factory=load, meta={"note": NOTE}), aliases=["cm"], family="custom")
"""


def _import_conftest(path: Path, name: str) -> None:
    """Execute ``path`` as a fresh module, as pytest does for every ``pytest.main()``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_a_conftest_imported_twice_registers_its_model_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog.MODELS, "_entries", dict(catalog.MODELS._entries))
    monkeypatch.setattr(catalog.MODELS, "_lookup", dict(catalog.MODELS._lookup))
    conftest = tmp_path / "conftest.py"
    conftest.write_text(CONFTEST.replace("NOTE", "'first'"))
    _import_conftest(conftest, "conftest")
    first = catalog.MODELS.get("cm").load()
    _import_conftest(conftest, "conftest")  # a new module: a new `load` function, a new ModelSpec
    again = catalog.MODELS.get("conftest-model").load()
    assert again is first  # the first registration stays
    assert callable(first.factory) and first.factory.__module__ == "conftest"
    # The same code with other metadata is another definition: ModelSpec's == ignores meta, registration does not.
    conftest.write_text(CONFTEST.replace("NOTE", "'second'"))
    with pytest.raises(ValueError, match=r"^model name 'conftest-model' is already registered \(for 'conftest-model'\); "):
        _import_conftest(conftest, "conftest")
    # ... and so is a factory defined elsewhere (another line of the file).
    conftest.write_text("\n" + CONFTEST.replace("NOTE", "'first'"))
    with pytest.raises(ValueError, match="already registered"):
        _import_conftest(conftest, "conftest")


def test_same_definition_compares_code_by_where_it_is_defined() -> None:
    def make(factory: Any, **meta: Any) -> ModelSpec:
        return ModelSpec(name="m", source="s", family="f", factory=factory, meta=dict(meta))

    def build() -> Callable[..., Any]:
        def load(*args: Any) -> Any:
            return args

        return load

    one, two = build(), build()
    assert one is not two and same_definition(make(one), make(two))
    assert not same_definition(make(one), make(two, note=1))
    assert not same_definition(make(one), make(lambda *a: a))
    assert same_definition(make("pkg.mod:load"), make("pkg.mod:load"))
    assert not same_definition(make("pkg.mod:load"), make("pkg.mod:other"))
    assert not same_definition(make(one), replace(make(two), strategies=("direct",)))
    assert same_definition(functools.partial(one, 1), functools.partial(two, 1))
    assert not same_definition(functools.partial(one, 1), functools.partial(two, 2))


def _module_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """A module ``name`` that can be imported but has not been yet."""
    (tmp_path / f"{name}.py").write_text("def shout(text):\n    return text.upper()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_lazy_targets_import_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _module_on_path(tmp_path, monkeypatch, "vlmbench_lazy_target")
    reg: Registry[Callable[..., str]] = Registry("thing")
    reg.register("shout", "vlmbench_lazy_target:shout")
    entry = reg.get("shout")
    assert "vlmbench_lazy_target" not in sys.modules  # registering and looking up import nothing
    assert entry.load()("a") == "A"
    assert "vlmbench_lazy_target" in sys.modules
    reg.register("join", "os.path:join")
    assert reg.get("join").load()("a", "b") == "a/b"


def test_tiny_prefix_resolves_to_the_same_adapter() -> None:
    real = catalog.resolve_model("qwen2-vl-7b")
    tiny = catalog.resolve_model("tiny:qwen2-vl")
    assert real.name == "qwen2-vl" and not real.is_tiny
    assert tiny.name == "tiny:qwen2-vl" and tiny.is_tiny
    assert tiny.factory == real.factory
    with pytest.raises(UnknownNameError, match="Did you mean 'qwen2-vl'"):
        catalog.resolve_model("tiny:qwen2-lv")


def test_local_directory_is_a_model(tmp_path: Path) -> None:
    # The adapter comes from config.json (issue #3); a directory without one is refused.
    with pytest.raises(UnknownNameError, match=r"is a directory without a config\.json, so it is not a Hugging Face model\."):
        catalog.resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text('{"architectures": ["Qwen2VLForConditionalGeneration"], "vision_config": {}}')
    spec = catalog.resolve_model(str(tmp_path))
    assert spec.source == str(tmp_path) and spec.family == "hf-vlm"


def test_entry_points_register_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _module_on_path(tmp_path, monkeypatch, "vlmbench_lazy_plugin")

    class FakeEntryPoint:
        name = "from-plugin"
        value = "vlmbench_lazy_plugin:shout"

        def load(self) -> object:
            raise AssertionError("the registry imports an entry point's target itself, on first use")

    asked: list[str] = []

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        asked.append(group)
        return [FakeEntryPoint()] if group == "test.group" else []

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    reg: Registry[object] = Registry("thing", "test.group")
    reg.register("builtin", 1)
    assert asked == []  # not even the entry points are read before a lookup
    assert reg.names() == ["builtin", "from-plugin"]
    assert asked == ["test.group"]
    assert "vlmbench_lazy_plugin" not in sys.modules  # listed, not imported
    plugin = reg.get("from-plugin").load()
    assert callable(plugin) and plugin("b") == "B"
    assert "vlmbench_lazy_plugin" in sys.modules
    assert reg.names() == ["builtin", "from-plugin"] and asked == ["test.group"]  # read once
