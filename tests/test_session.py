"""The session layer without pytest: planning cases, choosing offline variables, running a plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench import DATASETS, MODELS, Dataset, Item, LoadOptions, ModelSpec
from pytest_vlmbench.models.scripted import ScriptedModel, scripted_spec
from pytest_vlmbench.options import RunOptions, run_options_from
from pytest_vlmbench.session.plan import (
    Case,
    PlanError,
    Suite,
    fits_suite,
    model_needs_hub,
    offline_variables,
    plan_suite,
    select,
    strategy_misfit,
)
from pytest_vlmbench.session.execution import CaseError, DatasetCache, ModelLoader, run_case, run_cases
from pytest_vlmbench.session.sinks import RecordStore
from helpers import oracle, toy_dataset


def toy() -> Dataset:
    return toy_dataset(6, name="plan-toy")


class Events:
    """Loads and closes of scripted models, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def spec(self, name: str) -> ModelSpec:
        def factory(source: str, spec: ModelSpec, options: LoadOptions) -> ScriptedModel:
            self.log.append(f"load {name}")
            model = ScriptedModel(name, oracle)
            close = model.close

            def logged_close() -> None:
                self.log.append(f"close {name}")
                close()

            model.close = logged_close  # type: ignore[method-assign]
            return model

        return ModelSpec(name=name, source="scripted", family="scripted", factory=factory, modalities=frozenset({"text"}))


@pytest.fixture
def events() -> Iterator[Events]:
    log = Events()
    DATASETS.register("plan-toy", toy, modality="text", offline=True, replace=True)
    for name in ("plan-a", "plan-b"):
        MODELS.register(name, log.spec(name), replace=True)
    yield log


def options(**values: Any) -> RunOptions:
    return run_options_from(values)


# -- selection: command line > suite marker > default -----------------------------------


def test_command_line_beats_suite_beats_default(events: Events) -> None:
    suite = Suite.from_marker({"models": ["plan-a"], "datasets": "plan-toy", "strategies": ["yes-no"]})
    chosen = select(options(model=["plan-b"]), suite)
    assert [s.name for s in chosen.models] == ["plan-b"]
    assert chosen.datasets == ("plan-toy",)  # from the suite
    assert chosen.strategies == ("binary",)  # the marker's alias, made canonical
    default = select(options(), Suite())
    assert [s.name for s in default.models] == ["ref:qwen2-vl-fashion"]
    assert default.datasets in (("fashion_mnist",), ("digits",))
    assert default.strategies == ()


def test_bad_suite_declarations_are_one_sentence() -> None:
    with pytest.raises(PlanError, match="modality must be 'image' or 'text', not 'audio'"):
        Suite.from_marker({"modality": "audio"})
    with pytest.raises(PlanError, match=r"not \['model'\]"):
        Suite.from_marker({"model": "x"})
    with pytest.raises(PlanError, match="Unknown strategy 'binnary'"):
        select(options(), Suite.from_marker({"strategies": ["binnary"]}))
    for bad in (1.5, -0.1, "0.2", True, {"binary": None}):
        with pytest.raises(PlanError, match="max_invalid_rate must be a share from 0 to 1, or a dict of them by strategy"):
            Suite.from_marker({"max_invalid_rate": bad})
    with pytest.raises(PlanError, match="max_invalid_rate: Unknown strategy 'binnary'"):
        Suite.from_marker({"max_invalid_rate": {"binnary": 0.1}})


def test_invalid_answer_ceilings_by_strategy_with_a_default() -> None:
    assert Suite().invalid_ceiling("binary") is None  # no ceiling: the gate judges
    one = Suite.from_marker({"max_invalid_rate": 0.25})
    assert one.invalid_ceiling("binary") == one.invalid_ceiling("direct") == 0.25
    by_strategy = Suite.from_marker({"max_invalid_rate": {"yes-no": 0.5, "direct": 0}})  # an alias, made canonical
    assert (by_strategy.invalid_ceiling("binary"), by_strategy.invalid_ceiling("direct")) == (0.5, 0.0)
    assert by_strategy.invalid_ceiling("closed_set") is None
    assert Suite.from_marker({"max_invalid_rate": {"*": 0.3, "direct": 0.0}}).invalid_ceiling("closed_set") == 0.3


