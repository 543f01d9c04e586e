"""Threshold parsing, precedence and the metric table of the regression gate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_vlmbench.gate.metrics import METRICS, GateError, get_metric
from helpers import make_record
from pytest_vlmbench.gate.thresholds import merge_layers, parse_alpha, parse_layer, parse_threshold


def test_absolute_and_relative_thresholds() -> None:
    spec, absolute = parse_threshold("accuracy:0.02")
    assert spec.name == "accuracy" and absolute is not None
    assert (absolute.limit, absolute.relative, str(absolute)) == (0.02, False, "accuracy:0.02")
    _, relative = parse_threshold("items_per_s:10%")
    assert relative is not None and relative.relative and relative.limit == pytest.approx(0.10)
    assert str(relative) == "items_per_s:10%"
    _, spaced = parse_threshold(" Accuracy : 1e-2 ")
    assert spaced is not None and spaced.limit == pytest.approx(0.01)
    assert parse_threshold("energy_j:off") == (METRICS["energy_j"], None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("accuracy:abc", "the limit must be a number like 0.02"),
        ("accuracy:-0.1", "a limit is how much worse accuracy may get, so it cannot be negative; use 0 "),
        ("items_per_s:-5%", "so it cannot be negative"),
        ("accuracy", "is not METRIC:DROP, METRIC:N% or off"),
        (":0.1", "is not METRIC:DROP"),
        ("acuracy:0.1", "did you mean 'accuracy'?"),
        ("speed:5%", "Unknown metric 'speed'"),
        ("accuracy:nan", "the limit must be a number"),
    ],
)
def test_malformed_thresholds_say_what_is_wrong_in_one_sentence(text: str, fragment: str) -> None:
    with pytest.raises(GateError) as info:
        parse_threshold(text, "--vlmbench-fail-on")
    message = str(info.value)
    assert fragment in message and message.endswith(".") and "\n" not in message
    assert "--vlmbench-fail-on" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accuracy:150%", "cli 'accuracy:150%': accuracy cannot fall by more than 100% (it does not go below 0), so this "
         "limit could never fail; give at most 100%, or accuracy:off to not gate it."),
        ("items_per_s:101%", "cli 'items_per_s:101%': items_per_s cannot fall by more than 100%"),
        ("accuracy:1.5", "cli 'accuracy:1.5': accuracy is a rate between 0 and 1, so it cannot get worse by more than 1; "
         "give a drop like 0.02 or a percentage like 5%."),
        ("invalid_rate:2", "invalid_rate is a rate between 0 and 1"),
        ("macro_f1:1.01", "macro_f1 is a rate between 0 and 1"),
    ],
)  # fmt: skip
def test_limits_the_metric_cannot_reach_are_refused(text: str, message: str) -> None:
    with pytest.raises(GateError) as info:
        parse_layer([text], "cli")
    text_ = str(info.value)
    assert message in text_ and text_.startswith(f"cli {text!r}: ") and text_.endswith(".") and text_.count(". ") == 0


@pytest.mark.parametrize("text", ["accuracy:1", "accuracy:100%", "invalid_rate:150%", "latency_p50_ms:300%", "items_per_s:5", "wall_s:1000"])
def test_limits_at_the_edge_or_on_unbounded_metrics_are_accepted(text: str) -> None:
    assert parse_threshold(text)[1] is not None


def test_layers_merge_per_metric_with_the_later_layer_winning() -> None:
    ini = parse_layer(["accuracy:0.05", "items_per_s:10%"], "ini")
    marker = parse_layer(["accuracy:0.1, latency_p50_ms:20%"], "marker")
    cli = parse_layer(["accuracy:0.02", "items_per_s:off"], "cli")
    merged = merge_layers(ini, marker, cli)
    assert {name: str(t) for name, t in merged.items()} == {"accuracy": "accuracy:0.02", "latency_p50_ms": "latency_p50_ms:20%"}
    assert str(merge_layers(ini, marker)["accuracy"]) == "accuracy:0.1"


def test_default_is_any_significant_accuracy_drop_and_off_can_remove_it() -> None:
    assert [str(t) for t in merge_layers({}, {}).values()] == ["accuracy:0"]
    assert merge_layers(parse_layer(["accuracy:off"], "cli")) == {}
    # A bare "off" clears every metric set before it, in lower layers too; later entries still apply.
    ini = parse_layer(["accuracy:0.05", "items_per_s:10%"], "ini")
    assert merge_layers(ini, parse_layer(["off"], "cli")) == {}
    assert merge_layers(parse_layer(["OFF"], "cli")) == {}
    assert [str(t) for t in merge_layers(ini, parse_layer(["items_per_s:5%, off, macro_f1:0.1"], "cli")).values()] == ["macro_f1:0.1"]


def test_relative_threshold_semantics() -> None:
    _, t = parse_threshold("items_per_s:10%")
    assert t is not None
    assert not t.exceeded(100.0, 10.0)  # exactly the limit passes
    assert t.exceeded(100.0, 10.5)
    assert not t.exceeded(100.0, -50.0)  # improvements never exceed a worsening limit
    assert t.exceeded(0.0, 1.0) and not t.exceeded(0.0, 0.0)  # no scale: any worsening counts


def test_directions_and_values_from_a_record() -> None:
    record = make_record(["a", "b"], ["a", None], items_per_s=20.0, latency_ms=50.0, peak_rss_mb=512.0)
    assert METRICS["accuracy"].higher_is_better and METRICS["items_per_s"].higher_is_better
    for lower in ("invalid_rate", "latency_p50_ms", "latency_p99_ms", "peak_memory_mb", "energy_j", "model_load_s", "wall_s"):
        assert not METRICS[lower].higher_is_better, lower
    assert METRICS["accuracy"].value(record) == 0.5
    assert METRICS["invalid_rate"].value(record) == 0.5
    assert METRICS["latency_p50_ms"].value(record) == 50.0
    assert METRICS["peak_memory_mb"].value(record) == 512.0
    on_cuda = replace(record, memory=replace(record.memory, torch_peak_mb=300.0))
    assert METRICS["peak_memory_mb"].value(on_cuda) == 300.0  # on CUDA the torch figure is the one gated
    assert METRICS["energy_j"].value(record) is None
    assert METRICS["latency_p50_ms"].worsening(50.0, 60.0) == 10.0
    assert METRICS["accuracy"].worsening(0.9, 0.8) == pytest.approx(0.1)
    assert get_metric("ACCURACY", "x").name == "accuracy"


@pytest.mark.parametrize("value", ["0", "1", "abc", "-0.1", "2"])
def test_bad_alpha(value: str) -> None:
    with pytest.raises(GateError, match="--vlmbench-alpha must be"):
        parse_alpha(value, "--vlmbench-alpha")
    assert parse_alpha("0.01", "x") == 0.01
