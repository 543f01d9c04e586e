"""``vlmbench compare`` and ``vlmbench diff`` on saved files (no models run)."""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_vlmbench.cli import main
from pytest_vlmbench.record import ModelInfo
from helpers import make_record, run_document, with_predictions

CLASSES = ["cat", "dog", "bird"]


def _runs(tmp_path: Path) -> list[str]:
    """Three nightly runs: unchanged, then 25 items broken and 20% slower."""
    rng = random.Random(7)
    labels = [rng.choice(CLASSES) for _ in range(300)]
    preds = [t if rng.random() < 0.9 else rng.choice(CLASSES) for t in labels]
    closed = make_record(labels, preds, classes=CLASSES)
    binary = make_record(labels, preds, classes=CLASSES, strategy="binary")
    worse = list(preds)
    broken = [i for i, (t, p) in enumerate(zip(labels, preds)) if p == t][:25]
    for i in broken:
        worse[i] = "bird" if labels[i] != "bird" else "cat"
    runs = [
        [closed, binary],
        [with_predictions(closed, preds), binary],
        [with_predictions(closed, worse, items_per_s=40.0)],
    ]
    paths = []
    for i, records in enumerate(runs):
        path = tmp_path / f"000{i + 1}_run.json"
        path.write_text(json.dumps(run_document(records, commit=f"{i + 1}" * 12)))
        paths.append(str(path))
    return paths


def test_compare_table_over_three_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    assert main(["compare", *paths, "--fail-on", "off"]) == 0  # off: a report, never a failure
    out = capsys.readouterr().out
    assert "11111111" in out and "33333333" in out
    assert "fake-vlm digits closed_set  accuracy" in out
    assert "(-0.083)*" in out  # the drop is marked significant
    assert "fake-vlm digits binary: not in 33333333" in out
    assert "items_per_s" in out and "Regressions" not in out  # the standard rows, no gate


def test_compare_gates_like_pytest_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --fail-on: the pytest gate's default (accuracy:0), so a significant drop exits 1."""
    paths = _runs(tmp_path)
    assert main(["compare", *paths]) == 1
    out = capsys.readouterr().out
    assert "fake-vlm digits closed_set: accuracy 0.917 -> 0.833 (-0.083 > 0, p=" in out
    assert "items_per_s" in out and "macro_f1" in out  # still the standard rows, accuracy gated
    assert "items_per_s 50.00 -> 40.00" not in out  # speed is shown, not gated, by default
    assert main(["compare", *paths[:2]]) == 0  # unchanged: passes
    assert main(["compare", *paths, "--fail-on", "accuracy:off"]) == 0
    assert main(["compare", *paths, "--fail-on", "off", "--fail-on", "accuracy:0.02"]) == 1  # entries after off apply


