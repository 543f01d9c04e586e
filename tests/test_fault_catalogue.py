"""The fault catalogue: bad inputs through a real pytest run, each ending in one sentence.

Every row runs pytest (in-process, through pytester) on a small project: scripted models
on a toy text dataset, plus whatever the row plants. Each asserts the exit code, that the
expected sentence is printed on one line, that no traceback is shown, and — for faults of
one item — that the healthy ``oracle`` items still ran and passed. docs/reliability.md
lists the same rows.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import toy_conftest

pytest_plugins = ["pytester"]

CONFTEST = toy_conftest(n=9, extra=r'''
from pytest_vlmbench import ModelSpec

def lonely():
    return Dataset("lonely", ("cat",), [Item("x", "cat", "a cat")], modality="text", source="generated")

DATASETS.register("lonely", lonely, modality="text", offline=True, replace=True)

TEXT = frozenset({"text"})
MODELS.register("oracle", scripted_spec("oracle", oracle, modalities=TEXT, strategies=("closed_set",)), replace=True)

def broken(source, spec, options):
    raise OSError("weights file is truncated")

MODELS.register("broken", ModelSpec("broken", "nowhere", "scripted", broken, modalities=TEXT, strategies=("closed_set",)), replace=True)

class Short(ScriptedModel):
    def generate(self, requests):
        return super().generate(requests)[:-1]

MODELS.register("short", ModelSpec("short", "x", "scripted", lambda s, spec, o: Short(spec.name, oracle), modalities=TEXT, strategies=("closed_set",)), replace=True)

def flaky(source, spec, options):
    return ScriptedModel(spec.name, oracle, fails=lambda r: "t4" in r.prompt or "about a bird" in r.prompt)

MODELS.register("seer", scripted_spec("seer", lambda r: "no", modalities=frozenset({"image"}), strategies=("binary",)), replace=True)
MODELS.register("flaky", ModelSpec("flaky", "x", "scripted", flaky, modalities=TEXT, strategies=("closed_set",)), replace=True)
''')

SUITE = """
def test_bench(vlmbench):
    vlmbench.run()
