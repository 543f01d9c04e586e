"""The gate recomputes a saved run's quality metrics from its predictions, and refuses a file
whose numbers its predictions do not give (hand-edited or corrupt), in one sentence."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench.cli import main
from pytest_vlmbench.gate.baseline import load_run, parse_run
from pytest_vlmbench.gate.metrics import GateError
from pytest_vlmbench.tasks.metrics import legacy_macro
from helpers import make_record, run_document
from pytest_vlmbench.record import Record

CLASSES = ["cat", "dog", "bird"]
REDO = "the file was edited or is corrupt, so re-create it."


def _record(n: int = 100, acc: float = 0.6, seed: int = 5, classes: list[str] = CLASSES) -> Record:
    """Items of CLASSES only; ``classes`` may name more (classes without items)."""
    rng = random.Random(seed)
    labels = [rng.choice(CLASSES) for _ in range(n)]
    preds: list[str | None] = [t if rng.random() < acc else rng.choice([*classes, None]) for t in labels]
    return make_record(labels, preds, classes=classes)


def _write(path: Path, records: list[Record], edit: Any = None) -> str:
    doc = run_document(records)
    if edit is not None:
        edit(doc["benchmarks"][0]["extra_info"]["vlmbench"])
    path.write_text(json.dumps(doc))
    return str(path)


def _refusal(path: str) -> str:
    with pytest.raises(GateError) as info:
        load_run(path)
    message = str(info.value)
    assert "\n" not in message and message.endswith(REDO) and message.count(". ") == 0, message
    return message


def test_a_hand_edited_accuracy_is_refused_naming_file_case_and_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = _record()
    assert record.metrics.accuracy == 0.6  # what the predictions give
    base = _write(tmp_path / "base.json", [record], lambda r: r["metrics"].update(accuracy=0.9))
    assert _refusal(base) == f"{base!r} (fake-vlm digits closed_set): metrics.accuracy is 0.9 but its predictions give 0.6; {REDO}"
    # Before, the edited baseline compared as "-0.300, p=1.000, not significant" and passed.
    current = _write(tmp_path / "current.json", [record])
    assert main(["compare", base, current]) == 2
    err = capsys.readouterr().err
    assert err == f"vlmbench: {base!r} (fake-vlm digits closed_set): metrics.accuracy is 0.9 but its predictions give 0.6; {REDO}\n"
    assert main(["compare", current, current]) == 0  # the untouched file compares


@pytest.mark.parametrize("name", ["macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall", "weighted_f1", "invalid_rate"])
def test_every_quality_metric_is_checked(tmp_path: Path, name: str) -> None:
    record = _record()
    value = float(getattr(record.metrics, name))
    path = _write(tmp_path / "base.json", [record], lambda r: r["metrics"].update({name: value + 1e-6}))
    head, _, tail = _refusal(path).partition(f" (fake-vlm digits closed_set): metrics.{name} is ")
    shown, _, given = tail.removesuffix(f"; {REDO}").partition(" but its predictions give ")
    assert head == repr(path) and shown != given  # as many digits as it takes to tell them apart
    assert float(shown) == pytest.approx(value + 1e-6, abs=1e-6) and float(given) == pytest.approx(value, abs=1e-6)
    # Float rounding is not an edit.
    path = _write(tmp_path / "ok.json", [record], lambda r: r["metrics"].update({name: value + 1e-12}))
    assert getattr(load_run(path).entries[0].record.metrics, name) == value + 1e-12  # read as saved


def test_edited_predictions_are_caught_too(tmp_path: Path) -> None:
    record = _record()

    def flip(r: dict[str, Any]) -> None:
        first = r["predictions"][0]
        first["prediction"] = next(c for c in CLASSES if c != first["prediction"])

    assert ": metrics.accuracy is 0.6 but its predictions give 0.59; " in _refusal(_write(tmp_path / "a.json", [record], flip))


def test_trimmed_or_missing_predictions_are_refused(tmp_path: Path) -> None:
    record = _record()
    trimmed = _write(tmp_path / "t.json", [record], lambda r: r.update(predictions=r["predictions"][:3]))
    assert _refusal(trimmed) == f"{trimmed!r} (fake-vlm digits closed_set): n_items is 100 but it holds 3 predictions; {REDO}"
    bare = _write(tmp_path / "b.json", [record], lambda r: r.pop("predictions"))
    assert _refusal(bare) == (
        f"{bare!r} (fake-vlm digits closed_set): it has no predictions for its 100 items, so its metrics cannot "
        f"be checked; {REDO}"
    )
    # A record that scored no item (all unreadable) has nothing to check and is fine.
    empty = make_record([], [], classes=CLASSES)
    assert load_run(_write(tmp_path / "e.json", [empty])).entries[0].record == empty


def test_classes_without_items_are_checked(tmp_path: Path) -> None:
    record = _record(classes=[*CLASSES, "fish"])  # no item is a fish
    assert record.metrics.classes_without_items == ("fish",)
    assert load_run(_write(tmp_path / "ok.json", [record])).entries[0].record == record
    path = _write(tmp_path / "x.json", [record], lambda r: r["metrics"].update(classes_without_items=["fish", "cat"]))
    assert _refusal(path).endswith(f": metrics.classes_without_items is ['fish', 'cat'] but its predictions give ['fish']; {REDO}")


def test_a_record_from_before_classes_without_items_is_read_with_todays_macro_averages(tmp_path: Path) -> None:
    record = _record(classes=[*CLASSES, "fish"])
    labels = [str(p.label) for p in record.predictions]
    preds = [None if p.prediction is None else str(p.prediction) for p in record.predictions]
    older = {name: legacy_macro(name, labels, preds, record.classes) for name in ("macro_precision", "macro_recall", "macro_f1")}
    assert all(abs(older[name] - getattr(record.metrics, name)) > 0.05 for name in older)  # the two definitions differ

    def as_written_before(r: dict[str, Any]) -> None:
        del r["metrics"]["classes_without_items"]
        r["metrics"].update(older)

    (saved,) = load_run(_write(tmp_path / "old.json", [record], as_written_before)).entries
    assert saved.record == record  # today's definitions, with the classes named
    # An older record whose macro average matches neither definition is still an edit.
    bad = dict(older, macro_f1=older["macro_f1"] + 0.1)
    path = _write(tmp_path / "bad.json", [record], lambda r: (r["metrics"].pop("classes_without_items"), r["metrics"].update(bad)))
    assert f": metrics.macro_f1 is {bad['macro_f1']:.6g} but its predictions give {record.metrics.macro_f1:.6g}; " in _refusal(path)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from([*CLASSES, "other", None])), max_size=30),
    st.sampled_from([CLASSES, [*CLASSES, "fish"], ["fish", *CLASSES, "owl"]]),
)
def test_synthetic_records_always_pass(pairs: list[tuple[str, str | None]], classes: list[str]) -> None:
    record = make_record([t for t, _ in pairs], [p for _, p in pairs], classes=classes)
    (saved,) = parse_run(json.loads(json.dumps(run_document([record]))), "'x.json'").entries
    assert saved.record == record
