"""Hugging Face loaders: in-memory ClassLabel datasets, save_to_disk folders, hub ids offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_vlmbench.datasets.base import DatasetError
from pytest_vlmbench.datasets.resolve import DatasetOptions, clear_cache, load_dataset
from pytest_vlmbench.datasets.catalog import HubSpec, canonical_spec, parse_hub_spec
from pytest_vlmbench.datasets.columns import Columns
from pytest_vlmbench.datasets.hf import Reading, from_hf_dataset
from pytest_vlmbench.registry import UnknownNameError

if TYPE_CHECKING:
    import datasets
    from PIL import Image

SHAPES = ["circle", "square", "triangle"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMBENCH_DATA_DIR", str(tmp_path / "data"))
    clear_cache()


def image_dataset(n: int = 6) -> datasets.Dataset:
    import datasets
    from PIL import Image

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=SHAPES)})
    images = [Image.new("L", (4, 4), 40 * i) for i in range(n)]  # greyscale: must come out RGB
    return datasets.Dataset.from_dict({"image": images, "label": [i % 3 for i in range(n)]}, features=features)


def test_in_memory_class_label_dataset() -> None:
    ds = from_hf_dataset(image_dataset(), Reading(split="test"), name="shapes", source="memory")
    assert ds.classes == tuple(SHAPES) and ds.modality == "image"
    assert [it.label for it in ds.items[:4]] == ["circle", "square", "triangle", "circle"]
    assert [it.id for it in ds.items[:2]] == ["test/0", "test/1"]
    image = ds.items[3].image()
    assert image is not None and image.mode == "RGB" and image.getpixel((0, 0)) == (120, 120, 120)
    assert ds.provenance["hf_fingerprint"]


def test_in_memory_images_decode_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_vlmbench.datasets import hf, images

    calls: list[str | Path | bytes] = []

    def counting(src: str | Path | bytes) -> Image.Image:
        calls.append(src)
        return images.open_rgb(src)

    monkeypatch.setattr(hf, "open_rgb", counting)
    ds = from_hf_dataset(image_dataset(30), name="shapes", source="memory")
    assert calls == []
    ds.items[29].image()
    assert len(calls) == 1


def test_class_label_out_of_range_is_one_sentence() -> None:
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    hidden = datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": [1, -1]}, features=features)
    with pytest.raises(DatasetError, match=r"Row 1 of Dataset 'sst' split 'test' has label -1, outside its 2 classes"):
        from_hf_dataset(hidden, Reading(split="test"), name="sst", source="memory")


def test_label_outside_explicit_class_list() -> None:
    import datasets

    table = datasets.Dataset.from_dict({"text": ["a", "b"], "label": ["true", "maybe"]})
    with pytest.raises(DatasetError, match=r"has label 'maybe', which is not one of its classes \['true', 'false'\]"):
        from_hf_dataset(table, Reading(classes=("true", "false")), name="claims", source="memory")


def test_corrupt_image_bytes_are_an_item_error() -> None:
    import datasets

    from pytest_vlmbench.datasets.base import ItemError

    features = datasets.Features({"image": datasets.Image(decode=False), "label": datasets.ClassLabel(names=["a", "b"])})
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": b"garbage", "path": None}, {"bytes": None, "path": "/nowhere/x.png"}], "label": [0, 1]},
        features=features,
    ).cast_column("image", datasets.Image())
    ds = from_hf_dataset(table, name="bad", source="memory")
    for item in ds.items:
        with pytest.raises(ItemError):
            item.image()


def test_save_to_disk_dataset_dict_and_single(tmp_path: Path) -> None:
    import datasets

    dd = datasets.DatasetDict({"train": image_dataset(6), "test": image_dataset(3)})
    dd.save_to_disk(tmp_path / "dd")
    test = load_dataset(str(tmp_path / "dd"))
    assert test.provenance["split"] == "test" and len(test) == 3 and test.classes == tuple(SHAPES)
    assert test.source.startswith("save_to_disk:") and test.provenance["hf_fingerprint"]
    train = load_dataset(str(tmp_path / "dd"), DatasetOptions(split="train"))
    assert len(train) == 6 and train.items[0].id == "train/0"
    image = train.items[5].image()
    assert image is not None and image.mode == "RGB"

    image_dataset(4).save_to_disk(tmp_path / "single")
    single = load_dataset(str(tmp_path / "single"))
    assert len(single) == 4 and single.items[0].id == "0"
    with pytest.raises(DatasetError, match="single split; drop --split train"):
        load_dataset(str(tmp_path / "single"), DatasetOptions(split="train"))


def test_save_to_disk_text_and_image_columns(tmp_path: Path) -> None:
    import datasets
    from PIL import Image

    features = datasets.Features(
        {"caption": datasets.Value("string"), "photo": datasets.Image(), "label": datasets.ClassLabel(names=["real", "fake"])}
    )
    datasets.Dataset.from_dict(
        {"caption": ["storm", "aliens"], "photo": [Image.new("RGB", (3, 3))] * 2, "label": [0, 1]}, features=features
    ).save_to_disk(tmp_path / "posts")
    ds = load_dataset(str(tmp_path / "posts"))
    assert ds.modality == "image+text" and ds.items[1].text == "aliens" and ds.items[1].image() is not None


@pytest.mark.parametrize("name", ["caltech256", "cifar10", "cifar100", "ag_news", "sst2", "imdb"])
def test_hub_registry_entries_fail_offline_in_one_sentence(name: str) -> None:
    from pytest_vlmbench.datasets.catalog import DATASETS
    from pytest_vlmbench.datasets.hub_catalog import HubDataset

    target = DATASETS.get(name).load()
    assert isinstance(target, HubDataset)
    with pytest.raises(DatasetError) as info:
        load_dataset(name)
    message = str(info.value)
    assert message.startswith(f"Dataset {name!r} (Hugging Face {target.repo_id!r}) is not cached")
    assert "--dataset DIR" in message and f"keeps --dataset {name}" in message
    assert message.endswith(".") and "\n" not in message


def test_raw_hub_id_fails_offline_in_one_sentence() -> None:
    with pytest.raises(DatasetError, match=r"^Dataset 'someone/data:cfg@test' \(Hugging Face 'someone/data'\) is not cached.*pass --dataset DIR\.$"):
        load_dataset("someone/data:cfg@test")


def test_liar_fails_offline_in_one_sentence() -> None:
    with pytest.raises(DatasetError, match=r"^Dataset 'liar' is not at .*liar_dataset.zip and the network is off.*VLMBENCH_DATA_DIR"):
        load_dataset("liar")


def test_registry_entry_uses_a_saved_local_copy(tmp_path: Path) -> None:
    """caltech256 from a save_to_disk copy in $VLMBENCH_DATA_DIR: columns, names, background as on the hub."""
    import datasets
    from PIL import Image

    names = ["ak47", "airplanes-101", "clutter"]
    table = datasets.Dataset.from_dict(
        {"image": [Image.new("RGB", (4, 4))] * 6, "label": [1, 251, 257] * 2, "text": names * 2},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64"), "text": datasets.Value("string")}),
    )
    datasets.DatasetDict({"train": table, "test": table}).save_to_disk(tmp_path / "data" / "caltech256")
    ds = load_dataset("caltech256")
    assert ds.classes == ("airplanes", "ak47", "clutter") and ds.background_class == "clutter"
    assert ds.modality == "image" and all(it.text is None for it in ds.items)  # "text" is the class name
    assert ds.provenance["split"] == "test"
    sub = load_dataset("caltech256", DatasetOptions(num_classes=2, seed=3))
    assert "clutter" in sub.classes and len(sub.classes) == 2


def test_hub_spec_parsing() -> None:
    assert parse_hub_spec("nyu-mll/glue:sst2@validation") == HubSpec("nyu-mll/glue", "sst2", "validation")
    assert parse_hub_spec("uoft-cs/cifar10") == HubSpec("uoft-cs/cifar10")
    assert parse_hub_spec("hf:imdb@test") == HubSpec("imdb", None, "test")
    assert parse_hub_spec("imdb") is None  # a bare word is a registry name, never a hub id
    assert parse_hub_spec("a/b/c") is None


def test_canonical_spec(tmp_path: Path) -> None:
    assert canonical_spec("Fashion_MNIST") == "fashion_mnist"
    assert canonical_spec(str(tmp_path)) == str(tmp_path)
    assert canonical_spec("owner/name") == "owner/name"
    with pytest.raises(UnknownNameError, match="Did you mean 'cifar10'"):
        canonical_spec("cifar1O")
    with pytest.raises(UnknownNameError, match="No file or folder at './missing.csv'"):
        canonical_spec("./missing.csv")


def test_columns_merge() -> None:
    merged = Columns(label="fine_label", image="img", text="").merged(Columns(text="caption"))
    assert merged == Columns(label="fine_label", image="img", text="caption")


def test_spec_helpers_for_the_plugin(tmp_path: Path) -> None:
    from pytest_vlmbench.datasets.catalog import case_label, spec_is_offline, spec_modality

    assert spec_modality("bbc_news") == "text" and spec_modality("caltech256") == "image"
    assert spec_modality("owner/name") is None and spec_modality(str(tmp_path)) is None
    assert spec_is_offline("digits") and spec_is_offline(str(tmp_path))
    assert not spec_is_offline("cifar10") and not spec_is_offline("owner/name")
    assert case_label("caltech256") == "caltech256" and case_label("caltech256", 21) == "caltech256-21cls"
