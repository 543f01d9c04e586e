"""Lazy image loaders: each item gets a closure that decodes its one image when asked.

Nothing here runs at dataset-load time, so a 30k-image dataset costs only its listing;
decode errors surface when the runner asks for the image and become an
:class:`~pytest_vlmbench.data.ItemError` for that one item.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)


def open_rgb(source: str | Path | bytes) -> Image.Image:
    """Decode an image file or encoded bytes fully, as RGB."""
    from PIL import Image

    fh = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(fh) as image:
        # convert() forces the full decode, so a truncated file fails here (inside the
        # item's own error handling), not later inside a model's processor.
        return image.convert("RGB")


def path_loader(path: Path) -> Callable[[], Image.Image]:
    """A zero-argument loader for the image at ``path``."""

    def load() -> Image.Image:
        return open_rgb(path)

    return load
