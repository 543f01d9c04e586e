"""``vlmbench calibrate``: thresholds and alpha from A/A runs (gate/calibration.py, cli/calibrate.py)."""

from __future__ import annotations

import configparser
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_vlmbench.cli import main
from pytest_vlmbench.gate.baseline import Run, load_run
from pytest_vlmbench.gate.calibration import CaseCalibration, calibrate, read_snippet, suggest, write_snippet
from pytest_vlmbench.gate.metrics import GateError
from pytest_vlmbench.gate.thresholds import parse_layer
from pytest_vlmbench.record import Record
from helpers import make_record, run_document, with_predictions

CLASSES = ["cat", "dog", "bird"]
N = 300


def _base() -> tuple[Record, list[str], list[str]]:
    """300 items, about 85% right, no invalid answers."""
    rng = random.Random(3)
    labels = [CLASSES[i % 3] for i in range(N)]
    preds = [t if rng.random() < 0.85 else rng.choice([c for c in CLASSES if c != t]) for t in labels]
    return make_record(labels, preds, classes=CLASSES), labels, preds


def _wrong(label: str) -> str:
    return "bird" if label != "bird" else "cat"


def _changed(labels: list[str], preds: list[str], broken: int, switched: int = 0) -> list[str]:
    """``broken`` right answers made wrong, and ``switched`` wrong answers made another wrong one."""
    out = list(preds)
    right = [i for i, (t, p) in enumerate(zip(labels, preds)) if t == p]
    wrong = [i for i, (t, p) in enumerate(zip(labels, preds)) if t != p]
    for i in right[:broken]:
        out[i] = _wrong(labels[i])
    for i in wrong[:switched]:
        out[i] = next(c for c in CLASSES if c not in (labels[i], preds[i]))
    return out


def _write(tmp_path: Path, runs: list[list[Record]]) -> list[str]:
    paths = []
    for i, records in enumerate(runs):
        path = tmp_path / f"batch{i}.json"
        path.write_text(json.dumps(run_document(records, commit="ab" * 20)))  # A/A runs share a commit
        paths.append(str(path))
    return paths


def _load(tmp_path: Path, runs: list[list[Record]]) -> list[Run]:
    return [load_run(p) for p in _write(tmp_path, runs)]


def _one(cases: list[CaseCalibration]) -> CaseCalibration:
    assert len(cases) == 1
    return cases[0]


def test_identical_runs_suggest_zero_thresholds_and_the_default_alpha(tmp_path: Path) -> None:
    base, _, preds = _base()
    runs = _load(tmp_path, [[with_predictions(base, preds, batch_size=b)] for b in (1, 8, 16)])  # batch size: same case
    case = _one(calibrate(runs))
    assert case.calibrated and case.runs == ("batch0.json", "batch1.json", "batch2.json")  # shared commit: file names
    assert (case.n, case.flip_mean, case.flip_max) == (N, 0.0, 0.0)
    assert [(m.metric, m.spread, m.std, m.threshold) for m in case.metrics] == [
        ("accuracy", 0.0, 0.0, 0.0), ("macro_f1", 0.0, 0.0, 0.0), ("invalid_rate", 0.0, 0.0, 0.0),
    ]  # fmt: skip
    assert case.p_min == 1.0 and case.alpha == 0.05
    suggestion = suggest([case])
    assert suggestion.fail_on == ["accuracy:0", "macro_f1:0", "invalid_rate:0"] and suggestion.alpha == 0.05


def test_known_flips_give_exact_rates_spread_and_suggestions(tmp_path: Path) -> None:
    """Run B breaks 9 right answers and turns 3 wrong answers into other wrong ones; run C equals A."""
    base, labels, preds = _base()
    other = _changed(labels, preds, broken=9, switched=3)
    runs = _load(tmp_path, [[base], [with_predictions(base, other)], [with_predictions(base, preds)]])
    case = _one(calibrate(runs, ["accuracy"]))
    assert case.n == N
    assert case.flip_max == pytest.approx(12 / N)  # A-B and B-C: 12 items each; A-C: none
    assert case.flip_mean == pytest.approx(24 / N / 3)
    (acc,) = case.metrics
    assert acc.spread == pytest.approx(9 / N) and acc.worst == pytest.approx(9 / N)
    assert acc.std == pytest.approx((9 / N) / 3**0.5)  # sample std of (a, a - 0.03, a)
    assert acc.values[0] - acc.values[1] == pytest.approx(9 / N)
    assert acc.threshold == 0.05  # 0.03 rounded up on the grid
    assert acc.p_min == pytest.approx(0.5**9)  # McNemar, all 9 changes one way (A -> B)
    assert case.alpha == 0.001  # the largest grid value below 0.00195


