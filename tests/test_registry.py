from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from pytest_vlmbench.models import catalog
from pytest_vlmbench.registry import Registry, UnknownNameError


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
