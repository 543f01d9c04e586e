"""Local files: class folders (images or ``.txt`` texts) and CSV / TSV / JSONL / Parquet tables.

A class folder is ``ROOT/<class>/<files>``, optionally under split folders
(``ROOT/train/<class>/...``, ``ROOT/test/<class>/...``). Class names are the folder names
(sorted), unless the caller maps them. Folder items are ordered round-robin across
classes, so ``--limit N`` on a folder takes a class-balanced prefix instead of N items of
the first class.

Tables go through ``datasets.load_dataset`` (its CSV/JSON/Parquet builders and cache); an
image column of relative paths is resolved against the table's folder.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .base import Dataset, DatasetError, Item, Modality
from .columns import Columns
from .fingerprint import file_sha256, listing_sha256
from .hf import SPLIT_PREFERENCE, Reading, default_split, first_line, from_hf_dataset, is_saved_dataset, load_saved
from .images import IMAGE_EXTENSIONS, path_loader
from .ner import CONLL_SUFFIXES, is_ner_table, load_ner_file
from .tables import TABLE_SUFFIXES, has_rows, parse_error

TEXT_SUFFIXES = frozenset({".txt"})
EMPTY_TEXT_FILE = "its text file is empty; write the text in or delete the file."


def load_path(path: Path, *, split: str | None = None, columns: Columns = Columns(), name: str | None = None) -> Dataset:
    """Load whatever lives at ``path``: a ``save_to_disk`` folder, a class folder or a table file."""
    if path.is_dir():
        if is_saved_dataset(path):
            return load_saved(path, Reading(split=split, columns=columns), name=name)
        return load_folder(path, split=split, name=name)
    if path.suffix.lower() in CONLL_SUFFIXES or is_ner_table(path):  # NER: datasets/ner.py
        return load_ner_file(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return load_table(path, split=split, columns=columns, name=name)
    raise DatasetError(
        f"{path} is neither a folder nor a {'/'.join(sorted(TABLE_SUFFIXES))} file; "
        f"give --dataset a class folder, a table file or a save_to_disk folder."
    )


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_root(root: Path, split: str | None, name: str) -> tuple[Path, str | None]:
    """The folder holding the class folders, and the split it stands for (None: no splits)."""
    subdirs = _visible_dirs(root)
    is_split_layout = bool(subdirs) and all(d.name in SPLIT_PREFERENCE and _visible_dirs(d) for d in subdirs)
    if not is_split_layout:
        if split is not None:
            raise DatasetError(f"Dataset {name!r} at {root} has no split folders; drop --split {split}.")
        return root, None
    available = [d.name for d in subdirs]
    if split is not None and split not in available:
        raise DatasetError(f"Dataset {name!r} at {root} has no split {split!r}; its splits are {available}.")
    chosen = split or default_split(available, f"Dataset {name!r} at {root}")
    return root / chosen, chosen


def load_folder(
    root: Path,
    *,
    split: str | None = None,
    name: str | None = None,
    class_names: Mapping[str, str] | None = None,
    background_class: str | None = None,
    source: str | None = None,
) -> Dataset:
    """One sub-folder per class holding images, or ``.txt`` files (a text dataset).

    ``class_names`` maps folder names to the names the model sees (folders not in it are
    skipped, which lets a caller pick a subset of a package's folders).
    """
    name = name or root.name
    base, chosen = _split_root(root, split, name)
    class_dirs = [d for d in _visible_dirs(base) if class_names is None or d.name in class_names]
    if not class_dirs:
        raise DatasetError(f"Dataset {name!r} at {base} has no class folders; put each class's files in its own sub-folder.")
    rename: Callable[[str], str] = (lambda s: s) if class_names is None else class_names.__getitem__
    per_class = [(rename(d.name), _class_files(d)) for d in class_dirs]
    all_files = [p for _, files in per_class for p in files]
    modality = _files_modality(all_files)
    wanted = TEXT_SUFFIXES if modality == "text" else IMAGE_EXTENSIONS
    queues = [
        [_file_item(p, root, cls, modality) for p in files if p.suffix.lower() in wanted] for cls, files in per_class
    ]
    # Round-robin across classes: see the module docstring.
    items = [it for row in itertools.zip_longest(*queues) for it in row if it is not None]
    if modality == "text" and all(it.unreadable for it in items):
        raise DatasetError(f"Dataset {name!r} at {base} has only empty .txt files; write the texts in them.")
    used = [p for p in all_files if p.suffix.lower() in wanted]
    return Dataset(
        name=name,
        classes=tuple(cls for cls, _ in per_class),
        items=items,
        modality=modality,
        background_class=background_class,
        source=source or f"folder:{root}",
        provenance={"split": chosen, "files_sha256": listing_sha256(root, used), "files_hashed": "path+size"},
    )


def _class_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _files_modality(files: list[Path]) -> Modality:
    """A class folder holds texts when it has more ``.txt`` files than images."""
    n_images = sum(p.suffix.lower() in IMAGE_EXTENSIONS for p in files)
    n_texts = sum(p.suffix.lower() in TEXT_SUFFIXES for p in files)
    return "text" if n_texts > n_images else "image"


def folder_modality(root: Path) -> Modality | None:
    """What :func:`load_folder` will find in a class folder, from its listing alone (``None``: no class folders)."""
    try:
        base, _ = _split_root(root, None, root.name)
    except DatasetError:  # several splits and none preferred: every split holds the same kind of files
        base = _visible_dirs(root)[0]
    class_dirs = _visible_dirs(base)
    if not class_dirs:
        return None
    return _files_modality([p for d in class_dirs for p in _class_files(d)])


def _file_item(path: Path, root: Path, label: str, modality: Modality) -> Item:
    item_id = path.relative_to(root).as_posix()
    if modality == "text":
        text = read_text(path)
        return Item(id=item_id, label=label, text=text, unreadable=None if text else EMPTY_TEXT_FILE)
    return Item(id=item_id, label=label, load_image=path_loader(path))


def read_text(path: Path) -> str:
    """A text file as UTF-8, falling back to Latin-1 (older corpora, e.g. BBC News, mix both)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def load_table(path: Path, *, split: str | None = None, columns: Columns = Columns(), name: str | None = None) -> Dataset:
    """A CSV/TSV/JSON Lines/Parquet file with a label column and a text and/or image-path column."""
    import datasets

    name = name or path.stem
    if split is not None:
        raise DatasetError(f"Dataset {name!r} is a single file without splits; drop --split {split}.")
    builder = TABLE_SUFFIXES[path.suffix.lower()]
    kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    try:
        if not has_rows(path):
            raise DatasetError(f"Dataset {name!r} has no items: {path} has no rows.")
        with quiet_progress():
            ds = datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except DatasetError:
        raise
    except Exception as exc:  # parser errors of three builders (and pyarrow's footer check): one sentence
        raise unreadable_table(name, path, builder, exc) from None
    return from_hf_dataset(
        ds,
        Reading(columns=columns),
        name=name,
        source=f"file:{path}",
        base_dir=path.parent,
        provenance={"split": None, "files_sha256": file_sha256(path), "files_hashed": "content"},
    )


FIXES = {
    "csv": "quote every cell that holds the delimiter or a line break, or fix that row",
    "json": "give one JSON object per line, or fix that line",
    "parquet": "write the file again, for example with DataFrame.to_parquet",
}


def unreadable_table(name: str, path: Path, builder: str, exc: BaseException) -> DatasetError:
    """One sentence for a table its parser refused: the line it broke at when a standard-library
    scan finds it (the ``datasets`` builders seldom say), else the parser's own first line."""
    if isinstance(exc, PermissionError):
        return DatasetError(f"Dataset {name!r}: {path} cannot be read ({exc.strerror}); make it readable.")
    where = parse_error(path) if builder != "parquet" else None
    if where is not None:
        fix = "save the file as UTF-8" if "not UTF-8" in where else FIXES[builder]
        return DatasetError(f"Dataset {name!r}: in {path}, {where}; {fix}.")
    kind = {"csv": "CSV" if path.suffix.lower() == ".csv" else "TSV", "json": "JSON Lines", "parquet": "Parquet"}[builder]
    size = f" ({path.stat().st_size} bytes)" if builder == "parquet" and path.is_file() else ""
    return DatasetError(f"Dataset {name!r}: {path}{size} is not a readable {kind} file ({first_line(exc)}); {FIXES[builder]}.")


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Hide the ``datasets`` progress bars and its error log while a small table loads, then
    restore both: a parser error is reported once, as the load's one sentence."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    verbosity = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if not was_disabled:
            datasets.enable_progress_bars()
