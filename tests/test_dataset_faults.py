"""Bad or surprising datasets: each is refused in one sentence, or handled so the result stays right.

- a path's modality is told before loading, so the planner pairs it only with models that read it;
- empty text cells are unreadable items, listed and left out of the metrics;
- 16-bit and float images are rescaled to 8 bits, not clipped to white;
- fewer than two classes is refused;
- ``--label-map`` mismatches and broken CSV/TSV/JSON Lines/Parquet files are one sentence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench import DATASETS, MODELS, ModelSpec
from pytest_vlmbench.datasets.base import Dataset, DatasetError, Item, ItemError
from pytest_vlmbench.datasets.catalog import spec_modality
from pytest_vlmbench.datasets.columns import Columns
from pytest_vlmbench.datasets.resolve import DatasetOptions, clear_cache, load_dataset, with_exemplars
from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate
from pytest_vlmbench.models.base import Adapter, Provides, Request
from pytest_vlmbench.record import ModelInfo
from pytest_vlmbench.models.scripted import scripted_spec
from pytest_vlmbench.models.labels import LabelMismatch, ModelInputError, map_labels
from pytest_vlmbench.options import run_options_from
from pytest_vlmbench.session.plan import Suite, plan_suite


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    clear_cache()


def write_png(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 5), (120, 30, 30)).save(path)
    return path


def one_sentence(message: str) -> bool:
    """One sentence: ends with a full stop and has no other sentence end in it (paths aside)."""
    return message.endswith(".") and message.count(". ") == 0 and "\n" not in message and "Traceback" not in message


# -- 1. a path's modality, known before loading ------------------------------------------


def image_folder(root: Path) -> Path:
    for cls in ("cat", "dog"):
        for i in range(2):
            write_png(root / cls / f"{i}.png")
    return root


def text_folder(root: Path) -> Path:
    for cls in ("sport", "tech"):
        (root / cls).mkdir(parents=True)
        (root / cls / "0.txt").write_text(f"a story about {cls}")
    return root


def text_csv(path: Path) -> Path:
    path.write_text("id,review,label\nr1,great film,pos\nr2,dull,neg\n")
    return path


def image_text_jsonl(path: Path) -> Path:
    write_png(path.parent / "p.png")
    rows = [{"text": "Sharks in the mall", "image": "p.png", "label": "fake"}, {"text": "Sunny", "image": "p.png", "label": "real"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def image_path_csv(path: Path) -> Path:
    write_png(path.parent / "a.png")
    path.write_text("file_name,label,score\na.png,cat,0.5\na.png,dog,1\n")
    return path


def text_tsv_with_numbers(path: Path) -> Path:
    path.write_text("id\tnotes\tlabel\n1\t\t10\n2\t\t2\n3\tplain words\t10\n")  # notes: the only string column
    return path


def text_parquet(path: Path) -> Path:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    datasets.Dataset.from_dict({"text": ["bad", "good"], "label": [0, 1]}, features=features).to_parquet(path)
    return path


def image_text_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_png(path.parent / "a.png")
    pq.write_table(pa.table({"caption": ["x", "y"], "image_path": ["a.png", "a.png"], "label": ["a", "b"]}), path)
    return path


def saved_image_dataset(path: Path) -> Path:
    import datasets
    from PIL import Image

    images = [Image.new("RGB", (4, 4), (i * 60, 0, 0)) for i in range(2)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    datasets.Dataset.from_dict({"image": images, "label": [0, 1]}, features=features).save_to_disk(str(path))
    return path


def saved_text_dict(path: Path) -> Path:
    import datasets

    split = datasets.Dataset.from_dict({"sentence": ["x", "y"], "label": ["a", "b"]})
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(path))
    return path


@pytest.mark.parametrize(
    ("make", "name", "modality"),
    [
        (image_folder, "pets", "image"),
        (text_folder, "news", "text"),
        (text_csv, "reviews.csv", "text"),
        (image_text_jsonl, "posts.jsonl", "image+text"),
        (image_path_csv, "scans.csv", "image"),
        (text_tsv_with_numbers, "t.tsv", "text"),
        (text_parquet, "s.parquet", "text"),
        (image_text_parquet, "p.parquet", "image+text"),
        (saved_image_dataset, "saved", "image"),
        (saved_text_dict, "saved_dict", "text"),
    ],
)
def test_a_paths_modality_is_known_before_loading_and_is_the_loaded_one(
    tmp_path: Path, make: Any, name: str, modality: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(tmp_path / name)
    import pytest_vlmbench.datasets.files as files

    def no_loading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("spec_modality loaded the dataset")

    with monkeypatch.context() as patched:
        patched.setattr(files, "load_path", no_loading)
        patched.setattr(files, "load_table", no_loading)
        assert spec_modality(str(path)) == modality
    assert load_dataset(str(path)).modality == modality  # the same answer as loading gives


def test_modality_follows_the_column_options(tmp_path: Path) -> None:
    path = image_text_jsonl(tmp_path / "posts.jsonl")
    assert spec_modality(str(path), Columns(image="")) == "text"
    assert spec_modality(str(path), Columns(text="")) == "image"


def test_modality_stays_unknown_for_hub_ids_and_undecidable_paths(tmp_path: Path) -> None:
    assert spec_modality("owner/some-dataset") is None
    assert spec_modality("digits") == "image" and spec_modality("bbc_news") == "text"
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "label" "x"}\n')
    empty_notes = tmp_path / "notes.csv"
    empty_notes.write_text("label,notes,extra\na,,\nb,,\n")  # no cell to type a column by
    no_label = tmp_path / "nolabel.csv"
    no_label.write_text("text,kind\nx,a\n")
    for path in (broken, empty_notes, no_label, tmp_path / "missing.csv", tmp_path / "empty-dir"):
        assert spec_modality(str(path)) is None, path


def test_a_text_table_is_planned_only_for_models_that_read_text(tmp_path: Path) -> None:
    def spec(name: str, modalities: set[str]) -> ModelSpec:
        return scripted_spec(name, lambda request: "a", modalities=frozenset(modalities))

    MODELS.register("fault-text-only", spec("fault-text-only", {"text"}), replace=True)
    MODELS.register("fault-image-only", spec("fault-image-only", {"image"}), replace=True)
    try:
        csv_path = text_csv(tmp_path / "reviews.csv")
        folder = image_folder(tmp_path / "pets")
        options = run_options_from({"model": ["fault-text-only,fault-image-only"], "dataset": [str(csv_path), str(folder)]})
        cases = plan_suite(options, Suite()).cases
        assert {(c.model, c.dataset) for c in cases} == {("fault-text-only", str(csv_path)), ("fault-image-only", str(folder))}
    finally:
        MODELS.unregister("fault-text-only")
        MODELS.unregister("fault-image-only")


# -- 2. empty text cells -----------------------------------------------------------------


class Reader(Adapter):
    """A direct classifier that reads the class out of the text and keeps every prompt it saw."""

    name = "reader"
    provides: Provides = "classify"
    info = ModelInfo(device="cpu")

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        self.prompts.extend(r.prompt for r in requests)
        return [next((c for c in classes if c in r.prompt), None) for r in requests]


def test_empty_text_cells_are_listed_as_errors_and_left_out_of_the_metrics(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('id,text,label\nr1,about pos,pos\nr2,,neg\nr3,"   ",pos\nr4,about neg,neg\nr5,about pos,pos\n')
    ds = load_dataset(str(path))
    assert [it.id for it in ds.items if it.unreadable] == ["r2", "r3"]
    with pytest.raises(ItemError, match=r"text cell in column 'text' is empty; fill it in or drop the row") as info:
        ds.items[1].image()
    assert info.value.item_id == "r2"
    model = Reader()
    record = evaluate(model, ds, "direct", EvalConfig())
    assert [(e.id, e.error) for e in record.errors] == [
        ("r2", "its text cell in column 'text' is empty; fill it in or drop the row."),
        ("r3", "its text cell in column 'text' is empty; fill it in or drop the row."),
    ]
    assert record.n_errors == 2 and model.prompts == ["about pos", "about neg", "about pos"]
    assert {p.id for p in record.predictions} == {"r1", "r4", "r5"}
    assert record.metrics.accuracy == 1.0  # the empty cells are not scored as wrong answers


def test_a_text_column_with_every_cell_empty_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in (("", "a"), (None, "b"), (" ", "a"))))
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    assert str(info.value) == (
        "Dataset 'blank' has an empty text cell in every row of column 'text'; "
        "fill the column in or name the text column with --text-column."
    )
    write_png(tmp_path / "p.png")
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps({"caption": "", "image": "p.png", "label": lab}) + "\n" for lab in "ab"))
    with pytest.raises(DatasetError, match="or pass --text-column '' to use the images alone.$"):
        load_dataset(str(posts))
    assert load_dataset(str(posts), DatasetOptions(text_column="")).modality == "image"


def test_empty_text_files_in_a_class_folder(tmp_path: Path) -> None:
    root = text_folder(tmp_path / "news")
    (root / "tech" / "1.txt").write_text("  \n")
    ds = load_dataset(str(root))
    assert [it.id for it in ds.items if it.unreadable] == ["tech/1.txt"]
    with pytest.raises(ItemError, match="text file is empty"):
        next(it for it in ds.items if it.id == "tech/1.txt").image()
    for txt in root.rglob("*.txt"):
        txt.write_text("")
    clear_cache()
    with pytest.raises(DatasetError, match="has only empty .txt files; write the texts in them.$"):
        load_dataset(str(root))


def test_exemplars_are_never_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    rows = [f"r{i},{'' if i % 4 == 0 else f'text {i}'},{'ab'[i % 2]}" for i in range(12)]
    path.write_text("id,text,label\n" + "\n".join(rows) + "\n")
    for seed in range(5):
        _, exemplars = with_exemplars(str(path), DatasetOptions(seed=seed), k_shot=2)
        assert exemplars and all(e.unreadable is None and e.text for e in exemplars)


# -- 3. high-bit-depth images --------------------------------------------------------------


def save_array(path: Path, pixels: Any) -> Path:
    from PIL import Image

    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_12_bit_image_in_16_bits_spans_the_8_bit_range(tmp_path: Path, suffix: str) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.tile(np.linspace(0, 4095, 64).round().astype(np.uint16), (8, 1))
    for cls in ("a", "b"):
        (tmp_path / "scans" / cls).mkdir(parents=True)
        save_array(tmp_path / "scans" / cls / f"0{suffix}", pixels)
    assert Image.open(tmp_path / "scans" / "a" / f"0{suffix}").mode == "I;16"
    image = load_dataset(str(tmp_path / "scans")).items[0].image()
    assert image is not None and image.mode == "RGB"
    rgb = np.asarray(image)
    assert rgb.min() <= 5 and rgb.max() >= 250 and 100 <= rgb.mean() <= 155  # not clipped to white
    assert (np.diff(rgb[0, :, 0].astype(int)) >= 0).all()  # the gradient survives


def test_other_high_bit_modes_are_rescaled_too(tmp_path: Path) -> None:
    import numpy as np

    from pytest_vlmbench.datasets.images import open_rgb

    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (4, 1))
    full = save_array(tmp_path / "full.png", (ramp * 65535).round().astype(np.uint16))
    floats = save_array(tmp_path / "f.tif", ramp)
    signed = save_array(tmp_path / "i.tif", ((ramp - 0.5) * 2000).round().astype(np.int32))
    dark = save_array(tmp_path / "dark.png", (ramp * 60).round().astype(np.uint16))  # 8-bit data in 16 bits
    for path, lo, hi in ((full, 0, 255), (floats, 0, 255), (signed, 0, 255), (dark, 0, 60)):
        rgb = np.asarray(open_rgb(path))
        assert (rgb.min(), rgb.max()) == (lo, hi), path.name
    black = save_array(tmp_path / "black.png", np.zeros((4, 4), dtype=np.uint16))
    assert np.asarray(open_rgb(black)).max() == 0


# -- 4. at least two classes -----------------------------------------------------------------


def test_one_class_is_refused_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        Dataset("x", ("a",), [Item(id="0", label="a", text="t")], modality="text")
    assert str(info.value) == "Dataset 'x' has only one class ('a'); a classification needs at least two, so add items of another class."
    path = tmp_path / "single.csv"
    path.write_text("text,label\nx,a\ny,a\n")
    with pytest.raises(DatasetError, match="^Dataset 'single' has only one class \\('a'\\)"):
        load_dataset(str(path))
    write_png(tmp_path / "one" / "cat" / "0.png")
    with pytest.raises(DatasetError, match="only one class \\('cat'\\)"):
        load_dataset(str(tmp_path / "one"))


def test_several_declared_classes_with_items_of_one_are_legal(tmp_path: Path) -> None:
    ds = Dataset("x", ("a", "b"), [Item(id="0", label="a", text="t")], modality="text")
    assert ds.classes == ("a", "b")


# -- 5. --label-map mismatches ------------------------------------------------------------------


def test_label_map_to_a_missing_class_names_it_and_lists_the_classes() -> None:
    classes = ("business", "sports", "tech")
    with pytest.raises(LabelMismatch) as info:
        map_labels({0: "LABEL_0", 1: "LABEL_1"}, classes, {"LABEL_0": "nosuchclass", "LABEL_1": "tech"}, "head")
    assert isinstance(info.value, ModelInputError)
    assert str(info.value) == (
        "--label-map targets ['nosuchclass'] are not classes of the dataset, whose classes are "
        "'business', 'sports', 'tech'; map LABEL_0 to one of those."
    )
    with pytest.raises(ModelInputError) as unknown:
        map_labels({0: "LABEL_0", 1: "LABEL_1"}, classes, {"LABEL_9": "tech"}, "head")
    assert str(unknown.value) == "--label-map LABEL_9=tech maps 'LABEL_9', which is not a label of head; its labels are 'LABEL_0', 'LABEL_1'."
    for exc in (info.value, unknown.value):
        assert one_sentence(str(exc))


def test_a_label_mismatch_reaches_the_session_as_a_model_input_error() -> None:
    """evaluate() lets it through (the channel does not know it): run_case turns it into the item's one-line failure."""

    class Head(Reader):
        def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
            map_labels({0: "LABEL_0"}, classes, {"LABEL_0": "nosuchclass"}, self.name)
            return super().classify(requests, classes)

    items = [Item(id=str(i), label="ab"[i % 2], text="x") for i in range(4)]
    with pytest.raises(ModelInputError, match="'nosuchclass'"):
        evaluate(Head(), Dataset("toy", ("a", "b"), items, modality="text"), "direct", EvalConfig())


