"""The one option table: pytest flags, ini keys, CLI arguments and RunOptions from the same rows."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

import pytest

from pytest_vlmbench.cli import build_parser
from pytest_vlmbench.options import BY_DEST, OPTIONS, OptionError, RunOptions, add_cli_arguments, add_pytest_options, read_load_options, run_options_from


def test_every_run_option_field_has_exactly_one_row() -> None:
    rows = [o.run_field for o in OPTIONS if o.run_field]
    assert sorted(rows) == sorted(f.name for f in fields(RunOptions))
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS) and len(BY_DEST) == len(OPTIONS)


def test_pytest_registration_takes_every_row_once() -> None:
    added: list[tuple[str, dict[str, Any]]] = []
    inis: list[str] = []
    add_pytest_options(lambda flag, **kw: added.append((flag, kw)), lambda name, help, **kw: inis.append(name))
    assert [flag for flag, _ in added] == [o.flag for o in OPTIONS]
    assert inis == ["vlmbench_price", "vlmbench_hour_usd", "vlmbench_fail_on", "vlmbench_alpha", "vlmbench_correction", "vlmbench_min", "vlmbench_calibration"]
    kinds = dict(added)
    assert kinds["--model"]["action"] == "append" and kinds["--limit"]["type"] is int
    assert kinds["--trust-remote-code"]["action"] == "store_true"


def test_the_gate_flags_of_pytest_and_of_the_cli_share_help() -> None:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser, "vlmbench_fail_on", "vlmbench_alpha")
    actions = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert actions["vlmbench_fail_on"].option_strings == ["--fail-on"]
    assert actions["vlmbench_fail_on"].help == BY_DEST["vlmbench_fail_on"].help
    assert actions["vlmbench_alpha"].option_strings == ["--alpha"]
    compare = build_parser().parse_args(["compare", "a.json", "b.json", "--fail-on", "accuracy:0.02"])
    assert compare.vlmbench_fail_on


def test_the_strategy_help_names_every_registered_strategy() -> None:
    from pytest_vlmbench.strategies.catalog import STRATEGIES

    assert all(name in BY_DEST["strategy"].help for name in STRATEGIES.names())


def test_defaults_and_derived_values() -> None:
    options = run_options_from({})
    assert options == RunOptions()
    assert options.max_new_tokens_for("closed_set") == options.max_new_tokens_for("binary") == 8
    assert run_options_from({"answer_style": "json"}).max_new_tokens_for("closed_set") == 32  # room for the braces
    assert run_options_from({"answer_style": "json", "max_new_tokens": 5}).max_new_tokens_for("closed_set") == 5
    # Per case: ner_prompt needs room to list entities whether --strategy or a suite marker named it,
    # and the other strategies of the same run keep theirs.
    assert options.max_new_tokens_for("ner_prompt") == 128 and options.max_new_tokens_for("closed_set") == 8
    assert run_options_from({"max_new_tokens": 16}).max_new_tokens_for("ner_prompt") == 16
    parsed = run_options_from({"model": ["tiny:qwen2-vl,tiny:qwen2-vl"], "seed": ["0,2"], "num_classes": ["3,2", "3"], "strategy": ["yes-no"]})
    assert parsed.models == ("tiny:qwen2-vl",) and parsed.seeds == (0, 2) and parsed.num_classes == (3, 2)
    assert parsed.strategies == ("binary",)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": 0}, "--batch-size must be a positive whole number, got 0."),
        ({"limit": -3}, "--limit must be a positive whole number, got -3."),
        ({"seed": ["1,x"]}, "--seed takes whole numbers of zero or more (e.g. --seed 0,1,2), got 'x'."),
        ({"answer_style": "yaml"}, "--answer-style must be one of plain, json, got 'yaml'."),
        ({"device": "gpu"}, "--device must be auto, cpu, mps, cuda or cuda:N, got 'gpu'."),
        ({"dtype": "int4"}, "--dtype must be one of auto, bfloat16, float16, float32, got 'int4'."),
        ({"k_shot": -1}, "--k-shot must be zero (zero-shot) or a positive number of exemplars, got -1."),
        ({"num_classes": ["1"]}, "--num-classes must be at least 2"),
        ({"model": ["qwen-vl-nonexistent"]}, "Unknown model 'qwen-vl-nonexistent'"),
        ({"nonsense": 1}, "Unknown option(s) ['nonsense']"),
    ],
)
def test_bad_values_are_one_sentence(values: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError) as info:
        run_options_from(values)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_load_options_come_from_the_same_table() -> None:
    values = {"label_map": "LABEL_0=cat, LABEL_1=dog", "api_concurrency": 2, "device": "cpu"}
    run = run_options_from({"device": "cpu"})
    load = read_load_options(lambda dest: values.get(dest, BY_DEST[dest].default), run)
    assert load.label_map == (("LABEL_0", "cat"), ("LABEL_1", "dog"))
    assert load.api_concurrency == 2 and load.device == "cpu" and load.api_key_env == "OPENAI_API_KEY"
    with pytest.raises(OptionError, match="--api-concurrency must be a positive whole number, got 0"):
        read_load_options(lambda dest: 0 if dest == "api_concurrency" else BY_DEST[dest].default, run)
    with pytest.raises(OptionError, match="--label-map takes LABEL=CLASS pairs"):
        read_load_options(lambda dest: "LABEL_0" if dest == "label_map" else BY_DEST[dest].default, run)
