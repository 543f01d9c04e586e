"""One reading of the hub's offline switches, the same as huggingface_hub's."""

from __future__ import annotations

import pytest

from pytest_vlmbench.hub import datasets_offline, hub_offline


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("ON", True), ("yes", True), ("0", False), ("false", False), ("", False)])
def test_hub_offline_reads_the_variable_like_huggingface_hub(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    assert hub_offline() is expected
    assert datasets_offline() is expected  # the whole hub offline means datasets too


def test_datasets_can_be_offline_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert datasets_offline() and not hub_offline()