def test_plan_expands_seeds_and_class_counts_grouped_by_model(events: Events) -> None:
    plan = plan_suite(options(model=["plan-a,plan-b"], dataset=["plan-toy"], seed=["0,1"], num_classes=["2"]), Suite())
    ids = [c.id for c in plan.cases]
    assert ids[:4] == [
        "plan-a-plan-toy-2cls-closed_set-seed0",
        "plan-a-plan-toy-2cls-closed_set-seed1",
        "plan-a-plan-toy-2cls-binary-seed0",
        "plan-a-plan-toy-2cls-binary-seed1",
    ]
    models = [c.model for c in plan.cases]
    assert models == sorted(models) and len(plan.cases) == 8  # one block per model: one load each
    assert plan.strategies == {"closed_set", "binary"}


def test_models_meet_only_data_they_can_read(events: Events) -> None:
    # plan-a reads text only: an image dataset gives it no case, a text suite takes plan-toy.
    assert plan_suite(options(model=["plan-a"], dataset=["digits"]), Suite()).cases == ()
    assert plan_suite(options(model=["plan-a"], dataset=["plan-toy"]), Suite(modality="image")).cases == ()
    assert len(plan_suite(options(model=["plan-a"], dataset=["plan-toy"]), Suite(modality="text")).cases) == 2


def test_a_reference_model_meets_only_its_own_dataset_unless_the_command_line_names_others() -> None:
    suite = Suite.from_marker({"models": ["tiny:qwen2-vl", "ref:qwen2-vl-fashion"], "datasets": ["fashion_mnist", "digits"],
                               "strategies": ["closed_set"], "modality": "image"})  # fmt: skip
    pairs = {(c.model, c.dataset) for c in plan_suite(options(), suite).cases}
    assert pairs == {("tiny:qwen2-vl", "fashion_mnist"), ("tiny:qwen2-vl", "digits"), ("ref:qwen2-vl-fashion", "fashion_mnist")}
    named = {(c.model, c.dataset) for c in plan_suite(options(model=["ref:qwen2-vl-fashion"], dataset=["digits"]), suite).cases}
    assert named == {("ref:qwen2-vl-fashion", "digits")}  # asked for explicitly: it runs (and answers at chance)


@pytest.mark.parametrize(
    ("suite", "dataset", "model", "fits"),
    [
        (None, "text", {"text"}, True),
        ("image", "image+text", {"image"}, True),
        ("text", "image+text", {"image", "text"}, False),
        ("text", None, frozenset({"image"}), False),
        ("image", None, frozenset({"image"}), True),
    ],
)
def test_fits_suite(suite: str | None, dataset: str | None, model: set[str], fits: bool) -> None:
    assert fits_suite(suite, dataset, frozenset(model)) is fits


def test_strategy_that_fits_no_model_is_explained(events: Events) -> None:
    opts = options(model=["plan-a"], dataset=["plan-toy"], strategy=["direct"])
    plan = plan_suite(opts, Suite())
    message = strategy_misfit(opts, [plan])
    assert message is not None and message.startswith("--strategy direct fits none of the selected models")
    assert "plan-a supports closed_set, binary" in message
    assert strategy_misfit(options(model=["plan-a"], dataset=["plan-toy"]), [plan]) is None


# -- offline variables: decided from what runs, nothing when nothing runs ----------------


