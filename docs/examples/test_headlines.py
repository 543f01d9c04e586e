import pytest

pytestmark = pytest.mark.vlmbench(models=["keyword"], datasets=["headlines"], strategies=["closed_set", "binary"])


def test_headlines(vlmbench):
    record = vlmbench.run()
    assert record.metrics.accuracy >= 0.5, "the keyword baseline should get the easy headlines"
