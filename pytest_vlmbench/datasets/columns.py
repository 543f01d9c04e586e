"""Which column holds the label, the text and the image: named by the user or detected.

Detection looks at the ``datasets`` features first (a ``ClassLabel`` is a label, an
``Image`` is an image) and then at conventional column names. Anything ambiguous is an
error that names the option to set, never a silent guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .base import DatasetError, Modality

LABEL_NAMES = ("label", "labels", "fine_label", "class", "category", "target", "y")
TEXT_NAMES = ("text", "sentence", "statement", "content", "review", "document", "post", "body", "caption", "title")
IMAGE_NAMES = ("image", "img", "image_path", "image_file", "filepath", "file_path", "path", "file", "filename", "file_name")
ID_NAMES = ("id", "idx", "uid")


@dataclass(frozen=True)
class Columns:
    """Column names as given by ``--label-column``, ``--text-column``, ``--image-column``.

    ``text=""`` (or ``image=""``) means "this dataset has none", which stops detection from
    picking, e.g., Caltech-256's ``text`` column (its class name) as an input.
    """

    label: str | None = None
    text: str | None = None
    image: str | None = None

    def merged(self, override: Columns) -> Columns:
        """These defaults with every column that ``override`` names replacing them."""
        return Columns(
            label=override.label if override.label is not None else self.label,
            text=override.text if override.text is not None else self.text,
            image=override.image if override.image is not None else self.image,
        )


Kind = Literal["class_label", "image", "string", "other"]
"""What detection needs to know of a column: a ``ClassLabel``, an ``Image``, a string, or else."""


@dataclass(frozen=True)
class Resolved:
    label: str
    text: str | None
    image: str | None
    image_is_feature: bool
    """True for a ``datasets.Image`` column; False for a column of file paths."""
    id: str | None

    @property
    def modality(self) -> Modality:
        return "image+text" if self.image and self.text else "image" if self.image else "text"


def feature_kind(feature: Any) -> Kind:
    """The kind of a ``datasets`` feature (compared by class name: ``datasets`` stays unimported)."""
    name = type(feature).__name__
    if name == "ClassLabel":
        return "class_label"
    if name == "Image":
        return "image"
    if name == "Value" and getattr(feature, "dtype", "") in ("string", "large_string"):
        return "string"
    return "other"


def _check(where: str, column: str | None, option: str, available: list[str]) -> None:
    if column and column not in available:
        raise DatasetError(f"{where} has no column {column!r} ({option}); its columns are {available}.")


def resolve_columns(features: Mapping[str, Any], given: Columns, where: str) -> Resolved:
    """Pick the label/text/image/id columns of a table with these ``datasets`` features."""
    return resolve_kinds({c: feature_kind(f) for c, f in features.items()}, given, where)


def resolve_kinds(kinds: Mapping[str, Kind], given: Columns, where: str) -> Resolved:
    """Pick the label/text/image/id columns of a table whose columns are of these kinds.

    Loading reads the kinds off the ``datasets`` features; :mod:`.peek` reads them off a
    file's first lines, so a path's modality is known before it is loaded.
    """
    available = list(kinds)
    _check(where, given.label, "--label-column", available)
    _check(where, given.text, "--text-column", available)
    _check(where, given.image, "--image-column", available)

    label = given.label
    if label is None:
        class_labels = [c for c in available if kinds[c] == "class_label"]
        named = [c for c in LABEL_NAMES if c in available]
        preferred = [c for c in named if c in class_labels] or class_labels or named
        if not preferred:
            raise DatasetError(f"{where} has no label column among {available}; name it with --label-column.")
        label = preferred[0]

    taken = {label}
    image = given.image or None
    if given.image is None:
        image_features = [c for c in available if kinds[c] == "image" and c not in taken]
        image_paths = [c for c in IMAGE_NAMES if c in available and c not in taken and kinds[c] == "string"]
        image = next(iter(image_features or image_paths), None)
    if image:
        taken.add(image)

    text = given.text or None
    if given.text is None:
        candidates = [c for c in TEXT_NAMES if c in available and c not in taken and kinds[c] == "string"]
        if not candidates and image is None:
            # A text table with an unconventional column name: accept it when it is the
            # only string column left, which leaves nothing to guess between.
            strings = [c for c in available if c not in taken and c not in ID_NAMES and kinds[c] == "string"]
            candidates = strings if len(strings) == 1 else []
        text = candidates[0] if candidates else None

    if image is None and text is None:
        raise DatasetError(
            f"{where} has no text or image column among {available}; name one with --text-column or --image-column."
        )
    id_column = next((c for c in ID_NAMES if c in available and c not in taken and c != text), None)
    return Resolved(
        label=label,
        text=text,
        image=image,
        image_is_feature=image is not None and kinds[image] == "image",
        id=id_column,
    )