def test_items_are_those_in_every_run(tmp_path: Path) -> None:
    base, labels, preds = _base()
    short = make_record(labels[:250], preds[:250], classes=CLASSES)  # same case, 50 items fewer
    case = _one(calibrate(_load(tmp_path, [[base], [short]])))
    assert case.n == 250 and case.flip_max == 0.0
    assert case.metrics[0].spread > 0  # accuracy over 250 items is not that over 300


def test_one_way_change_gives_a_small_p_and_a_smaller_alpha(tmp_path: Path) -> None:
    base, labels, preds = _base()
    runs = _load(tmp_path, [[base], [with_predictions(base, _changed(labels, preds, broken=10))]])
    case = _one(calibrate(runs))
    accuracy = case.metrics[0]
    assert accuracy.p_min == pytest.approx(0.5**10)
    assert case.p_min is not None and case.p_min <= 0.5**10 < 0.05
    assert case.alpha is not None and case.alpha < case.p_min and case.alpha <= 0.0005
    assert suggest([case]).alpha == case.alpha
    backwards = _one(calibrate(list(reversed(runs))))  # the better run given last: every ordered pair is tested
    assert backwards.p_min == case.p_min and backwards.alpha == case.alpha


def test_a_systematic_change_gets_no_alpha_and_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, labels, preds = _base()
    paths = _write(tmp_path, [[base], [with_predictions(base, _changed(labels, preds, broken=40))]])
    case = _one(calibrate([load_run(p) for p in paths], ["accuracy"]))
    assert case.p_min == pytest.approx(0.5**40) and case.alpha is None
    suggestion = suggest([case])
    assert suggestion.systematic == [case] and suggestion.alpha == 0.0001
    assert main(["calibrate", *paths, "--metrics", "accuracy"]) == 0
    out = capsys.readouterr().out
    assert "systematic" in out and "even alpha 0.0001 would fail them" in out and "fake-vlm digits closed_set" in out


def test_cases_in_one_run_or_on_other_data_are_not_calibrated(tmp_path: Path) -> None:
    base, labels, preds = _base()
    binary = make_record(labels, preds, classes=CLASSES, strategy="binary")
    other_classes = make_record(labels, preds, classes=[*CLASSES, "fish"], strategy="direct")
    fp = replace(base, strategy="vote", dataset_fingerprint={"n_items": 300, "sha256": "a"})
    moved = replace(base, strategy="vote", dataset_fingerprint={"n_items": 280, "sha256": "b"})
    runs = _load(tmp_path, [[base, binary, make_record(labels, preds, classes=CLASSES, strategy="direct"), fp],
                            [base, other_classes, moved]])  # fmt: skip
    by_label = {c.label: c for c in calibrate(runs)}
    assert by_label["fake-vlm digits closed_set"].calibrated
    assert by_label["fake-vlm digits binary"].problem == "it is only in batch0.json, and calibrating needs it in at least two runs."
    assert by_label["fake-vlm digits direct"].problem == "the class list differs between batch0.json and batch1.json, so these are not A/A runs."
    assert by_label["fake-vlm digits vote"].problem == (
        "the dataset differs between batch0.json and batch1.json (n_items 300 -> 280), so these are not A/A runs."
    )
    assert suggest(list(by_label.values())).fail_on == ["accuracy:0", "macro_f1:0", "invalid_rate:0"]  # calibrated cases only


def test_refusals_are_one_sentence(tmp_path: Path) -> None:
    base, labels, preds = _base()
    (one,) = _load(tmp_path, [[base]])
    with pytest.raises(GateError, match=r"^Give at least two runs to calibrate: .*\.$"):
        calibrate([one])
    runs = _load(tmp_path, [[base], [replace(base, model="other-vlm")]])
    with pytest.raises(GateError, match=r"^The 2 runs have no case in common \(model, dataset, strategy and config\), so there is nothing to calibrate\.$"):
        calibrate(runs)
    with pytest.raises(GateError, match=r"^items_per_s is a cost metric, .* quality metrics only"):
        calibrate([one, one], ["accuracy", "items_per_s"])
    with pytest.raises(GateError, match=r"^Unknown metric 'acuracy' in the metric list; did you mean 'accuracy'\?"):
        calibrate([one, one], ["acuracy"])


def test_snippet_round_trips_through_configparser_and_parse_layer(tmp_path: Path) -> None:
    base, labels, preds = _base()
    runs = _load(tmp_path, [[base], [with_predictions(base, _changed(labels, preds, broken=10))]])
    cases = calibrate(runs)
    path = tmp_path / "calibration.ini"
    write_snippet(cases, path, ["a.json", "b.json"])
    text = path.read_text()
    assert text.startswith("# ") and "# vlmbench calibrate a.json b.json\n" in text
    assert "# fake-vlm digits closed_set: n=300, flips 3.33% mean, 3.33% max, accuracy spread 0.0333 -> 0.05" in text

    ini = configparser.ConfigParser()
    ini.read(path)
    lines = ini["pytest"]["vlmbench_fail_on"].split()
    assert lines == ["accuracy:0.05", "macro_f1:0.05", "invalid_rate:0"]
    layer = parse_layer(lines, "test")
    assert {name: t.limit for name, t in layer.items() if t is not None} == {"accuracy": 0.05, "macro_f1": 0.05, "invalid_rate": 0.0}
    alpha = float(ini["pytest"]["vlmbench_alpha"])
    assert alpha == suggest(cases).alpha and alpha <= 0.0005
    assert read_snippet(path) == (lines, alpha)


