"""Load what a ``--dataset`` value names (see :mod:`.catalog`) as a :class:`~.base.Dataset`.

Then the class subset, background class and per-class cap are applied
(:func:`.subsets.subset`), and k-shot exemplars drawn. Importing this module imports
neither ``datasets`` nor PIL: they load when a dataset does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from pathlib import Path

from . import files, hf
from .base import Dataset, DatasetError, Item
from .catalog import DATASETS, canonical_spec, looks_like_path, parse_hub_spec
from .columns import Columns
from .subsets import exemplar_pool, subset


@dataclass(frozen=True)
class DatasetOptions:
    """The dataset options of one evaluation (one point of a ``--num-classes`` sweep)."""

    split: str | None = None
    """Split to evaluate; default: the entry's own, else test > validation > train."""
    text_column: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    num_classes: int | None = None
    """Seeded class subset of this size (the background class counts and is kept)."""
    per_class: int | None = None
    """At most this many items per class, seeded."""
    background_class: str | None = None
    """Overrides the dataset's own background class."""
    seed: int = 0

    @property
    def columns(self) -> Columns:
        return Columns(label=self.label_column, text=self.text_column, image=self.image_column)


def _call_loader(name: str, loader: object, split: str | None, columns: Columns) -> Dataset:
    """Call a registered loader, passing ``split`` and ``columns`` to those that take them."""
    assert callable(loader)
    params = inspect.signature(loader).parameters
    kwargs: dict[str, object] = {}
    if "columns" in params:
        kwargs["columns"] = columns
    if "split" in params:
        kwargs["split"] = split
    elif split is not None:
        raise DatasetError(f"Dataset {name!r} has a single split; drop --split {split}.")
    dataset = loader(**kwargs)
    if not isinstance(dataset, Dataset):
        raise DatasetError(f"The loader registered as dataset {name!r} returned {type(dataset).__name__}, not a Dataset.")
    return dataset


_CACHE: dict[tuple[object, ...], tuple[object, Dataset]] = {}
"""(spec, split, columns, file stamp) -> (the registered loader it came from, the dataset)."""
_CACHE_SIZE = 4


def clear_cache() -> None:
    """Forget loaded datasets (a session loads each (spec, split, columns) once)."""
    _CACHE.clear()


def load_base(spec: str, split: str | None = None, columns: Columns = Columns()) -> Dataset:
    """The whole dataset (one split) that ``spec`` names, before any subset."""
    path = Path(spec).expanduser()
    # A path's modification time is part of the key, so a regenerated file is reloaded.
    stamp = path.stat().st_mtime_ns if path.exists() else None
    key = (spec, split, columns, stamp)
    entry = DATASETS.find(spec)
    # A name registered again (replace=True) is a different dataset: the cached one must not answer.
    loader = entry.target if entry is not None else None
    cached = _CACHE.get(key)
    if cached is not None and cached[0] is loader:
        return cached[1]

    if entry is not None:
        dataset = _call_loader(entry.name, entry.load(), split, columns)
        if isinstance(question := entry.meta.get("question"), str):  # the entry's question wins over the loader's
            dataset = replace(dataset, question=question)
    elif path.exists():
        dataset = files.load_path(path, split=split, columns=columns)
    elif (hub := parse_hub_spec(spec)) is not None and not looks_like_path(spec):
        if hub.split and split and hub.split != split:
            raise DatasetError(f"--dataset {spec} names split {hub.split!r} but --split is {split!r}; give one.")
        dataset = hf.load_hub(hub.repo_id, hf.Reading(split=hub.split or split, columns=columns), name=spec, config=hub.config)
    else:
        canonical_spec(spec)  # raises the one-sentence error
        raise AssertionError("unreachable")

    _CACHE.pop(key, None)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (loader, dataset)
    return dataset


def load_dataset(spec: str, opts: DatasetOptions = DatasetOptions()) -> Dataset:
    """Load ``spec`` and apply the class subset, background class and per-class cap of ``opts``."""
    base = load_base(spec, opts.split, opts.columns)
    return subset(
        base,
        num_classes=opts.num_classes,
        per_class=opts.per_class,
        background_class=opts.background_class,
        seed=opts.seed,
    )


def with_exemplars(
    spec: str, opts: DatasetOptions, k_shot: int, exemplar_split: str | None = None, per_class: bool = False
) -> tuple[Dataset, tuple[Item, ...]]:
    """The dataset to evaluate and its ``k_shot`` exemplars in all (``per_class``: per class; none when 0).

    Exemplars come from ``exemplar_split`` of the same source, or are held out of the
    evaluated split (seeded, recorded in its provenance and so in the fingerprint). Image and
    image+text exemplars carry their images (the prompt shows them; docs/strategies.md).
    Raises :class:`DatasetError` if an exemplar is among the evaluated items.
    """
    dataset = load_dataset(spec, opts)
    if not k_shot:
        return dataset, ()
    pool = None
    if exemplar_split:
        pool = load_dataset(spec, replace(opts, split=exemplar_split, num_classes=None, per_class=None))
    evaluated, exemplars = exemplar_pool(dataset, pool, k_shot, opts.seed, per_class)
    # The last word on leakage, whatever drew them: an exemplar shown at test time inflates accuracy.
    same_source = pool is None or pool.source == evaluated.source
    leaked = sorted({e.id for e in exemplars} & {it.id for it in evaluated.items}) if same_source else []
    if leaked:
        raise DatasetError(f"k-shot exemplar(s) {leaked[:5]} of {dataset.name!r} are also evaluated items; name another --exemplar-split.")
    return evaluated, tuple(exemplars)
