"""The training items of a training strategy: a training split, or a seeded hold-out.

Training on an evaluated item would inflate accuracy, so the two sets are disjoint by
construction and checked: a training split of the same source that shares an item id with
the evaluated items is refused. A dataset with one split (BBC News) is divided per class:
a seeded ``test_fraction`` of each class is evaluated and the rest trained on. The hold-out
is drawn with a fixed seed, not the run's ``--seed``, so that ``--seed 0,1,2`` varies only
the training and every seed is evaluated on the same items (paired, comparable).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..datasets.base import Dataset, DatasetError, Item
from ..datasets.fingerprint import sha256_json
from ..record import Label, label_text
from ..strategies.train_settings import HOLDOUT, TrainSettings

HOLDOUT_SEED = "vlmbench:train-holdout"
"""The hold-out's fixed seed string (``random`` hashes it with SHA-512: stable across processes)."""
TRAIN_SPLIT = "train"

LoadSplit = Callable[[str], Dataset]
"""Loads another split of the evaluated source by name (raises DatasetError when it has none)."""


def _by_class(items: Sequence[Item]) -> dict[Label, list[Item]]:
    groups: dict[Label, list[Item]] = defaultdict(list)
    for item in items:
        groups[item.label].append(item)
    return groups


def holdout(dataset: Dataset, test_fraction: float) -> tuple[Dataset, Dataset]:
    """``(evaluated, train)``: a seeded ``test_fraction`` of each class evaluated, the rest trained on."""
    if not 0 < test_fraction < 1:
        raise DatasetError(f"The hold-out's test fraction must lie between 0 and 1, got {test_fraction}.")
    held: set[str] = set()
    strata: dict[str, list[Item]] = defaultdict(list)
    for item in dataset.items:
        strata[dataset.task.stratum(item.label)].append(item)
    for label, members in strata.items():
        if len(members) < 2:
            continue  # one item: keep it evaluated, nothing to learn the class from
        n = min(len(members) - 1, max(1, round(len(members) * test_fraction)))
        held.update(it.id for it in random.Random(f"{HOLDOUT_SEED}:{label}").sample(members, n))
    train_items = [it for it in dataset.items if it.id not in held]
    detail = {"method": HOLDOUT, "test_fraction": test_fraction, "seed": HOLDOUT_SEED,
              "train_ids_sha256": sha256_json(sorted(it.id for it in train_items))}  # fmt: skip
    # Round-robin over classes, as subsets are, so that a later --limit evaluates every class.
    evaluated = replace(
        dataset, items=_round_robin(dataset.classes, [it for it in dataset.items if it.id in held]),
        provenance={**dataset.provenance, "training_split": detail},
    )  # fmt: skip
    train = replace(dataset, name=f"{dataset.name}/train", items=train_items, provenance={**dataset.provenance, "training_split": detail})
    return evaluated, train


def _same_items(evaluated: Dataset, train: Dataset) -> bool:
    # Item ids are only comparable within one source (two CSV files both have a row "0").
    if train.source != evaluated.source:
        return False
    return bool({it.id for it in train.items} & {it.id for it in evaluated.items})


def _round_robin(classes: Sequence[str], items: Sequence[Item]) -> list[Item]:
    groups = _by_class(items)
    order: list[Item] = []
    for row in range(max((len(m) for m in groups.values()), default=0)):
        order += [groups[c][row] for c in classes if row < len(groups.get(c, ()))]
    known = set(classes)
    return order + [it for it in items if it.label not in known]  # NER sentences: in their own order


def limit_items(train: Dataset, limit: int | None, seed: int) -> Dataset:
    """At most ``limit`` items, seeded and balanced over classes (round-robin), in a stable order."""
    if limit is None or limit >= len(train.items):
        return train
    rng = random.Random(f"vlmbench:train-limit:{seed}")
    return replace(train, items=_round_robin(train.classes, rng.sample(list(train.items), len(train.items)))[:limit])


def training_split(evaluated: Dataset, settings: TrainSettings, load_split: LoadSplit | None, seed: int = 0) -> tuple[Dataset, Dataset, dict[str, Any]]:
    """``(dataset to evaluate, training set, how it was chosen)`` for one training case.

    ``settings.split`` ``None``: the source's ``train`` split when the evaluated split is
    another one and ``train`` loads, else a hold-out; a name: that split (it must load);
    ``holdout``: always a hold-out. Raises :class:`DatasetError` with one sentence.
    """
    current = evaluated.provenance.get("split")
    wanted = settings.split
    train: Dataset | None = None
    if wanted == current and wanted not in (None, HOLDOUT):
        raise DatasetError(
            f"--vlmbench-train-split {wanted} is the evaluated split of {evaluated.name!r}; train on another split "
            f"(--split chooses the evaluated one), or give {HOLDOUT} to hold out part of it."
        )
    if wanted not in (None, HOLDOUT):
        if load_split is None:
            raise DatasetError(f"Dataset {evaluated.name!r} cannot load other splits; use --vlmbench-train-split {HOLDOUT}.")
        train = load_split(str(wanted))
    elif wanted is None and current not in (None, TRAIN_SPLIT) and load_split is not None:
        try:
            train = load_split(TRAIN_SPLIT)
        except DatasetError:  # no train split: hold out part of the evaluated one (the record says so)
            train = None
    if train is None:
        evaluated, train = holdout(evaluated, settings.test_fraction)
        detail: dict[str, Any] = dict(evaluated.provenance["training_split"])
    else:
        if _same_items(evaluated, train):
            raise DatasetError(
                f"The training split of {evaluated.name!r} shares items with the evaluated one; training on evaluated "
                f"items would inflate accuracy, so name a disjoint split or --vlmbench-train-split {HOLDOUT}."
            )
        classes = set(evaluated.classes)
        if not evaluated.task.tagged:  # a class outside the evaluated ones cannot be scored; a tag can be
            train = replace(train, classes=evaluated.classes, items=[it for it in train.items if it.label in classes])
        detail = {"method": "split", "split": train.provenance.get("split") or wanted or TRAIN_SPLIT}
    train = limit_items(train, settings.limit, seed)
    readable = [it for it in train.items if it.unreadable is None]
    if len(readable) < len(train.items):
        detail["unreadable"] = len(train.items) - len(readable)
    train = replace(train, items=readable)
    # Classes the training labels use: a NER sentence uses several tags, so one tag pattern shared by every
    # sentence (B-PER O O) still trains a tagger.
    if len({c for it in train.items for c in train.task.classes_of(it.label)}) < 2:
        raise DatasetError(
            f"The training items of {evaluated.name!r} cover fewer than two classes ({len(train.items)} items); "
            f"give more data or a larger --vlmbench-train-limit."
        )
    detail["limit"] = settings.limit
    return evaluated, train, detail


def data_sha256(train: Dataset) -> str:
    """Hash of the training items' ids, labels and texts, with the dataset's fingerprinted provenance (files, revision)."""
    digest = hashlib.sha256(sha256_json({k: train.provenance.get(k) for k in ("revision", "hf_fingerprint", "files_sha256")}).encode())
    for item in train.items:
        # NER tags joined as before they became tuples: unchanged data keeps its key (and its cached weights).
        digest.update(f"{item.id}\t{label_text(item.label)}\t{item.text or ''}\n".encode())
    return digest.hexdigest()
