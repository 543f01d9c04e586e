"""Registry entries for the hub datasets of the benchmarks this project follows.

Each is a :class:`HubDataset`: a hub id plus what the generic loader cannot guess (the
label column when there are several, columns that must not be read as inputs, class
names fit for a prompt, the background class, the split evaluated by default). Loading
goes through ``datasets`` and its cache; with no network and no cache it fails with one
sentence saying how to use a local copy.

LIAR is the exception: its hub repo is a loading script, which ``datasets`` no longer
runs, so :func:`load_liar` reads the authors' archive (the file that script downloaded).
"""

from __future__ import annotations

import csv
import io
import os
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .base import Dataset, DatasetError, Modality
from .class_names import FASHION_MNIST_CLASSES
from ..hub import datasets_offline
from .columns import Columns
from .hf import Reading, from_hf_dataset, is_saved_dataset, load_hub, load_saved
from .fingerprint import file_sha256


@dataclass(frozen=True)
class HubDataset:
    """A hub dataset with its loading details; calling it loads one split."""

    name: str
    repo_id: str
    modality: Modality
    config: str | None = None
    split: str = "test"
    """The split evaluated when ``--split`` is not given."""
    exemplar_split: str = "train"
    """Where k-shot exemplars come from: never the evaluated split."""
    columns: Columns = Columns()
    classes: tuple[str, ...] | None = None
    """Class names replacing the hub's (by position for integer labels)."""
    rename_class: Callable[[str], str] | None = field(default=None, compare=False)
    background_class: str | None = None
    description: str = ""

    def local_copy(self) -> Path:
        """Where a ``save_to_disk`` copy is picked up instead of the hub: ``$VLMBENCH_DATA_DIR/<name>``."""
        return data_dir() / self.name

    def __call__(self, *, split: str | None = None, columns: Columns = Columns()) -> Dataset:
        reading = Reading(
            columns=self.columns.merged(columns), classes=self.classes, rename_class=self.rename_class,
            background_class=self.background_class,
        )  # fmt: skip
        local = self.local_copy()
        if is_saved_dataset(local):
            # A saved DatasetDict gets this entry's default split; a single saved split is itself.
            default = self.split if (local / "dataset_dict.json").is_file() else None
            return load_saved(local, replace(reading, split=split or default), name=self.name)
        return load_hub(
            self.repo_id,
            replace(reading, split=split or self.split),
            name=self.name,
            config=self.config,
            local_copy=f"either move it to {local} (keeps --dataset {self.name}) or pass --dataset DIR{self.flags()}",
        )

    def flags(self) -> str:
        """The column options that make a bare copy load like this entry."""
        given = (("--label-column", self.columns.label), ("--image-column", self.columns.image), ("--text-column", self.columns.text))
        out = "".join(f" {flag} {value}" for flag, value in given if value)
        return out + (f" --background-class {self.background_class}" if self.background_class else "")


def _caltech_name(raw: str) -> str:
    # Classes taken over from Caltech-101 carry a "-101" suffix ("airplanes-101").
    return raw.removesuffix("-101")


def _underscores(raw: str) -> str:
    return raw.replace("_", " ")


caltech256 = HubDataset(
    name="caltech256",
    repo_id="ilee0022/Caltech-256",
    modality="image",
    # "text" holds the class name (e.g. "wine-bottle"), "label" its number 1..257.
    columns=Columns(label="text", image="image", text=""),
    rename_class=_caltech_name,
    background_class="clutter",
    description="Caltech-256: 256 object classes plus clutter (background); train/validation/test.",
)
cifar10 = HubDataset(
    name="cifar10",
    repo_id="uoft-cs/cifar10",
    modality="image",
    columns=Columns(label="label", image="img", text=""),
    description="CIFAR-10: 32x32 images, 10 classes; train/test.",
)
cifar100 = HubDataset(
    name="cifar100",
    repo_id="uoft-cs/cifar100",
    modality="image",
    columns=Columns(label="fine_label", image="img", text=""),
    rename_class=_underscores,
    description="CIFAR-100: 32x32 images, 100 fine classes (underscores shown as spaces); train/test.",
)
ag_news = HubDataset(
    name="ag_news",
    repo_id="fancyzhx/ag_news",
    modality="text",
    columns=Columns(label="label", text="text", image=""),
    description="AG News: news titles and descriptions, 4 topics; train/test.",
)
sst2 = HubDataset(
    name="sst2",
    repo_id="stanfordnlp/sst2",
    modality="text",
    split="validation",  # the test split's labels are hidden (-1)
    columns=Columns(label="label", text="sentence", image=""),
    description="SST-2: movie-review sentences, negative/positive; train/validation.",
)
imdb = HubDataset(
    name="imdb",
    repo_id="stanfordnlp/imdb",
    modality="text",
    columns=Columns(label="label", text="text", image=""),
    classes=("negative", "positive"),  # the hub names them "neg" and "pos"
    description="IMDB: 50k movie reviews, negative/positive; train/test.",
)
fashion_mnist_hub = HubDataset(
    name="fashion_mnist",
    repo_id="zalando-datasets/fashion_mnist",
    modality="image",
    columns=Columns(label="label", image="image", text=""),
    # The Debian package's names, so results compare whichever source was used.
    classes=FASHION_MNIST_CLASSES,
    description="Fashion-MNIST from the hub (used when the Debian package is absent).",
)

