"""The ``vlmbench`` command's listing subcommands."""

from __future__ import annotations

import pytest

from pytest_vlmbench.cli import main


def test_models_lists_the_zoo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:4] == ["name", "aliases", "id", "family"]
    row = next(line for line in out.splitlines() if line.startswith("qwen2-vl "))
    assert "Qwen/Qwen2-VL-7B-Instruct" in row and "closed_set, binary" in row


def test_datasets_and_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("digits ") and line.split()[-2:] == ["image", "yes"] for line in out.splitlines())
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("binary ") and "yes-no" in line for line in out.splitlines())
    assert any(line.startswith("ner_prompt ") and line.split()[-2:] == ["ner", "generate"] for line in out.splitlines())


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