"""


@dataclass(frozen=True)
class Fault:
    """One bad input: the command line, files to plant, and what must come of it."""

    args: tuple[str, ...]
    sentence: str
    """A fragment of the one line that must be printed (``*`` wildcards allowed)."""
    exit_code: int = pytest.ExitCode.USAGE_ERROR
    passed: int = 0
    """Healthy items that must still pass (the oracle's)."""
    failed: int = 0
    plant: Callable[[Path], None] | None = field(default=None, compare=False)


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return plant


def inconsistent_baseline(root: Path) -> None:
    from helpers import make_record, run_document

    record = make_record(["cat", "dog", "bird"], ["cat", "dog", "dog"], model="oracle", dataset="toy")
    document = run_document([record])
    document["benchmarks"][0]["extra_info"]["vlmbench"]["metrics"]["accuracy"] = 0.99  # hand-edited
    (root / "edited.json").write_text(json.dumps(document))


M = ("--model", "oracle", "--dataset", "toy")
ONE_ITEM: dict[str, Any] = {"exit_code": pytest.ExitCode.TESTS_FAILED, "passed": 1, "failed": 1}
"""A fault of one item: it fails, the healthy oracle item beside it passes."""

CATALOGUE: dict[str, Fault] = {
    # -- options: usage errors before anything loads ----------------------------------
    "batch-size-0": Fault((*M, "--batch-size", "0"), "*--batch-size must be a positive whole number, got 0.*"),
    "limit-negative": Fault((*M, "--limit", "-3"), "*--limit must be a positive whole number, got -3.*"),
    "seed-not-a-number": Fault((*M, "--seed", "1,x"), "*--seed takes whole numbers of zero or more*got 'x'.*"),
    "answer-style": Fault((*M, "--answer-style", "yaml"), "*--answer-style must be one of plain, json, got 'yaml'.*"),
    "device": Fault((*M, "--device", "gpu"), "*--device must be auto, cpu, mps, cuda or cuda:N, got 'gpu'.*"),
    "dtype": Fault((*M, "--dtype", "int4"), "*--dtype must be one of auto, bfloat16, float16, float32, got 'int4'.*"),
    "k-shot-negative": Fault((*M, "--k-shot", "-1"), "*--k-shot must be zero (zero-shot) or a positive number*"),
    "one-class-sweep": Fault((*M, "--num-classes", "1"), "*--num-classes must be at least 2*"),
    "unknown-model": Fault(("--model", "qwen-vl-nonexistent"), "*Unknown model 'qwen-vl-nonexistent'*"),
    "unknown-dataset": Fault(("--dataset", "nosuchset"), "*Unknown dataset 'nosuchset'*"),
    "missing-file": Fault(("--dataset", "./missing.csv"), "*No file or folder at './missing.csv' (--dataset).*"),
    "unknown-strategy": Fault((*M, "--strategy", "binnary"), "*Unknown strategy 'binnary'. Did you mean 'binary'?*"),
    "strategy-fits-no-model": Fault((*M, "--strategy", "direct"), "*--strategy direct fits none of the selected models*"),
    "label-map-syntax": Fault((*M, "--label-map", "LABEL_0"), "*--label-map takes LABEL=CLASS pairs separated by commas, got 'LABEL_0'.*"),
    "api-concurrency-0": Fault((*M, "--api-concurrency", "0"), "*--api-concurrency must be a positive whole number, got 0.*"),
    "json-is-a-folder": Fault((*M, "--vlmbench-json", "."), "*--vlmbench-json . is a folder; give a file path*"),
    "json-under-a-file": Fault((*M, "--vlmbench-json", "plain.txt/out.json"), "*--vlmbench-json plain.txt/out.json cannot be created: plain.txt is a file, not a folder.*", plant=write("plain.txt", "x")),
    "benchmark-json-is-a-folder": Fault((*M, "--benchmark-json", "."), "*--benchmark-json . is a folder; give a file path*"),
    "fail-on-without-baseline": Fault((*M, "--vlmbench-fail-on", "accuracy:0.02"), "*--vlmbench-fail-on needs a baseline: add --vlmbench-baseline PATH or --benchmark-compare.*"),
    "baseline-missing": Fault((*M, "--vlmbench-baseline", "nope.json"), "*--vlmbench-baseline: File 'nope.json' does not exist.*"),
    "baseline-not-json": Fault((*M, "--vlmbench-baseline", "junk.json"), "*--vlmbench-baseline: 'junk.json' is not JSON*", plant=write("junk.json", "{oops")),
    "baseline-hand-edited": Fault((*M, "--vlmbench-baseline", "edited.json"), "*metrics.accuracy is 0.99 but its predictions give 0.666667*re-create it.*", plant=inconsistent_baseline),
    "threshold-unreachable": Fault((*M, "--vlmbench-baseline", "edited.json", "--vlmbench-fail-on", "accuracy:150%"), "*accuracy cannot fall by more than 100%*", plant=inconsistent_baseline),
    "threshold-unknown-metric": Fault((*M, "--vlmbench-baseline", "edited.json", "--vlmbench-fail-on", "acuracy:0.1"), "*did you mean 'accuracy'?*", plant=inconsistent_baseline),
    "alpha-out-of-range": Fault((*M, "--vlmbench-baseline", "edited.json", "--vlmbench-alpha", "2"), "*--vlmbench-alpha must be between 0 and 1 (exclusive), got '2'.*", plant=inconsistent_baseline),
    "cache-mode": Fault((*M, "--vlmbench-cache", "on"), "*--vlmbench-cache must be one of off, read, write, readwrite, got 'on'.*"),
    "resume-without-cache": Fault((*M, "--vlmbench-resume", "--vlmbench-cache", "off"), "*--vlmbench-resume reads and writes the answer cache, so it cannot be combined with --vlmbench-cache off.*"),
    # -- one item fails in one sentence; the others run ----------------------------------
    "model-cannot-load": Fault(("--model", "oracle,broken", "--dataset", "toy"), "*Model 'broken' could not be loaded: OSError: weights file is truncated*", **ONE_ITEM),
    "adapter-breaks-contract": Fault(("--model", "oracle,short", "--dataset", "toy"), "*Model 'short' returned * results for * requests; an adapter's generate() must return one answer per request, in order.*", **ONE_ITEM),
    "requests-fail-for-good": Fault(("--model", "oracle,flaky", "--dataset", "toy"), "*requests to flaky failed for good; * answers of this evaluation are kept in the answer cache*", **ONE_ITEM),
    "one-class-dataset": Fault(("--model", "oracle", "--dataset", "toy,lonely"), "*Dataset 'lonely' has only one class ('cat'); a classification needs at least two*", **ONE_ITEM),
    "ragged-csv": Fault(("--model", "oracle", "--dataset", "toy,ragged.csv"), "*in *ragged.csv, line 3 has 3 fields where the header has 2*", plant=write("ragged.csv", "text,label\nabout a cat,cat\nabout, a dog,dog\n"), **ONE_ITEM),
    "broken-jsonl": Fault(("--model", "oracle", "--dataset", "toy,broken.jsonl"), "*broken.jsonl, line 2 is not valid JSON*", plant=write("broken.jsonl", '{"text": "about a cat", "label": "cat"}\n{"text": "about a dog" "label": "dog"}\n{"text": "x", "label": "dog"}\n'), **ONE_ITEM),
    "truncated-parquet": Fault(("--model", "oracle", "--dataset", "toy,cut.parquet"), "*cut.parquet (* bytes) is not a readable Parquet file*", plant=write("cut.parquet", b"PAR1\x00\x01\x02"), **ONE_ITEM),
    "not-utf8": Fault(("--model", "oracle", "--dataset", "toy,latin.csv"), "*latin.csv, line 3 is not UTF-8*", plant=write("latin.csv", b"text,label\nabout a cat,cat\nabout a caf\xe9 dog,dog\n"), **ONE_ITEM),
    "hub-dataset-offline": Fault(("--model", "oracle", "--dataset", "toy,ag_news"), "*ag_news*", **ONE_ITEM),
    "unknown-split": Fault(("--model", "oracle", "--dataset", "toy,bbc_news", "--split", "validation", "--limit", "3"), "*bbc_news*split*", exit_code=pytest.ExitCode.TESTS_FAILED, failed=2),
    "k-shot-on-images": Fault(("--model", "oracle,seer", "--dataset", "toy,digits", "--k-shot", "1", "--limit", "3"), "*Model 'seer' takes one image per prompt, so it cannot be shown 1 image exemplars; run it with --k-shot 0*", **ONE_ITEM),
    # -- silently wrong before: now said, and the run goes on ------------------------------
    "empty-text-cell": Fault(("--model", "oracle", "--dataset", "toy,gaps.csv"), "*oracle-gaps-closed_set: 1 unreadable item(s) left out of the metrics: *", exit_code=pytest.ExitCode.OK, passed=2, plant=write("gaps.csv", "text,label\nabout a cat,cat\n,dog\nabout a dog,dog\n")),
    "text-model-on-image-folder": Fault(("--model", "oracle", "--dataset", "toy,pics"), "*not run: oracle on pics: it reads text, the dataset holds image*", exit_code=pytest.ExitCode.OK, passed=1, plant=lambda root: _image_folder(root / "pics")),
}


def _image_folder(root: Path) -> None:
    from PIL import Image

    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / cls / "a.png")