LIAR_URL = "https://www.cs.ucsb.edu/~william/data/liar_dataset.zip"
LIAR_ARCHIVE = "liar_dataset.zip"
LIAR_FILES = {"train": "train.tsv", "validation": "valid.tsv", "test": "test.tsv"}
LIAR_CLASSES = ("pants-fire", "false", "barely-true", "half-true", "mostly-true", "true")
"""From least to most truthful: the PolitiFact scale."""
LIAR_COLUMNS = (
    "id", "label", "statement", "subject", "speaker", "job_title", "state_info", "party_affiliation",
    "barely_true_counts", "false_counts", "half_true_counts", "mostly_true_counts", "pants_on_fire_counts", "context",
)  # fmt: skip


def data_dir() -> Path:
    """Where downloaded archives are kept: ``$VLMBENCH_DATA_DIR`` or ``~/.cache/pytest_vlmbench``."""
    return Path(os.environ.get("VLMBENCH_DATA_DIR") or Path.home() / ".cache" / "pytest_vlmbench")


def _fetch_liar(target: Path) -> None:
    hint = f"download {LIAR_URL} into {target.parent} (or set VLMBENCH_DATA_DIR to the folder holding {LIAR_ARCHIVE})"
    if datasets_offline():
        raise DatasetError(f"Dataset 'liar' is not at {target} and the network is off (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE); {hint}.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        with urllib.request.urlopen(LIAR_URL, timeout=60) as response, open(partial, "wb") as out:
            out.write(response.read())
        partial.replace(target)
    except OSError as exc:
        raise DatasetError(f"Dataset 'liar' could not be downloaded ({exc}); {hint}.") from None


def load_liar(*, split: str | None = None, columns: Columns = Columns()) -> Dataset:
    """LIAR (Wang, 2017): 12.8k PolitiFact statements rated on a six-point truthfulness scale."""
    import datasets

    split = split or "test"
    if split not in LIAR_FILES:
        raise DatasetError(f"Dataset 'liar' has no split {split!r}; its splits are {list(LIAR_FILES)}.")
    archive = data_dir() / LIAR_ARCHIVE
    if not archive.is_file():
        _fetch_liar(archive)
    with zipfile.ZipFile(archive) as zf:
        member = next((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == LIAR_FILES[split]), None)
        if member is None:
            raise DatasetError(f"{archive} has no {LIAR_FILES[split]}; delete it to download the archive again.")
        text = zf.read(member).decode("utf-8", errors="replace")
    # The authors' files are unquoted TSV: a quote character is part of the statement.
    rows = [r for r in csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) >= 3]
    table = {c: [r[i] if i < len(r) else "" for r in rows] for i, c in enumerate(LIAR_COLUMNS)}
    return from_hf_dataset(
        datasets.Dataset.from_dict(table),
        Reading(split=split, columns=Columns(label="label", text="statement", image="").merged(columns), classes=LIAR_CLASSES),
        name="liar",
        source=LIAR_URL,
        provenance={"split": split, "files_sha256": file_sha256(archive), "files_hashed": "content"},
    )


HUB_DATASETS = (caltech256, cifar10, cifar100, ag_news, sst2, imdb)
