from __future__ import annotations

import pytest

from pytest_vlmbench.models import catalog
from pytest_vlmbench.registry import Registry, UnknownNameError


def test_aliases_case_and_did_you_mean():
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1, aliases=["a1"])
    assert reg.get("ALPHA").load() == 1
    assert reg.get("a1").name == "alpha"
    with pytest.raises(UnknownNameError, match=r"Unknown widget 'alpah'\. Did you mean 'alpha'\? Known widgets: alpha\."):
        reg.get("alpah")


def test_double_registration_needs_replace():
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("Alpha", 2)
    reg.register("alpha", 3, replace=True)
    assert reg.get("alpha").load() == 3


def test_lazy_targets_import_on_first_use():
    reg: Registry[object] = Registry("thing")
    reg.register("join", "os.path:join")
    assert reg.get("join").load()("a", "b") == "a/b"


def test_tiny_prefix_resolves_to_the_same_adapter():
    real = catalog.resolve_model("qwen2-vl-7b")
    tiny = catalog.resolve_model("tiny:qwen2-vl")
    assert real.name == "qwen2-vl" and not real.is_tiny
    assert tiny.name == "tiny:qwen2-vl" and tiny.is_tiny
    assert tiny.factory == real.factory
    with pytest.raises(UnknownNameError, match="Did you mean 'qwen2-vl'"):
        catalog.resolve_model("tiny:qwen2-lv")


def test_local_directory_is_a_model(tmp_path):
    # The adapter comes from config.json (issue #3); a directory without one is refused.
    (tmp_path / "config.json").write_text('{"architectures": ["Qwen2VLForConditionalGeneration"], "vision_config": {}}')
    spec = catalog.resolve_model(str(tmp_path))
    assert spec.source == str(tmp_path) and spec.family == "hf-vlm"


def test_entry_points_register_lazily(monkeypatch):
    from importlib import metadata

    class FakeEntryPoint:
        name = "from-plugin"
        value = "os.path:basename"

    def fake_entry_points(group):
        return [FakeEntryPoint()] if group == "test.group" else []

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    reg: Registry[object] = Registry("thing", "test.group")
    reg.register("builtin", 1)
    assert reg.names() == ["builtin", "from-plugin"]
    assert reg.get("from-plugin").load()("/a/b") == "b"