def test_compare_fail_on_exits_one_and_names_the_regressions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    assert main(["compare", *paths, "--fail-on", "accuracy:0.02", "--fail-on", "items_per_s:10%", "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("| case | metric | 11111111 | 22222222 | 33333333 |")
    assert "**Regressions**" in out
    assert "- fake-vlm digits closed_set: accuracy 0.917 -> 0.833 (-0.083 > 0.02, p=" in out
    assert "items_per_s 50.00 -> 40.00 (-20.0% > 10%)" in out
    assert main(["compare", *paths[:2], "--fail-on", "accuracy:0.02"]) == 0  # unchanged pair passes


def test_compare_csv_and_json_are_plain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    main(["compare", paths[0], paths[2], "--format", "csv", "--metrics", "accuracy,items_per_s"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["metric"] for r in rows] == ["accuracy", "items_per_s", "accuracy", "items_per_s"]
    assert float(rows[0]["33333333 p"]) < 0.001
    main(["compare", *paths, "--format", "json", "--fail-on", "accuracy:0.02"])
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert [r["label"] for r in doc["runs"]] == ["11111111", "22222222", "33333333"]
    assert len(doc["regressions"]) == 1


def test_diff_lists_flips_each_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    assert main(["diff", paths[0], paths[2]]) == 0
    out = capsys.readouterr().out
    assert "25 of 300 paired items changed" in out and "right -> wrong (25):" in out
    assert "wrong -> right" not in out
    assert main(["diff", paths[2], paths[0], "closed_set"]) == 0
    assert "wrong -> right (25):" in capsys.readouterr().out
    assert main(["diff", paths[0], paths[1], "no-such-case"]) == 2
    assert "No case matched in both runs contains 'no-such-case'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--fail-on", "accuracy:abc"], "argument --fail-on: threshold 'accuracy:abc': the limit must be a number"),
        (["--fail-on", "accuracy:150%"], "argument --fail-on: threshold 'accuracy:150%': accuracy cannot fall by more than 100%"),
        (["--fail-on", "acuracy:0.1"], "did you mean 'accuracy'?"),
        (["--alpha", "2"], "--alpha must be between 0 and 1"),
        (["--metrics", "speed"], "Unknown metric 'speed'"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    paths = _runs(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["compare", *paths[:2], *args])
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_bad_files_give_one_sentence_and_status_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    (tmp_path / "junk.json").write_text("not json at all")
    assert main(["compare", paths[0], str(tmp_path / "junk.json")]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main(["compare", paths[0], str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", paths[0]])
    assert "give at least two runs to compare" in capsys.readouterr().err


def test_gate_against_other_gpu_type_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = make_record(["cat", "dog"] * 10, ["cat", "dog"] * 10, classes=CLASSES, device="cuda:0")
    a = replace(record, model_info=ModelInfo(device="cuda:0", gpu_name="NVIDIA A100"))
    b = replace(record, model_info=ModelInfo(device="cuda:0", gpu_name="NVIDIA L4"))
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(run_document([a])))
    pb.write_text(json.dumps(run_document([b])))
    assert main(["compare", str(pa), str(pb), "--fail-on", "accuracy:0"]) == 2
    assert "measured on NVIDIA A100 but this run on NVIDIA L4" in capsys.readouterr().err
    assert main(["compare", str(pa), str(pb)]) == 2  # the default gates too
    assert main(["compare", str(pa), str(pb), "--fail-on", "off"]) == 0  # a report across GPUs


def test_against_first_gates_the_whole_span(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    worse_twice = [paths[0], paths[2], paths[2]]  # the drop happened one night earlier
    assert main(["compare", *worse_twice, "--fail-on", "accuracy:0.02"]) == 0
    assert main(["compare", *worse_twice, "--fail-on", "accuracy:0.02", "--against", "first"]) == 1
    assert "accuracy 0.917 -> 0.833" in capsys.readouterr().out


def test_compare_takes_the_correction_floors_and_a_calibration_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _runs(tmp_path)
    assert main(["compare", *paths, "--correction", "bh", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["correction"] == "bh"
    (test,) = doc["tests"]["fake-vlm digits closed_set"]
    assert test["metric"] == "accuracy" and test["adjusted"] == test["p_value"] < 0.05  # a family of one
    assert 0 < test["detectable"] < 0.083
    # floors judge the last run on its own
    assert main(["compare", *paths, "--fail-on", "off", "--min", "accuracy:0.8"]) == 0
    assert main(["compare", *paths, "--fail-on", "off", "--min", "accuracy:0.9"]) == 1
    out = capsys.readouterr().out
    assert "Below floor (--min):\n  fake-vlm digits closed_set: accuracy 0.8" in out and "< floor 0.9 " in out
    assert "accuracy detectable" not in out  # --fail-on off: no gated test, nothing to detect
    # a calibration file's thresholds gate like --fail-on; --fail-on still wins per metric
    snippet = tmp_path / "gate.ini"
    snippet.write_text("[pytest]\nvlmbench_fail_on =\n    accuracy:0.2\nvlmbench_alpha = 0.01\n")
    assert main(["compare", *paths, "--calibration", str(snippet)]) == 0  # a drop of 0.083 is within 0.2
    assert main(["compare", *paths, "--calibration", str(snippet), "--fail-on", "accuracy:0"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--correction", "sidak"], "--correction must be one of holm, bh, none, got 'sidak'."),
        (["--min", "accuracy"], "--min 'accuracy' is not METRIC:VALUE (e.g. accuracy:0.9 or items_per_s:50)."),
        (["--calibration", "missing.ini"], "missing.ini"),
    ],
)
def test_compare_refuses_bad_gate_options_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *_runs(tmp_path), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
