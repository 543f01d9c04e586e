"""Datasets as the evaluator sees them: a class list and a sequence of labelled items.

Images are loaded lazily through a zero-argument callable, so a dataset of tens of
thousands of images is never held in memory at once; the runner asks for one batch of
images at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from ..record import Label
from ..tasks import CLASSIFICATION, Task

if TYPE_CHECKING:
    from PIL import Image

Modality = Literal["image", "text", "image+text"]

MIN_CLASSES = 2
"""A classification needs at least two classes (a dataset, a subset, ``--num-classes``)."""


class DatasetError(ValueError):
    """A dataset that cannot be evaluated; the message says what is wrong and how to fix it."""


class ItemError(RuntimeError):
    """One item cannot be used (a corrupt or missing image, an empty text cell): the run records it and goes on."""

    def __init__(self, item_id: str, reason: str) -> None:
        super().__init__(f"Item {item_id!r}: {reason}")
        self.item_id = item_id
        self.reason = reason


@dataclass(frozen=True)
class Item:
    """One labelled example."""

    id: str
    """Stable identifier (index or path), used to pair predictions across runs."""
    label: Label
    """The gold answer: a class name, or (NER) one tag per token; only the dataset's classes (its ``task`` says which)."""
    text: str | None = None
    """Text input (for text and image+text datasets)."""
    load_image: Callable[[], Image.Image] | None = field(default=None, compare=False, repr=False)
    """Returns the item's image as RGB; called only when a batch needs it."""
    unreadable: str | None = None
    """Why the item cannot be used, when that is known at load time (an empty text cell)."""

    def image(self) -> Image.Image | None:
        """The decoded RGB image, or ``None`` for a text item.

        Raises :class:`ItemError` when the item cannot be used: its image cannot be read, or it
        is :attr:`unreadable`. The channel calls this for every item it sends, so such an item
        is listed among the record's errors and left out of the metrics, whatever its modality.
        """
        if self.unreadable is not None:
            raise ItemError(self.id, self.unreadable)
        if self.load_image is None:
            return None
        try:
            return self.load_image()
        except ItemError:
            raise
        except Exception as exc:
            # Decoders fail in many ways (OSError, SyntaxError, ValueError, PIL's
            # DecompressionBombError ...). One bad file must not end a 30k-image run:
            # the item is reported with the reason and excluded from the metrics.
            raise ItemError(self.id, f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Dataset:
    """A named, validated set of items over a fixed list of classes."""

    name: str
    classes: tuple[str, ...]
    items: Sequence[Item]
    modality: Modality = "image"
    background_class: str | None = None
    """A catch-all class (e.g. Caltech-256's clutter): the binary strategy never asks for it."""
    source: str = ""
    """Where the data came from (package, path, hub id), recorded in the JSON."""
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)
    """Split, revision, file hashes and class selection: what the dataset fingerprint is built from."""
    question: str | None = None
    """The dataset's own question for prompting strategies ("What is the topic of this news
    article?"); ``None``: the wording of its modality (:mod:`~pytest_vlmbench.strategies.prompts`)."""
    task: Task = CLASSIFICATION
    """What its labels are: a class per item, or (:data:`~pytest_vlmbench.tasks.NER`) a tag per token."""

    def __post_init__(self) -> None:
        validate(self)

    def __len__(self) -> int:
        return len(self.items)

    def limited(self, limit: int | None) -> Dataset:
        """The first ``limit`` items (the order is the source's, so it does not depend on the seed)."""
        if limit is None or limit >= len(self.items):
            return self
        return replace(self, items=list(self.items[:limit]))


def validate(dataset: Dataset) -> None:
    """Raise :class:`DatasetError` with one sentence for the first problem found."""
    name = dataset.name
    if not dataset.classes:
        raise DatasetError(f"Dataset {name!r} has no classes; give it at least two class names.")
    if len(dataset.classes) < MIN_CLASSES:
        raise DatasetError(
            f"Dataset {name!r} has only one class ({dataset.classes[0]!r}); a classification needs at least two, "
            f"so add items of another class."
        )
    seen: set[str] = set()
    for cls in dataset.classes:
        key = cls.strip().lower()
        if key in seen:
            raise DatasetError(
                f"Dataset {name!r} lists the class {cls!r} twice (names are compared "
                f"case-insensitively); make every class name unique."
            )
        seen.add(key)
    if dataset.background_class is not None and dataset.background_class not in dataset.classes:
        raise DatasetError(
            f"Dataset {name!r} names background class {dataset.background_class!r}, "
            f"which is not one of its classes {list(dataset.classes)}."
        )
    if len(dataset.items) == 0:
        raise DatasetError(f"Dataset {name!r} has no items; check its source ({dataset.source or 'unknown'}).")
    classes = set(dataset.classes)
    for item in dataset.items:
        if isinstance(item.label, str) == dataset.task.tagged or not set(dataset.task.classes_of(item.label)) <= classes:
            raise DatasetError(
                f"Item {item.id!r} of dataset {name!r} has label {item.label!r}, "
                f"which is not one of its classes {list(dataset.classes)}."
            )
