"""Class subsets, per-class caps, class-count sweeps and k-shot exemplar selection.

All choices are seeded and independent of the process (``random.Random`` seeded with a
string, which it hashes with SHA-512), so the same seed picks the same classes and items
on every machine.

Class subsets are *nested*: the classes are shuffled once per seed and a subset of N takes
the first N of that order (after the background class, which is always kept). So in a
sweep ``--num-classes 10,25,50`` the 10 classes are among the 25, and accuracy against the
number of classes is not blurred by a fresh draw of classes at every point.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..record import Label
from .base import MIN_CLASSES, Dataset, DatasetError, Item
from .fingerprint import sha256_json
from .ner import ner_exemplars


def parse_class_counts(value: str | int | None) -> tuple[int, ...]:
    """``"10,25,50"`` -> ``(10, 25, 50)``: one evaluation per count (a sweep); ``None`` -> ``()``."""
    if value is None or value == "":
        return ()
    parts = [value] if isinstance(value, int) else [p.strip() for p in str(value).split(",") if p.strip()]
    counts: list[int] = []
    for part in parts:
        try:
            count = int(part)
        except ValueError:
            raise DatasetError(f"--num-classes takes whole numbers separated by commas, got {value!r}.") from None
        if count < MIN_CLASSES:
            raise DatasetError(f"--num-classes must be at least {MIN_CLASSES} (a classification needs two classes), got {count}.")
        if count not in counts:
            counts.append(count)
    return tuple(counts)


def class_order(classes: Sequence[str], seed: int) -> list[str]:
    """The seeded order in which classes join a subset (nesting: see the module docstring)."""
    return random.Random(f"vlmbench:classes:{seed}").sample(list(classes), len(classes))


def choose_classes(
    classes: Sequence[str], n: int, seed: int, background_class: str | None = None
) -> tuple[str, ...]:
    """``n`` of ``classes`` (the background class included when given), in the dataset's order."""
    if n > len(classes):
        raise DatasetError(f"--num-classes {n} asks for more classes than the {len(classes)} available.")
    if n < MIN_CLASSES:
        raise DatasetError(f"--num-classes must be at least {MIN_CLASSES}, got {n}.")
    others = [c for c in classes if c != background_class]
    keep = n - 1 if background_class in classes else n
    chosen = set(class_order(others, seed)[:keep])
    if background_class in classes:
        chosen.add(background_class)  # type: ignore[arg-type]
    return tuple(c for c in classes if c in chosen)


def _by_class(items: Sequence[Item]) -> dict[Label, list[Item]]:
    groups: dict[Label, list[Item]] = defaultdict(list)
    for item in items:
        groups[item.label].append(item)
    return groups


def _seeded_sample(items: list[Item], k: int, seed: str) -> list[Item]:
    """``k`` seeded items, kept in their source order (readable JSON, stable ``--limit`` prefix)."""
    picked = sorted(random.Random(seed).sample(range(len(items)), min(k, len(items))))
    return [items[i] for i in picked]


def _round_robin(classes: Sequence[str], groups: Mapping[Any, list[Item]]) -> list[Item]:
    """The groups' items, one of each class in turn (a group per class name; keys are labels)."""
    rows = itertools.zip_longest(*(groups.get(c, []) for c in classes))
    return [it for row in rows for it in row if it is not None]


def subset(
    dataset: Dataset,
    *,
    num_classes: int | None = None,
    per_class: int | None = None,
    background_class: str | None = None,
    seed: int = 0,
) -> Dataset:
    """Keep ``num_classes`` seeded classes (background kept) and at most ``per_class`` items each.

    ``background_class`` overrides the dataset's own. Only classes that have items are
    drawn. Items come out round-robin across classes, so a later ``--limit`` stays balanced.
    With no option set the dataset is returned unchanged.
    """
    background = background_class if background_class is not None else dataset.background_class
    if background is not None and background not in dataset.classes:
        raise DatasetError(
            f"Background class {background!r} is not one of the classes of dataset {dataset.name!r}: "
            f"{list(dataset.classes)[:20]}{' ...' if len(dataset.classes) > 20 else ''}."
        )
    if num_classes is None and per_class is None:
        return dataset if background == dataset.background_class else replace(dataset, background_class=background)
    if per_class is not None and per_class < 1:
        raise DatasetError(f"--per-class must be a positive whole number, got {per_class}.")
    groups = _by_class(dataset.items)
    classes = tuple(dataset.classes)
    if num_classes is not None:
        present = [c for c in classes if groups.get(c)]
        if num_classes > len(present):
            raise DatasetError(
                f"--num-classes {num_classes} asks for more classes than dataset {dataset.name!r} has with items "
                f"({len(present)})."
            )
        classes = choose_classes(present, num_classes, seed, background if background in present else None)
        if background is not None and background not in classes:
            background = None  # the background class has no items in this split
    if per_class is not None:
        groups = {c: _seeded_sample(groups[c], per_class, f"vlmbench:items:{seed}:{c}") for c in classes if c in groups}
    selection = {"num_classes": num_classes, "per_class": per_class, "seed": seed, "background_class": background}
    provenance = {**dataset.provenance, "selection": selection}
    return replace(
        dataset,
        classes=classes,
        items=_round_robin(classes, groups),
        background_class=background,
        provenance=provenance,
    )


