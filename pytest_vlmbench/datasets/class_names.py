"""The class names of the built-in datasets, in label order; importing this loads nothing.

Kept apart from :mod:`.builtin` (which reads the images) so that the tiny models' vocabularies
(:mod:`pytest_vlmbench.models.tiny`) and the hub copy of Fashion-MNIST (:mod:`.hub_catalog`)
share them without importing a loader.
"""

from __future__ import annotations

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
