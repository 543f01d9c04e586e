"""Datasets that need no network: they ship in a system or Python package.

- ``fashion_mnist``: the 10,000-image test split (or the 60,000-image train split) from
  Debian's ``dataset-fashion-mnist`` package (``apt-get install dataset-fashion-mnist``),
  read straight from its IDX files; from the hub when the package is absent.
- ``digits``: scikit-learn's 1,797 8x8 handwritten digits, always installed with sklearn.

Both are tiny greyscale images; they are converted to RGB (and digits scaled up to 32x32)
because every VLM processor expects RGB input of some minimum size.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Dataset, DatasetError, Item
from .class_names import DIGIT_CLASSES, FASHION_MNIST_CLASSES
from .hub_catalog import fashion_mnist_hub

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

FASHION_MNIST_DIR = Path(os.environ.get("VLMBENCH_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def fashion_mnist_available() -> bool:
    return (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (the MNIST format: magic, dims, then raw uint8 data)."""
    import numpy as np

    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    _zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if dtype_code != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (type code {dtype_code:#x}).")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _image_loader(pixels: np.ndarray, size: int | None = None) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from PIL import Image

        image = Image.fromarray(pixels, mode="L").convert("RGB")
        return image if size is None else image.resize((size, size), Image.Resampling.NEAREST)

    return load


FASHION_MNIST_FILES = {"test": "t10k", "train": "train"}


def load_fashion_mnist(split: str | None = None) -> Dataset:
    """Fashion-MNIST (default: the 10,000-image test split) from the Debian package, else the hub."""
    split = split or "test"
    if split not in FASHION_MNIST_FILES:
        raise DatasetError(f"Fashion-MNIST has no split {split!r}; its splits are {list(FASHION_MNIST_FILES)}.")
    if not fashion_mnist_available():
        try:
            return fashion_mnist_hub(split=split)
        except DatasetError as exc:
            raise DatasetError(
                f"Fashion-MNIST is not installed at {FASHION_MNIST_DIR} (run `apt-get install dataset-fashion-mnist` "
                f"or set VLMBENCH_FASHION_MNIST_DIR) and could not be loaded from the hub "
                f"({fashion_mnist_hub.repo_id}); use --dataset digits."
            ) from exc
    stem = FASHION_MNIST_FILES[split]
    images = _read_idx(FASHION_MNIST_DIR / f"{stem}-images-idx3-ubyte.gz")
    labels = _read_idx(FASHION_MNIST_DIR / f"{stem}-labels-idx1-ubyte.gz")
    items = [
        Item(id=f"{split}/{i}", label=FASHION_MNIST_CLASSES[int(label)], load_image=_image_loader(images[i]))
        for i, label in enumerate(labels)
    ]
    return Dataset(
        name="fashion_mnist",
        classes=FASHION_MNIST_CLASSES,
        items=items,
        modality="image",
        source=f"debian:dataset-fashion-mnist:{FASHION_MNIST_DIR}/{stem}",
        provenance={"split": split},
    )


def load_digits() -> Dataset:
    """scikit-learn's digits, scaled from 0..16 to 0..255 and up to 32x32 pixels."""
    import numpy as np
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    pixels = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8)
    items = [
        Item(id=str(i), label=DIGIT_CLASSES[int(t)], load_image=_image_loader(pixels[i], size=32))
        for i, t in enumerate(bunch.target)
    ]
    return Dataset(
        name="digits",
        classes=DIGIT_CLASSES,
        items=items,
        modality="image",
        source="sklearn.datasets.load_digits",
        provenance={"split": None},
    )


def default_image_dataset() -> str:
    """Fashion-MNIST when its package is installed, digits otherwise."""
    return "fashion_mnist" if fashion_mnist_available() else "digits"
