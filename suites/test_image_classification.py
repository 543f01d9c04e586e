"""Image classification: every selected model x image dataset x strategy.

Without options this runs the offline default: a tiny random-weight Qwen2-VL on
Fashion-MNIST (digits when the Debian package is missing) with both strategies.
Its accuracy is chance by construction; it exercises every code path on a CPU. Quality is
judged by the regression gate against a baseline run (``--vlmbench-baseline``, docs/ci.md),
not by a fixed bar here.
"""

import pytest

pytestmark = pytest.mark.vlmbench(
    strategies=["closed_set", "binary", "direct"],
    modality="image",
    # A classifier (CLIP, SigLIP) picks one of the classes for every image: an invalid answer
    # there is a bug, while a prompted model's free text may miss the list (the gate judges it).
    max_invalid_rate={"direct": 0.0},
)


def test_image_classification(vlmbench):
    record = vlmbench.run()
    assert record.n_items > 0, "no item was evaluated"
