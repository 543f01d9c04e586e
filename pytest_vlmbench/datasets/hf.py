"""Hugging Face ``datasets``: hub ids, ``save_to_disk`` folders and in-memory datasets.

The ``datasets.Dataset`` is kept (memory-mapped Arrow) and each item's image loader indexes
it, so images are decoded one at a time when a batch needs them, never all at load time.
Labels and texts are read column-wise at load time: they are small, and every loader,
metric and subset needs them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Dataset, DatasetError, Item
from ..hub import datasets_offline
from .columns import Columns, Resolved, resolve_columns
from .fingerprint import listing_sha256
from .images import open_rgb

if TYPE_CHECKING:
    import datasets
    from PIL import Image

SPLIT_PREFERENCE = ("test", "validation", "valid", "val", "dev", "train")
"""Which split is evaluated when none is named: held-out data first."""


def default_split(available: Sequence[str], where: str) -> str:
    for name in SPLIT_PREFERENCE:
        if name in available:
            return name
    if len(available) == 1:
        return available[0]
    raise DatasetError(f"{where} has splits {list(available)}; choose one with --split.")


@dataclass(frozen=True)
class Reading:
    """How a Hugging Face table is read as a :class:`Dataset`, wherever it comes from (the hub, a
    ``save_to_disk`` folder, a table in memory): which split, which columns, which classes."""

    split: str | None = None
    """The split to read; ``None``: the loader's choice (:func:`default_split`), or no split at all."""
    columns: Columns = Columns()
    classes: tuple[str, ...] | None = None
    """Fixes the class list (an integer label indexes it, a string label must be in it); ``None``:
    the names of a ``ClassLabel`` feature, else the sorted distinct label values."""
    rename_class: Callable[[str], str] | None = field(default=None, compare=False)
    """Maps raw class names to the names the model sees."""
    background_class: str | None = None


def from_hf_dataset(
    ds: datasets.Dataset,
    reading: Reading = Reading(),
    *,
    name: str,
    source: str,
    base_dir: Path | None = None,
    provenance: dict[str, Any] | None = None,
) -> Dataset:
    """Wrap a ``datasets.Dataset`` as a :class:`Dataset` with lazily decoded images, read as ``reading`` says.

    ``base_dir`` resolves relative image paths of a path column.
    """
    where = f"Dataset {name!r}"
    split = reading.split
    cols = resolve_columns(dict(ds.features), reading.columns, where)
    rename = reading.rename_class or (lambda s: s)
    class_names, labels = _labels(ds, cols.label, reading.classes, rename, where, split)
    texts = _texts(ds, cols, where) if cols.text else None
    ids = _ids(ds, cols, split)
    load_images = _image_loaders(ds, cols, base_dir, len(ids)) if cols.image else None
    items = [
        Item(
            id=ids[i],
            label=labels[i],
            text=None if texts is None else texts[i],
            load_image=None if load_images is None else load_images[i],
            unreadable=None if texts is None or texts[i] is not None else empty_cell(cols.text),
        )
        for i in range(len(ids))
    ]
    modality = cols.modality
    info = dict(provenance or {})
    info.setdefault("split", split)
    info.setdefault("columns", {"label": cols.label, "text": cols.text, "image": cols.image})
    if not {"revision", "files_sha256", "hf_fingerprint"} & set(info):
        # An in-memory dataset: its fingerprint hashes the table itself.
        info["hf_fingerprint"] = getattr(ds, "_fingerprint", None)
    return Dataset(
        name=name,
        classes=tuple(class_names),
        items=items,
        modality=modality,
        background_class=reading.background_class,
        source=source,
        provenance=info,
    )


def empty_cell(column: str | None) -> str:
    """Why an item with an empty text cell is not scored (listed among the record's errors)."""
    return f"its text cell in column {column!r} is empty; fill it in or drop the row."