def test_snippet_of_runs_far_apart_turns_the_metric_off_and_says_why(tmp_path: Path) -> None:
    base, labels, _ = _base()
    perfect = with_predictions(base, labels)
    runs = _load(tmp_path, [[perfect], [with_predictions(base, [_wrong(t) for t in labels])]])  # 1.0 vs 0.0
    cases = calibrate(runs, ["accuracy"])
    assert cases[0].metrics[0].threshold is None
    path = tmp_path / "off.ini"
    write_snippet(cases, path)
    fail_on, alpha = read_snippet(path)
    assert fail_on == ["accuracy:off"] and parse_layer(fail_on, "test") == {"accuracy": None} and alpha == 0.0001
    assert "# accuracy: no threshold up to 0.5 keeps the A/A runs inside" in path.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"^Calibration file '.*missing\.ini' does not exist\.$"),
        ("vlmbench_alpha = 0.01\n", r"^Calibration file '.*' is not an ini file \(File contains no section headers"),
        ("[tool]\nx = 1\n", r"^Calibration file '.*' has no \[pytest\] section; write it with vlmbench calibrate --write\.$"),
        ("[pytest]\naddopts = -q\n", r"^Calibration file '.*' sets neither vlmbench_fail_on nor vlmbench_alpha"),
        ("[pytest]\nvlmbench_fail_on =\n    accuracy:2\n", r"^'.*' vlmbench_fail_on 'accuracy:2': accuracy is a rate"),
        ("[pytest]\nvlmbench_alpha = lots\n", r"^'.*' vlmbench_alpha must be a number between 0 and 1, got 'lots'\.$"),
        (b"\xff\xfe[pytest]", r"^Calibration file '.*' cannot be read \(UnicodeDecodeError\)\.$"),
    ],
)
def test_read_snippet_refuses_bad_files_in_one_sentence(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / ("missing.ini" if content is None else "bad.ini")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(GateError, match=message):
        read_snippet(path)
    with pytest.raises(GateError, match=r"is not a file\.$"):
        read_snippet(tmp_path)


def test_cli_prints_the_table_and_writes_the_snippet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, labels, preds = _base()
    other = _changed(labels, preds, broken=9, switched=3)
    paths = _write(tmp_path, [[base], [with_predictions(base, other, batch_size=16)], [with_predictions(base, preds, batch_size=1)]])
    snippet = tmp_path / "calibration.ini"
    assert main(["calibrate", *paths, "--metrics", "accuracy", "--write", str(snippet)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("fake-vlm digits closed_set"))
    assert row.split() == ["fake-vlm", "digits", "closed_set", "3", "300", "2.67%", "4.00%", "0.0300", "->", "0.05", "0.002", "0.001"]
    assert "vlmbench_fail_on: accuracy:0.05" in out and "vlmbench_alpha: 0.001" in out
    assert read_snippet(snippet) == (["accuracy:0.05"], 0.001)

    assert main(["calibrate", *paths, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cases"][0]["flip_max"] == pytest.approx(0.04) and doc["suggestion"]["alpha"] == 0.001
    assert main(["calibrate", *paths, "--format", "markdown"]) == 0
    assert "| fake-vlm digits closed_set | 3 | 300 | 2.67% | 4.00% |" in capsys.readouterr().out


def test_cli_bad_input_exits_two_with_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, labels, preds = _base()
    paths = _write(tmp_path, [[base], [base]])
    (tmp_path / "other").mkdir()
    other = _write(tmp_path / "other", [[base], [make_record(labels, preds, classes=[*CLASSES, "fish"])]])  # no A/A case
    for argv, message in [
        ([paths[0]], "vlmbench: give at least two runs to calibrate: "),
        ([paths[0], str(tmp_path / "nope.json")], f"vlmbench: File '{tmp_path / 'nope.json'}' does not exist."),
        ([paths[0], str(tmp_path)], f"vlmbench: '{tmp_path}' is not a file."),
        ([*paths, "--metrics", "items_per_s"], "vlmbench: items_per_s is a cost metric"),
        ([*paths, "--write", str(tmp_path / "batch0.json" / "x.ini")], "vlmbench: --write "),
        ([*other, "--write", str(tmp_path / "none.ini")], "vlmbench: No case was calibrated, so there are no thresholds to write"),
    ]:
        assert main(["calibrate", *argv]) == 2, argv
        captured = capsys.readouterr()
        assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err
        assert ("fake-vlm digits closed_set" in captured.out) == ("--write" in argv)  # the table comes before the file