def run(pytester: pytest.Pytester, fault: Fault) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    if fault.plant is not None:
        fault.plant(pytester.path)
    return pytester.runpytest(*fault.args, "-p", "no:randomly", "-p", "no:cacheprovider")


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_fault_catalogue(pytester: pytest.Pytester, name: str) -> None:
    fault = CATALOGUE[name]
    result = run(pytester, fault)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == fault.exit_code, output[-3000:]
    if fault.sentence:
        matches = [line for line in output.splitlines() if fnmatch.fnmatch(line, fault.sentence)]
        assert matches, f"no line matches {fault.sentence!r}:\n{output[-3000:]}"
    assert "Traceback" not in output and "Error: " not in output.replace("OSError: weights", ""), output[-3000:]
    if fault.exit_code != pytest.ExitCode.USAGE_ERROR:
        result.assert_outcomes(passed=fault.passed, failed=fault.failed)


def test_catalogue_covers_at_least_forty_inputs_with_the_api_and_data_rows() -> None:
    """The issue asks for at least 40: the API and image rows live in their own files (listed here)."""
    elsewhere = {
        "tests/test_api_adapter.py": ["429", "500", "garbage", "401", "connection refused", "no scheme", "echoed key"],
        "tests/test_dataset_faults.py": ["16-bit image", "empty text cell", "image folder with a text-only model"],
    }
    assert len(CATALOGUE) + sum(len(v) for v in elsewhere.values()) >= 40