# -- 6. broken table files ----------------------------------------------------------------------


def test_a_truncated_parquet_file_is_one_sentence(tmp_path: Path) -> None:
    whole = text_parquet(tmp_path / "whole.parquet").read_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    assert str(info.value) == (
        f"Dataset 'cut': {path} ({len(whole) // 2} bytes) is not a readable Parquet file "
        f"(Parquet magic bytes not found in footer); write the file again, for example with DataFrame.to_parquet."
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", "text,label\nhello,a\nworld,b\nbad,row,c\nok,a\n",
         "line 4 has 3 fields where the header has 2; quote every cell that holds the delimiter or a line break, or fix that row."),
        ("ragged.tsv", "text\tlabel\nhello\ta\n\nbad\trow\tc\n",
         "line 4 has 3 fields where the header has 2; quote every cell"),
        ("broken.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", "label" "x"}\n',
         "line 3 is not valid JSON (Expecting ':' delimiter at column 23); give one JSON object per line, or fix that line."),
        ("list.jsonl", '{"text": "a", "label": "x"}\n["b", "y"]\n',
         "line 2 is a JSON list, not an object with one field per column; give one JSON object per line"),
        ("array.json", '[{"text": "a", "label": "x"},\n {"text": "b" "label": "y"}]\n',
         "line 2 is not valid JSON (Expecting ',' delimiter at column 15)"),
    ],
)  # fmt: skip
def test_a_broken_text_table_names_its_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    text = str(info.value)
    assert text.startswith(f"Dataset '{path.stem}': in {path}, ") and message in text and one_sentence(text), text


def test_a_table_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nok,a\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    assert str(info.value) == f"Dataset 'latin': in {path}, line 3 is not UTF-8 (byte 0xe9 at column 4); save the file as UTF-8."


def test_a_corrupt_save_to_disk_folder_is_one_sentence(tmp_path: Path) -> None:
    path = saved_text_dict(tmp_path / "saved")
    for arrow in path.rglob("*.arrow"):
        arrow.write_bytes(b"not arrow")
    with pytest.raises(DatasetError) as info:
        load_dataset(str(path))
    text = str(info.value)
    assert text.startswith(f"Dataset 'saved' at {path} could not be read as a save_to_disk folder (")
    assert text.endswith("; save it again with Dataset.save_to_disk or DatasetDict.save_to_disk.") and "\n" not in text


def test_registered_loaders_cannot_bring_one_class_either() -> None:
    DATASETS.register("fault-one-class", lambda: Dataset("solo", ("a",), [Item(id="0", label="a", text="t")]), replace=True)
    try:
        with pytest.raises(DatasetError, match="only one class"):
            load_dataset("fault-one-class")
    finally:
        DATASETS.unregister("fault-one-class")
