"""InternVL's dynamic high-resolution preprocessing: 448-px tiles plus a thumbnail.

The remote-code InternVL checkpoints ship no image processor; their model card gives
``build_transform``, ``find_closest_aspect_ratio``, ``dynamic_preprocess`` and
``load_image`` to paste into the caller's code. These are those functions, followed line
for line from ``internvl_chat/internvl/train/dataset.py`` in the OpenGVLab/InternVL
repository (the card's copy is the same, with ``load_image(..., max_num=12)`` and
``use_thumbnail=True``), so an image is cut exactly as the model was trained to see it:

- the grid (columns, rows) with ``min_num <= columns * rows <= max_num`` whose aspect ratio
  is closest to the image's; on a tie, a later (larger) grid wins only when the image has
  more than half the pixels that grid covers;
- the image is resized to that grid and cut row by row into 448x448 tiles; when there is
  more than one tile, the whole image resized to 448x448 is appended as a thumbnail;
- each tile: RGB, bicubic resize to 448x448, scaled to [0, 1], normalised with the
  ImageNet mean and standard deviation.

The card does the last step with torchvision (``T.Resize(BICUBIC)``, ``T.ToTensor``,
``T.Normalize``); on a PIL image that is PIL's bicubic resize, a division by 255 and the
normalisation, which is what :func:`to_pixel_values` does with PIL and torch alone
(torchvision is optional here; the tests check the two agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 448
"""InternVL2's vision tower input (``force_image_size`` in its config)."""
MAX_TILES = 12
"""The model card's ``load_image(..., max_num=12)``."""


def find_closest_aspect_ratio(
    aspect_ratio: float, target_ratios: Iterable[tuple[int, int]], width: int, height: int, image_size: int
) -> tuple[int, int]:
    """The (columns, rows) grid whose ratio is closest to ``aspect_ratio``; ties as the reference breaks them."""
    best_ratio_diff = float("inf")
    best_ratio = (1, 1)
    area = width * height
    for ratio in target_ratios:
        ratio_diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff
            best_ratio = ratio
        elif ratio_diff == best_ratio_diff and area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
            best_ratio = ratio
    return best_ratio


def tile_grid(width: int, height: int, min_num: int = 1, max_num: int = MAX_TILES, image_size: int = INPUT_SIZE) -> tuple[int, int]:
    """The (columns, rows) grid an image of this size is cut into."""
    # Built and sorted exactly as the reference does (a set sorted by tile count), so grids of
    # equal count are visited in the same order and ties end the same way.
    target_ratios = {
        (i, j)
        for n in range(min_num, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_num <= i * j <= max_num
    }
    ordered = sorted(target_ratios, key=lambda x: x[0] * x[1])
    return find_closest_aspect_ratio(width / height, ordered, width, height, image_size)


def dynamic_preprocess(
    image: Image.Image, min_num: int = 1, max_num: int = MAX_TILES, image_size: int = INPUT_SIZE, use_thumbnail: bool = False
) -> list[Image.Image]:
    """The image cut into ``image_size`` tiles row by row, plus a thumbnail when asked and there are several."""
    columns, rows = tile_grid(image.width, image.height, min_num, max_num, image_size)
    # Image.resize's default filter, as in the reference (bicubic in Pillow >= 7).
    resized = image.resize((image_size * columns, image_size * rows))
    tiles = []
    for i in range(columns * rows):
        left, top = (i % columns) * image_size, (i // columns) * image_size
        tiles.append(resized.crop((left, top, left + image_size, top + image_size)))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size)))
    return tiles


def to_pixel_values(tile: Image.Image, input_size: int = INPUT_SIZE) -> torch.Tensor:
    """The card's ``build_transform(input_size)`` applied to one tile: a (3, size, size) float tensor."""
    import numpy as np
    import torch
    from PIL import Image

    rgb = tile if tile.mode == "RGB" else tile.convert("RGB")
    resized = rgb.resize((input_size, input_size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32).copy()).permute(2, 0, 1) / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (pixels - mean) / std


def load_image(image: Image.Image, input_size: int = INPUT_SIZE, max_num: int = MAX_TILES) -> torch.Tensor:
    """The card's ``load_image`` for an image already in memory: (tiles, 3, size, size)."""
    import torch

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    tiles = dynamic_preprocess(rgb, image_size=input_size, use_thumbnail=True, max_num=max_num)
    return torch.stack([to_pixel_values(t, input_size) for t in tiles])