def test_offline_variables_follow_the_planned_cases(events: Events) -> None:
    assert offline_variables([]) == {}
    # A custom factory may download: only the (packaged) dataset is known to be offline.
    custom = plan_suite(options(model=["plan-a"], dataset=["bbc_news"]), Suite(modality="text"))
    assert offline_variables(custom.cases) == {"HF_DATASETS_OFFLINE": "1"}
    tiny_offline = plan_suite(options(model=["tiny:qwen2-vl"], dataset=["digits"]), Suite())
    assert offline_variables(tiny_offline.cases) == {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    # A hub dataset chosen by a suite's marker must be free to download.
    tiny_hub = plan_suite(options(model=["tiny:qwen2-vl"]), Suite.from_marker({"datasets": ["cifar10"]}))
    assert tiny_hub.cases and offline_variables(tiny_hub.cases) == {}
    hub_model = plan_suite(options(model=["qwen2-vl"], dataset=["digits"]), Suite())
    assert offline_variables(hub_model.cases) == {"HF_DATASETS_OFFLINE": "1"}


def test_which_models_need_the_hub() -> None:
    from pytest_vlmbench import resolve_model

    assert not model_needs_hub(resolve_model("tiny:qwen2-vl"))
    assert model_needs_hub(resolve_model("qwen2-vl"))
    assert not model_needs_hub(scripted_spec("local", oracle, source=str(Path(__file__).parent)))


# -- running a plan without pytest -------------------------------------------------------


def test_run_cases_loads_each_model_once_and_releases_it_before_the_next(events: Events) -> None:
    opts = options(model=["plan-a,plan-b"], dataset=["plan-toy"], strategy=["closed_set,binary"])
    plan = plan_suite(opts, Suite())
    records = run_cases(plan.cases, opts, ModelLoader(LoadOptions(device="cpu")))
    assert events.log == ["load plan-a", "close plan-a", "load plan-b", "close plan-b"]
    assert [(r.model, r.strategy) for r in records] == [(c.model, c.strategy) for c in plan.cases]
    assert all(r.metrics.accuracy == 1.0 for r in records)  # the oracle is always right
    assert {r.model_load_id for r in records if r.model == "plan-a"} != {r.model_load_id for r in records if r.model == "plan-b"}
    assert records[0].options == opts.as_json()
    store = RecordStore(opts)
    for record in records:
        store.add(record, fullname=f"suite.py::test[{record.case_name()}]")
    assert store.run_block()["status"] == "running"
    store.finish("complete")
    block = store.run_block()
    assert block["models"] == {
        "plan-a": {"loads": 1, "load_s": [records[0].throughput.model_load_s], "workers": ["main"]},
        "plan-b": {"loads": 1, "load_s": [records[2].throughput.model_load_s], "workers": ["main"]},
    }
    assert block["status"] == "complete"


def test_a_case_that_cannot_run_is_one_sentence_and_the_others_go_on(events: Events) -> None:
    def broken() -> Dataset:
        return Dataset("broken", ("a", "b"), [Item("x", "c", "text")], modality="text")  # a label off the list

    DATASETS.register("plan-broken", broken, modality="text", offline=True, replace=True)
    opts = options(model=["plan-a"], dataset=["plan-broken,plan-toy"], strategy=["binary"])
    errors: list[tuple[str, str]] = []
    records = run_cases(plan_suite(opts, Suite()).cases, opts, ModelLoader(LoadOptions()), on_error=lambda c, e: errors.append((c.id, e)))
    assert [r.dataset for r in records] == ["plan-toy"]
    assert len(errors) == 1 and errors[0][0] == "plan-a-plan-broken-binary"
    assert "\n" not in errors[0][1] and errors[0][1].endswith(".")


def test_failed_load_and_failed_dataset_are_remembered(events: Events) -> None:
    calls: list[str] = []

    def load(spec: str, *args: Any) -> Any:
        calls.append(spec)
        from pytest_vlmbench.datasets.base import DatasetError

        raise DatasetError(f"Dataset {spec!r} is unusable; fix it.")

    cache = DatasetCache(load)
    opts = options(model=["plan-a"], dataset=["plan-toy"])
    loaded = ModelLoader(LoadOptions()).load("plan-a")
    case = Case("plan-a", "plan-toy", "binary")
    for _ in range(2):
        with pytest.raises(CaseError, match="is unusable; fix it"):
            run_case(case, loaded, opts, cache)
    assert calls == ["plan-toy"]  # the failure is cached with its sentence
    missing = ModelLoader(LoadOptions()).load("no-such-model-anywhere")
    assert missing.model is None and missing.error is not None and missing.error.startswith("Model 'no-such-model-anywhere' could not be loaded")
    with pytest.raises(CaseError, match="could not be loaded"):
        run_case(case, missing, opts, cache)