def exemplar_counts(classes: Sequence[str], k: int, seed: int, per_class: bool) -> dict[str, int]:
    """How many exemplars each class gives: ``k`` each (``per_class``), or ``k`` in all.

    In all (the benchmarks' "k-shot"): when ``k`` >= the class count, stratified -- every class
    ``k // n``, and the ``k % n`` left over go to seeded classes, one each; when ``k`` < the
    class count, ``k`` seeded classes give one each (distinct classes, never two of one).
    """
    if per_class:
        return {c: k for c in classes}
    rng = random.Random(f"vlmbench:exemplar-classes:{seed}")
    base, extra = divmod(k, len(classes))
    lucky = set(rng.sample(list(classes), extra))
    return {c: base + (c in lucky) for c in classes if base + (c in lucky)}


def select_exemplars(
    pool: Dataset,
    k: int,
    seed: int,
    *,
    classes: Sequence[str] | None = None,
    exclude_ids: Sequence[str] = (),
    per_class: bool = True,
) -> list[Item]:
    """``k`` seeded exemplars per class (``per_class``) or ``k`` in all (:func:`exemplar_counts`)
    from ``pool``, round-robin across classes.

    ``pool`` must be a split distinct from the evaluated one (see :func:`exemplar_pool`);
    ``classes`` restricts to the evaluated classes (a subset or sweep point).
    """
    if k < 1:
        raise DatasetError(f"k-shot needs k of at least 1, got {k}.")
    excluded = set(exclude_ids)
    if pool.task.tagged:  # its items are sentences and its "classes" tags: k sentences, not k per class
        if per_class:
            raise DatasetError(
                f"--k-shot-per-class counts exemplars per class, and the items of NER dataset {pool.name!r} are "
                f"sentences; give --k-shot K for K example sentences."
            )
        return ner_exemplars(pool, k, seed, excluded)
    # An unreadable item (an empty text cell) would put an empty example before every prompt.
    groups = _by_class([it for it in pool.items if it.id not in excluded and it.unreadable is None])
    wanted = list(classes) if classes is not None else list(pool.classes)
    counts = exemplar_counts(wanted, k, seed, per_class)
    chosen: dict[str, list[Item]] = {}
    for cls, n in counts.items():
        members = groups.get(cls, [])
        if len(members) < n:
            shot = f"{k}-shot" if per_class else f"{k}-shot ({n} of class {cls!r})"
            raise DatasetError(
                f"Dataset {pool.name!r} has {len(members)} exemplar item(s) of class {cls!r}; {shot} needs {n}."
            )
        chosen[cls] = _seeded_sample(members, n, f"vlmbench:exemplars:{seed}:{cls}")
    return _round_robin(wanted, chosen)


def holdout_split(dataset: Dataset, k: int, seed: int, per_class: bool = True) -> tuple[Dataset, Dataset]:
    """Split a single-split dataset into (evaluated, exemplar pool) deterministically.

    The pool is ``k`` seeded items per class (or in all); both parts record the split in their
    provenance (``exemplar_split``), so the fingerprint shows which items were held out.
    """
    held = select_exemplars(dataset, k, seed, per_class=per_class)
    held_ids = {it.id for it in held}
    size = {"k_per_class": k} if per_class else {"k_total": k}
    record = {"method": "holdout", **size, "seed": seed, "held_out_sha256": sha256_json(sorted(held_ids))}
    evaluated = replace(
        dataset,
        items=[it for it in dataset.items if it.id not in held_ids],
        provenance={**dataset.provenance, "exemplar_split": record},
    )
    pool = replace(
        dataset, name=f"{dataset.name}/exemplars", items=held, provenance={**dataset.provenance, "exemplar_split": record}
    )
    return evaluated, pool


def exemplar_pool(
    evaluated: Dataset, pool: Dataset | None, k: int, seed: int, per_class: bool = True
) -> tuple[Dataset, list[Item]]:
    """The dataset to evaluate and its k-shot exemplars, from ``pool`` or a hold-out of ``evaluated``.

    Raises :class:`DatasetError` when ``pool`` is the evaluated split itself or shares items
    with it: exemplars seen at test time would inflate accuracy.
    """
    if pool is None:
        evaluated, held = holdout_split(evaluated, k, seed, per_class)
        return evaluated, list(held.items)
    # Item ids are only comparable within one source (two CSV files both have a row "0").
    same_source = pool.source == evaluated.source
    same_split = pool.provenance.get("split") == evaluated.provenance.get("split")
    if same_source and (same_split or {it.id for it in pool.items} & {it.id for it in evaluated.items}):
        raise DatasetError(
            f"k-shot exemplars must come from a split other than the evaluated one "
            f"({evaluated.provenance.get('split') or 'the only split'} of {evaluated.name!r}); name another split, "
            f"or give none to hold out {k} item(s){' per class' if per_class else ''}."
        )
    return evaluated, select_exemplars(pool, k, seed, classes=evaluated.classes, per_class=per_class)