def _texts(ds: datasets.Dataset, cols: Resolved, where: str) -> list[str | None]:
    """The text column, ``None`` for an empty or missing cell; refused when every cell is empty."""
    assert cols.text is not None
    texts = [None if t is None or not str(t).strip() else str(t) for t in ds[cols.text]]
    if texts and all(t is None for t in texts):
        images_alone = ", or pass --text-column '' to use the images alone" if cols.image else ""
        raise DatasetError(
            f"{where} has an empty text cell in every row of column {cols.text!r}; "
            f"fill the column in or name the text column with --text-column{images_alone}."
        )
    return texts


def _labels(
    ds: datasets.Dataset,
    column: str,
    classes: Sequence[str] | None,
    rename: Callable[[str], str],
    where: str,
    split: str | None,
) -> tuple[list[str], list[str]]:
    feature = ds.features[column]
    raw = list(ds[column])
    if type(feature).__name__ == "ClassLabel" or (classes is not None and all(isinstance(v, int) for v in raw)):
        names = [rename(c) for c in (classes if classes is not None else feature.names)]
        labels = []
        for i, value in enumerate(raw):
            if value is None or not 0 <= int(value) < len(names):
                raise DatasetError(
                    f"Row {i} of {where}{f' split {split!r}' if split else ''} has label {value!r}, "
                    f"outside its {len(names)} classes (a held-out split without labels cannot be evaluated)."
                )
            labels.append(names[int(value)])
        return names, labels
    if any(v is None for v in raw):
        row = next(i for i, v in enumerate(raw) if v is None)
        raise DatasetError(f"Row {row} of {where} has no label in column {column!r}; remove it or fill it in.")
    labels = [rename(str(v).strip()) for v in raw]
    if classes is not None:
        return [rename(c) for c in classes], labels
    distinct = set(labels)
    if all(isinstance(v, int) for v in raw):
        return sorted(distinct, key=int), labels
    return sorted(distinct), labels


def _ids(ds: datasets.Dataset, cols: Resolved, split: str | None) -> list[str]:
    prefix = f"{split}/" if split else ""
    if cols.id is not None:
        values = [str(v) for v in ds[cols.id]]
        if len(set(values)) == len(values):
            return [prefix + v for v in values]
    return [f"{prefix}{i}" for i in range(len(ds))]


def _image_loaders(
    ds: datasets.Dataset, cols: Resolved, base_dir: Path | None, n: int
) -> list[Callable[[], Image.Image]]:
    assert cols.image is not None
    column = cols.image
    if not cols.image_is_feature:
        root = base_dir or Path.cwd()
        paths = [None if p is None else root / str(p) for p in ds[column]]
        return [_path_or_missing(p) for p in paths]

    from datasets import Image as ImageFeature

    # decode=False gives {"bytes", "path"} records, so we decode (and report errors)
    # ourselves, one image per call, and never touch the other columns.
    raw = ds.select_columns([column]).cast_column(column, ImageFeature(decode=False))

    def loader(index: int) -> Callable[[], Image.Image]:
        def load() -> Image.Image:
            record = raw[index][column]
            if record is None:
                raise FileNotFoundError(f"row {index} has no image")
            if record.get("bytes"):
                return open_rgb(record["bytes"])
            path = Path(record["path"])
            return open_rgb(path if path.is_absolute() or base_dir is None else base_dir / path)

        return load

    return [loader(i) for i in range(n)]


def _path_or_missing(path: Path | None) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        if path is None:
            raise FileNotFoundError("the image path is empty")
        return open_rgb(path)

    return load


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters; for ``datasets``'
    ``DatasetGenerationError`` (whose own message says nothing) its cause's."""
    inner = exc.__cause__ or exc.__context__
    if type(exc).__name__ == "DatasetGenerationError" and inner is not None:
        exc = inner
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    # pyarrow says "... not found in footer. Either the file is corrupted or ...": keep the first sentence.
    return re.split(r"\.\s+(?=[A-Z])", line, maxsplit=1)[0][:200].rstrip(". ")


