"""Image classification: every selected model x image dataset x strategy.

Without options this runs the offline default: a tiny random-weight Qwen2-VL on
Fashion-MNIST (digits when the Debian package is missing) with both strategies.
Its accuracy is chance by construction; it exercises every code path on a CPU.
"""

import pytest

pytestmark = pytest.mark.vlmbench(strategies=["closed_set", "binary", "direct"], modality="image")


def test_image_classification(vlmbench):
    record = vlmbench.run()
    assert record.n_items > 0
    assert 0.0 <= record.metrics.accuracy <= 1.0
