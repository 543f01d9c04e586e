"""Local loaders on tiny data generated per test: class folders, CSV, TSV, JSONL, Parquet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_vlmbench.datasets.base import DatasetError, ItemError
from pytest_vlmbench.datasets.resolve import DatasetOptions, clear_cache, load_dataset
from pytest_vlmbench.datasets.fingerprint import fingerprint

if TYPE_CHECKING:
    from PIL import Image


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    # CSV/JSON/Parquet builders write an Arrow cache: keep it in the test's folder.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    clear_cache()


def write_png(path: Path, color: tuple[int, int, int] = (200, 10, 10), mode: str = "RGB") -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (6, 5), color if mode == "RGB" else 128).save(path)
    return path


def make_folder(root: Path, per_class: dict[str, int]) -> Path:
    for cls, n in per_class.items():
        for i in range(n):
            write_png(root / cls / f"{i:03d}.png", (i * 20 % 256, len(cls) * 10, 5))
    return root


def test_image_folder_classes_ids_and_round_robin_order(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pets", {"cat": 3, "dog": 2, "bird": 1})
    (root / "cat" / "notes.txt").write_text("not an image")  # ignored: an image folder
    ds = load_dataset(str(root))
    assert ds.classes == ("bird", "cat", "dog")
    assert ds.modality == "image"
    assert [it.id for it in ds.items] == ["bird/000.png", "cat/000.png", "dog/000.png", "cat/001.png", "dog/001.png", "cat/002.png"]
    assert [it.label for it in ds.items][:3] == ["bird", "cat", "dog"]  # --limit 3 covers every class
    image = ds.items[0].image()
    assert image is not None and image.mode == "RGB" and image.size == (6, 5)
    assert ds.provenance["split"] is None and len(ds.provenance["files_sha256"]) == 64


def test_image_folder_converts_to_rgb(tmp_path: Path) -> None:
    write_png(tmp_path / "grey" / "a" / "0.png", mode="L")
    write_png(tmp_path / "grey" / "b" / "0.png", mode="L")
    image = load_dataset(str(tmp_path / "grey")).items[0].image()
    assert image is not None and image.mode == "RGB"


def test_image_folder_with_split_folders(tmp_path: Path) -> None:
    make_folder(tmp_path / "d" / "train", {"a": 3, "b": 3})
    make_folder(tmp_path / "d" / "test", {"a": 1, "b": 1})
    test = load_dataset(str(tmp_path / "d"))
    assert test.provenance["split"] == "test" and len(test) == 2
    assert test.items[0].id == "test/a/000.png"
    train = load_dataset(str(tmp_path / "d"), DatasetOptions(split="train"))
    assert len(train) == 6 and train.provenance["split"] == "train"
    with pytest.raises(DatasetError, match=r"has no split 'dev'; its splits are \['test', 'train'\]"):
        load_dataset(str(tmp_path / "d"), DatasetOptions(split="dev"))


def test_images_are_decoded_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_vlmbench.datasets import images

    root = make_folder(tmp_path / "many", {"a": 20, "b": 20})
    calls: list[str | Path | bytes] = []
    real = images.open_rgb

    def counting(src: str | Path | bytes) -> Image.Image:
        calls.append(src)
        return real(src)

    monkeypatch.setattr(images, "open_rgb", counting)
    ds = load_dataset(str(root))
    assert len(ds) == 40 and calls == []
    ds.items[5].image()
    assert len(calls) == 1


def test_corrupt_and_missing_images_raise_item_errors_naming_the_file(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "bad", {"a": 1, "b": 1})
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    truncated = root / "b" / "cut.png"
    truncated.write_bytes(write_png(tmp_path / "full.png").read_bytes()[:40])
    ds = load_dataset(str(root))
    by_id = {it.id: it for it in ds.items}
    for item_id in ("a/broken.png", "b/cut.png"):
        with pytest.raises(ItemError) as info:
            by_id[item_id].image()
        assert info.value.item_id == item_id
    (root / "a" / "000.png").unlink()
    with pytest.raises(ItemError, match="000.png"):
        by_id["a/000.png"].image()


def test_text_folder(tmp_path: Path) -> None:
    for cls, texts in {"sport": ["Goal!", "A race."], "tech": ["New chip."]}.items():
        for i, text in enumerate(texts):
            (tmp_path / "news" / cls).mkdir(parents=True, exist_ok=True)
            (tmp_path / "news" / cls / f"{i}.txt").write_text(text)
    (tmp_path / "news" / "tech" / "1.txt").write_bytes("Caf\xe9 news".encode("latin-1"))
    ds = load_dataset(str(tmp_path / "news"))
    assert ds.modality == "text" and ds.classes == ("sport", "tech")
    assert [(it.label, it.text) for it in ds.items] == [
        ("sport", "Goal!"), ("tech", "New chip."), ("sport", "A race."), ("tech", "Café news"),
    ]  # fmt: skip


def test_csv_text_with_detected_columns(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("id,review,label\nr1,great film,pos\nr2,dull,neg\nr3,loved it,pos\n")
    ds = load_dataset(str(path))
    assert ds.name == "reviews" and ds.modality == "text"
    assert ds.classes == ("neg", "pos")
    assert [(it.id, it.text, it.label) for it in ds.items] == [
        ("r1", "great film", "pos"), ("r2", "dull", "neg"), ("r3", "loved it", "pos"),
    ]  # fmt: skip
    assert ds.provenance["columns"] == {"label": "label", "text": "review", "image": None}


def test_csv_named_columns_and_image_paths_give_image_text_items(tmp_path: Path) -> None:
    write_png(tmp_path / "imgs" / "p1.png")
    write_png(tmp_path / "imgs" / "p2.png", (0, 0, 255))
    path = tmp_path / "posts.csv"
    path.write_text("post,pic,verdict\nMoon landing faked,imgs/p1.png,fake\nRain tomorrow,imgs/p2.png,real\n")
    opts = DatasetOptions(text_column="post", image_column="pic", label_column="verdict")
    ds = load_dataset(str(path), opts)
    assert ds.modality == "image+text" and ds.classes == ("fake", "real")
    assert ds.items[0].text == "Moon landing faked"
    image = ds.items[1].image()
    assert image is not None and image.getpixel((0, 0)) == (0, 0, 255)


def test_image_text_items_carry_both_into_the_prompt(tmp_path: Path) -> None:
    from pytest_vlmbench.strategies.prompts import CLOSED_SET_TEMPLATE, build_prompt

    write_png(tmp_path / "p.png")
    (tmp_path / "posts.jsonl").write_text(json.dumps({"text": "Sharks in the mall", "image": "p.png", "label": "fake"}) + "\n"
                                          + json.dumps({"text": "Sunny", "image": "p.png", "label": "real"}) + "\n")  # fmt: skip
    item = load_dataset(str(tmp_path / "posts.jsonl")).items[0]
    prompt = build_prompt(CLOSED_SET_TEMPLATE, item, (), classes="fake, real")
    assert prompt.startswith("Text: Sharks in the mall\n") and item.image() is not None


def test_tsv_and_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\na, b\t10\nc\t2\nd\t10\n")
    ds = load_dataset(str(path))
    assert ds.classes == ("2", "10")  # numeric order, not "10" < "2"
    assert ds.items[0].text == "a, b"


def test_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "claims.jsonl"
    rows = [{"statement": "The sky is green", "rating": "false"}, {"statement": "Water is wet", "rating": "true"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(str(path), DatasetOptions(label_column="rating"))
    assert [(it.text, it.label) for it in ds.items] == [("The sky is green", "false"), ("Water is wet", "true")]


def test_parquet_keeps_class_label_names(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos", "neutral"])})
    datasets.Dataset.from_dict({"text": ["bad", "good"], "label": [0, 1]}, features=features).to_parquet(tmp_path / "s.parquet")
    ds = load_dataset(str(tmp_path / "s.parquet"))
    assert ds.classes == ("neg", "pos", "neutral")  # from the ClassLabel, unused "neutral" included
    assert [it.label for it in ds.items] == ["neg", "pos"]


def test_file_fingerprint_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("text,label\nx,a\ny,b\n")
    first = fingerprint(load_dataset(str(path)))
    again = fingerprint(load_dataset(str(path)))
    assert first["sha256"] == again["sha256"] and first["files_sha256"] == again["files_sha256"]
    path.write_text("text,label\nx,a\nz,b\n")  # same ids and labels, different text
    clear_cache()
    changed = fingerprint(load_dataset(str(path)))
    assert changed["items_sha256"] == first["items_sha256"] and changed["sha256"] != first["sha256"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\n", "has no items"),
        ("text,kind\nx,a\n", "no label column among \\['text', 'kind'\\]; name it with --label-column"),
        ("a,b,label\n1,2,x\n3,4,y\n", "no text or image column"),
    ],
)
def test_table_errors_are_one_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(str(path))
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")


def test_named_column_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\nx,a\n")
    with pytest.raises(DatasetError, match=r"no column 'body' \(--text-column\); its columns are \['text', 'label'\]"):
        load_dataset(str(path), DatasetOptions(text_column="body"))


def test_duplicate_class_folders_are_rejected(tmp_path: Path) -> None:
    make_folder(tmp_path / "dup", {"Cat": 1, "cat": 1})
    with pytest.raises(DatasetError, match="lists the class 'cat' twice"):
        load_dataset(str(tmp_path / "dup"))


def test_empty_folder_and_unknown_file_type(tmp_path: Path) -> None:
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir(parents=True)
    with pytest.raises(DatasetError, match="has no items"):
        load_dataset(str(tmp_path / "empty"))
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DatasetError, match="neither a folder nor"):
        load_dataset(str(tmp_path / "x.xlsx"))


def test_single_file_has_no_splits(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\nx,a\n")
    with pytest.raises(DatasetError, match="single file without splits; drop --split train"):
        load_dataset(str(path), DatasetOptions(split="train"))


def test_a_dataset_registered_again_is_not_served_from_the_cache() -> None:
    from pytest_vlmbench.datasets.catalog import DATASETS
    from pytest_vlmbench.datasets.base import Dataset, Item

    def make(label_text: str) -> Callable[[], Dataset]:
        return lambda: Dataset("reg", ("a", "b"), [Item(id="0", label="a", text=label_text), Item(id="1", label="b", text="x")], modality="text")

    DATASETS.register("reg-again", make("first"), modality="text", replace=True)
    try:
        assert load_dataset("reg-again").items[0].text == "first"
        assert load_dataset("reg-again").items[0].text == "first"  # cached
        DATASETS.register("reg-again", make("second"), modality="text", replace=True)
        assert load_dataset("reg-again").items[0].text == "second"
    finally:
        DATASETS.unregister("reg-again")