def hub_failure(name: str, repo_id: str, exc: BaseException, local_copy: str | None = None) -> DatasetError:
    """One sentence for a hub load that failed, saying how to use a local copy instead.

    ``local_copy`` replaces the default advice (``--dataset DIR``) for registry entries,
    which know their own column options and local folder.
    """
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    offline = datasets_offline()
    if offline or isinstance(exc, (ConnectionError, TimeoutError)):
        why = "offline mode is on" if offline else reason
        return DatasetError(
            f"Dataset {name!r} (Hugging Face {repo_id!r}) is not cached and the hub cannot be reached ({why}); "
            f"on a machine with network run `datasets.load_dataset({repo_id!r}).save_to_disk(DIR)`, copy DIR here "
            f"and {local_copy or 'pass --dataset DIR'}."
        )
    return DatasetError(f"Dataset {name!r} (Hugging Face {repo_id!r}) could not be loaded: {reason}")


def load_hub(
    repo_id: str,
    reading: Reading = Reading(),
    *,
    name: str | None = None,
    config: str | None = None,
    revision: str | None = None,
    local_copy: str | None = None,
) -> Dataset:
    """Load one split of a hub dataset through ``datasets.load_dataset`` (its cache included)."""
    import datasets

    name = name or repo_id
    split = reading.split
    try:
        builder = datasets.load_dataset_builder(repo_id, config, revision=revision)
        # Prepares every split (as load_dataset does), then reads the split info that
        # preparing fills in even when the hub card has none.
        builder.download_and_prepare()
        available = list(builder.info.splits or {})
        if split is not None and available and split not in available:
            raise DatasetError(f"Dataset {name!r} (Hugging Face {repo_id!r}) has no split {split!r}; its splits are {available}.")
        split = split or default_split(available, f"Dataset {name!r}")
        ds = builder.as_dataset(split=split)
    except DatasetError:
        raise
    except Exception as exc:  # the hub raises connection, HTTP, file and value errors alike
        raise hub_failure(name, repo_id, exc, local_copy) from None
    assert isinstance(ds, datasets.Dataset)
    source = f"hf:{repo_id}" + (f":{config}" if config else "")
    return from_hf_dataset(
        ds,
        replace(reading, split=split),
        name=name,
        source=source,
        # builder.hash is the hub commit the data came from: the same on every machine,
        # unlike ds._fingerprint, which hashes cache-file modification times.
        provenance={"split": split, "revision": builder.hash, "config": config},
    )


def is_saved_dataset(path: Path) -> bool:
    """True for a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def load_saved(path: Path, reading: Reading = Reading(), *, name: str | None = None) -> Dataset:
    """Load a ``save_to_disk`` folder (a single dataset or a dict of splits)."""
    import datasets

    name = name or path.name
    split = reading.split
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # missing or corrupt Arrow files, an unreadable state.json: one sentence
        raise DatasetError(
            f"Dataset {name!r} at {path} could not be read as a save_to_disk folder ({first_line(exc)}); "
            f"save it again with Dataset.save_to_disk or DatasetDict.save_to_disk."
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        available = list(loaded)
        if split is not None and split not in available:
            raise DatasetError(f"Dataset {name!r} at {path} has no split {split!r}; its splits are {available}.")
        split = split or default_split(available, f"Dataset {name!r} at {path}")
        ds = loaded[split]
    else:
        if split is not None and split != (loaded.split and str(loaded.split)):
            raise DatasetError(f"Dataset {name!r} at {path} is a single split; drop --split {split}.")
        ds = loaded
    files = [p for p in path.rglob("*") if p.is_file()]
    return from_hf_dataset(
        ds,
        replace(reading, split=split),
        name=name,
        source=f"save_to_disk:{path}",
        base_dir=path,
        # load_from_disk restores the saved fingerprint, so it is the same on every machine.
        provenance={"split": split, "hf_fingerprint": ds._fingerprint, "files_sha256": listing_sha256(path, files)},
    )
