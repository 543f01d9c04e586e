"""Lazy image loaders: each item gets a closure that decodes its one image when asked.

Nothing here runs at dataset-load time, so a 30k-image dataset costs only its listing;
decode errors surface when the runner asks for the image and become an
:class:`~pytest_vlmbench.datasets.base.ItemError` for that one item.
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


HIGH_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
"""Pillow modes of 16-bit, 32-bit and floating-point single-channel images."""


def open_rgb(source: str | Path | bytes) -> Image.Image:
    """Decode an image file or encoded bytes fully, as RGB."""
    from PIL import Image

    fh = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(fh) as image:
        # convert() forces the full decode, so a truncated file fails here (inside the
        # item's own error handling), not later inside a model's processor.
        if image.mode in HIGH_BIT_MODES:
            return to_8bit(image).convert("RGB")
        return image.convert("RGB")


def to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float greyscale image as 8-bit ``L``, rescaled instead of clipped.

    ``convert("L")`` clips every value above 255, so a 16-bit scan comes out almost white.
    Integer pixels are scaled by the bits their maximum needs (a 12-bit camera's 0..4095 in a
    16-bit PNG maps to 0..255, as full 16-bit data does; 8-bit data stays as it is), which keeps
    a dark image dark; floats in 0..1 are scaled by 255. Anything else (negative values,
    floats outside 0..255) is stretched over its own range.
    """
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image, dtype=np.float64)
    finite = pixels[np.isfinite(pixels)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if lo >= 0 and image.mode != "F":
        top = float(2 ** max(8, int(hi).bit_length()) - 1)
        scaled = pixels * (255.0 / top)
    elif lo >= 0 and hi <= 1:
        scaled = pixels * 255.0
    elif lo >= 0 and hi <= 255:
        scaled = pixels
    else:
        scaled = (pixels - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(pixels)
    out = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0).clip(0, 255).round().astype(np.uint8)
    return Image.fromarray(out)  # uint8, two dimensions: mode L


def path_loader(path: Path) -> Callable[[], Image.Image]:
    """A zero-argument loader for the image at ``path``."""

    def load() -> Image.Image:
        return open_rgb(path)

    return load
