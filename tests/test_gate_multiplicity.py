"""The gate over many items: the correction, detectable drops, floors and the flips a failure names."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gate_compare import break_items, copy, gate, sample, write

from helpers import run_document
from pytest_vlmbench.gate.baseline import load_run
from pytest_vlmbench.gate.metrics import GateError
from pytest_vlmbench.gate.multiplicity import CORRECTIONS, Hypothesis, adjust, parse_correction, sure_alpha
from pytest_vlmbench.gate.power import adjust_family, critical_count, detectable_drop, mcnemar_power
from pytest_vlmbench.gate.significance import mcnemar
from pytest_vlmbench.gate.thresholds import parse_floors
from pytest_vlmbench.gate.verdict import Verdict, check_floors, gate_report_lines, judge_record, resolve_verdicts

P_VALUES = st.lists(st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=7)


# -- the adjustments, against reference computations -----------------------------------------


def holm_by_closed_testing(p: list[float]) -> list[float]:
    """Holm's adjusted p from its definition: closed testing with Bonferroni's test of every
    intersection, the adjusted p of H_i the largest local p over the subsets that contain i."""
    m = len(p)
    out = []
    for i in range(m):
        worst = 0.0
        for size in range(1, m + 1):
            for subset in itertools.combinations(range(m), size):
                if i in subset:
                    worst = max(worst, min(1.0, size * min(p[k] for k in subset)))
        out.append(worst)
    return out


def test_textbook_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p, "none") == p
    assert adjust([], "holm") == []


@given(P_VALUES)
@settings(max_examples=200, deadline=None)
def test_holm_is_closed_testing_with_bonferroni(p: list[float]) -> None:
    assert adjust(p, "holm") == pytest.approx(holm_by_closed_testing(p))


@given(P_VALUES)
@settings(max_examples=200, deadline=None)
def test_bh_matches_scipy(p: list[float]) -> None:
    from scipy.stats import false_discovery_control

    assert adjust(p, "bh") == pytest.approx(list(false_discovery_control(p, method="bh")))


FAMILIES = st.lists(
    st.lists(st.tuples(st.booleans(), st.floats(min_value=0.0, max_value=0.2, allow_nan=False)), min_size=1, max_size=3),
    min_size=1,
    max_size=12,
)


def verdicts_of(family: list[list[tuple[bool, float]]]) -> list[Verdict]:
    """One verdict per item, one hypothesis per (candidate, raw p)."""
    return [
        Verdict(f"t.py::i{i}", "m d s", "ok", hypotheses=tuple(
            Hypothesis("accuracy", "accuracy 0.9 -> 0.8 (-0.1 > 0", candidate, p, 0.05, n=100) for candidate, p in item
        ))  # fmt: skip
        for i, item in enumerate(family)
    ]


@given(FAMILIES, st.sampled_from(["holm", "bh"]))
@settings(max_examples=200, deadline=None)
def test_a_correction_never_fails_an_item_the_uncorrected_gate_passes(family: list[list[tuple[bool, float]]], method: str) -> None:
    plain = {v.nodeid for v in resolve_verdicts(verdicts_of(family), "none") if v.status == "regressed"}
    corrected = {v.nodeid for v in resolve_verdicts(verdicts_of(family), parse_correction(method, "test")) if v.status == "regressed"}
    assert corrected <= plain


@given(P_VALUES, st.integers(min_value=0, max_value=20), st.sampled_from(["holm", "bh"]))
@settings(max_examples=200, deadline=None)
def test_a_p_value_under_the_sure_level_fails_whatever_the_others_are(p: list[float], extra: int, method: str) -> None:
    # sure_alpha with the largest family the run can have: every smaller family rejects it too
    level = sure_alpha(0.05, len(p) + extra, parse_correction(method, "test"))
    for value, adjusted in zip(p, adjust(p, parse_correction(method, "test"))):
        if value <= level:
            assert adjusted <= 0.05


def test_correction_names_are_checked_in_one_sentence() -> None:
    assert CORRECTIONS == ("holm", "bh", "none") and parse_correction(" Holm ", "x") == "holm"
    with pytest.raises(GateError, match=r"^--vlmbench-correction must be one of holm, bh, none, got 'bonferroni'\.$"):
        parse_correction("bonferroni", "--vlmbench-correction")


# -- many items: what the correction changes -------------------------------------------------


def small_drops(tmp_path: Path, items: int) -> tuple[list[Verdict], list[Verdict]]:
    """``items`` cases, each with 5 of its right answers broken (McNemar p = 0.5 ** 5 = 0.031): judged
    with no correction and with Holm."""
    bases = [replace(sample(n=300, seed=i), model=f"m{i}") for i in range(items)]
    run = load_run(write(tmp_path, "base.json", run_document(bases)))
    judged = [judge_record(break_items(copy(b), 5), run, gate("accuracy:0"), 0.05, nodeid=f"t.py::i{i}") for i, b in enumerate(bases)]
    return resolve_verdicts(judged, "none"), resolve_verdicts(judged, "holm")


def test_twenty_small_drops_fail_alone_and_none_fails_once_corrected(tmp_path: Path) -> None:
    plain, holm = small_drops(tmp_path, 20)
    assert [v.status for v in plain] == ["regressed"] * 20
    assert [v.status for v in holm] == ["not significant"] * 20
    line = holm[0].notes[-1]
    assert "p=0.031, holm-adjusted 0.625 > alpha 0.05: not significant" in line
    report = gate_report_lines(load_run(tmp_path / "base.json"), "--vlmbench-baseline", holm, "holm")
    assert "correction: Holm (family-wise error) over 20 tests" in report
    assert "20 compared: 20 not significant" in report


def test_a_regression_the_run_end_decides_is_late_and_a_sure_one_fails_at_once(tmp_path: Path) -> None:
    base = sample(n=300)
    run = load_run(write(tmp_path, "base.json", run_document([base])))
    # sure level for a family of at most 2 tests: 0.025. 5 broken: p = 0.031, decided at the end.
    pending = judge_record(break_items(copy(base), 5), run, gate("accuracy:0"), 0.05, nodeid="t.py::a", sure=0.025)
    assert pending.fail == () and pending.hypotheses[0].p_value == pytest.approx(0.5**5)
    (final,) = resolve_verdicts([pending], "holm")  # the other collected item was never compared: m = 1
    assert final.status == "regressed" and final.late[0].startswith("accuracy 0.8")
    assert final.late[1].startswith("5 items right -> wrong (first: ")
    lines = gate_report_lines(run, "--vlmbench-baseline", [final], "holm")
    assert "REGRESSED after the correction (the item had passed) t.py::a:" in lines
    assert sum(line.startswith("    accuracy 0.8") for line in lines) == 1  # listed once, not again under REGRESSED
    sure = judge_record(break_items(copy(base), 20), run, gate("accuracy:0"), 0.05, nodeid="t.py::b", sure=0.025, run_file="run.json")
    assert sure.fail[0].endswith("<= 0.025: significant after the correction, whatever the other items show)")
    assert sure.fail[1].endswith(f"; all of them: vlmbench diff {tmp_path / 'base.json'} run.json b")
    assert resolve_verdicts([sure], "holm")[0].late == ()  # it failed already: not "late"


def test_verdicts_with_hypotheses_travel_as_json(tmp_path: Path) -> None:
    base = sample(n=300)
    run = load_run(write(tmp_path, "base.json", run_document([base])))
    (verdict,) = resolve_verdicts([judge_record(break_items(copy(base), 9), run, gate("accuracy:0.01,macro_f1:0"), 0.05, nodeid="t.py::a")], "bh")
    assert Verdict.from_json(verdict.to_json()) == verdict
    assert {h.metric for h in verdict.hypotheses} == {"accuracy", "macro_f1"} and all(h.detectable for h in verdict.hypotheses)
    with pytest.raises(GateError, match="unreadable hypothesis"):
        Verdict.from_json(dict(verdict.to_json(), hypotheses=[{"metric": "accuracy"}]))


# -- detectable drops ----------------------------------------------------------------------


def test_detectable_drop_without_churn_is_the_fewest_items_a_test_can_call_significant() -> None:
    h = Hypothesis("accuracy", "", False, None, 0.05, n=200, changed=0, baseline=0.86)
    assert detectable_drop(h, 0.05) == pytest.approx(5 / 200)  # 0.5 ** 5 = 0.031 <= 0.05; 0.5 ** 4 is not
    assert detectable_drop(h, 0.05 / 144) == pytest.approx(12 / 200)  # Holm over 144 tests: 2 ** 12 > 2880
    assert critical_count(5, 0.05) == 5 and critical_count(4, 0.05) is None
    from pytest_vlmbench.gate.power import detectable_text

    nine = replace(h, n=2000, detectable=9 / 2000)  # 0.0045: printed rounded up, never below what is caught
    assert detectable_text(nine) == "accuracy detectable >= 0.005 (n=2000, 0 changed)"
    assert detectable_text(replace(nine, detectable=0.02)) == "accuracy detectable >= 0.020 (n=2000, 0 changed)"
    tiny = replace(h, n=3, baseline=1.0)
    assert detectable_drop(tiny, 0.05) is None  # no drop three items can make is significant


def test_detectable_drop_has_the_power_it_claims_against_the_gates_own_test() -> None:
    n, changed, alpha = 500, 40, 0.01
    h = Hypothesis("accuracy", "", False, None, alpha, n=n, changed=changed, baseline=0.85)
    drop = detectable_drop(h, alpha)
    assert drop is not None
    k = round(drop * n)
    assert mcnemar_power(k, changed, alpha) >= 0.8 > mcnemar_power(k - 1, changed, alpha)
    # simulate the model of power.py: 40 discordant items, each broken with probability (40 + k) / 80
    rng = random.Random(0)
    hits = 0
    for _ in range(400):
        broke = sum(rng.random() < (changed + k) / (2 * changed) for _ in range(changed))
        base, cur = [True] * broke + [False] * (changed - broke), [False] * broke + [True] * (changed - broke)
        result = mcnemar(base, cur, alpha, "worse")
        hits += result.significant(alpha)
    assert 0.75 <= hits / 400 <= 0.95


def test_a_threshold_below_the_detectable_drop_is_said_and_still_gated(tmp_path: Path) -> None:
    base = sample(n=100)
    run = load_run(write(tmp_path, "base.json", run_document([base])))
    (same,) = resolve_verdicts([judge_record(copy(base), run, gate("accuracy:0.01"), 0.05, nodeid="t.py::a")], "holm")
    lines = gate_report_lines(run, "--vlmbench-baseline", [same], "holm")
    assert "  t.py::a: accuracy detectable >= 0.050 (n=100, 0 changed)" in lines
    assert "      its threshold accuracy:0.010 is below what this comparison can detect: a smaller drop passes unseen." in lines
    (worse,) = resolve_verdicts([judge_record(break_items(copy(base), 9), run, gate("accuracy:0.01"), 0.05, nodeid="t.py::b")], "holm")
    assert worse.status == "regressed"  # still gated


def test_bootstrapped_metrics_get_a_detectable_drop_from_the_bootstraps_spread() -> None:
    tests = [[Hypothesis("macro_f1", "", False, None, 0.05, n=300, changed=20, baseline=0.8, se=0.01)]]
    (h,) = adjust_family(tests, "holm")[0]
    assert h.detectable == pytest.approx((1.6448536 + 0.8416212) * 0.01, rel=1e-6)  # alone in its family: alpha 0.05
    (none,) = adjust_family([[replace(tests[0][0], se=None)]], "holm")[0]
    assert none.detectable is None


# -- floors ---------------------------------------------------------------------------------


def test_floors_parse_and_refuse_in_one_sentence() -> None:
    floors = parse_floors(["accuracy:0.9, latency_p50_ms:250", "accuracy:0.8"], "--vlmbench-min")
    assert {k: f.value for k, f in floors.items()} == {"accuracy": 0.8, "latency_p50_ms": 250.0}
    for text, message in (
        ("accuracy", r"^--vlmbench-min 'accuracy' is not METRIC:VALUE \(e\.g\. accuracy:0\.9 or items_per_s:50\)\.$"),
        ("accuracy:high", r"the value must be a number like 0\.9, not 'high'\.$"),
        ("accuracy:1.5", r"accuracy is a rate between 0 and 1, so its bound must be too\.$"),
        ("acuracy:0.9", r"Unknown metric 'acuracy' in --vlmbench-min; did you mean 'accuracy'\?"),
    ):
        with pytest.raises(GateError, match=message):
            parse_floors([text], "--vlmbench-min")


def test_floors_fail_without_a_baseline_and_ceilings_for_lower_is_better() -> None:
    record = sample(n=200, acc=0.8)
    floors = parse_floors(["accuracy:0.9", "invalid_rate:0.5", "energy_j:10"], "x")
    failing, notes = check_floors(record, floors)
    assert failing == [f"accuracy {record.metrics.accuracy:.3f} < floor 0.9 (--vlmbench-min accuracy:0.9)"]
    assert notes == ["energy_j is not recorded, so --vlmbench-min energy_j:10 was not checked"]
    verdict = judge_record(record, None, {}, 0.05, nodeid="t.py::a", floors=floors)
    assert verdict.status == "below floor" and verdict.fail == tuple(failing)
    lines = gate_report_lines(None, "", [verdict])
    assert lines[1] == "no baseline: floors (--vlmbench-min) only" and "BELOW FLOOR t.py::a:" in lines
    ceiling = parse_floors(["invalid_rate:0.0"], "x")["invalid_rate"]
    assert ceiling.breached(0.01) and not ceiling.breached(0.0)
    assert judge_record(record, None, {}, 0.05, nodeid="t.py::a", floors=parse_floors(["accuracy:0.5"], "x")).fail == ()
