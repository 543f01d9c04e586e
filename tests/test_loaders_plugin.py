"""Dataset options through the plugin (pytester, scripted models): paths, columns, sweeps, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# pytester's in-process runs restore sys.modules afterwards, and pyarrow refuses to register
# datasets' extension types twice: import datasets once here, so it stays loaded.
import datasets  # noqa: F401
from helpers import toy_conftest

pytest_plugins = ["pytester"]

# The toy project's oracle reads "about a cat" in each row's text; its own toy dataset goes unused.
CONFTEST = toy_conftest('MODELS.register("oracle", scripted_spec("oracle", oracle, modalities=frozenset({"text", "image"})), replace=True)\n')

SUITE = '''
def test_data(vlmbench):
    vlmbench.run()
'''

CLASSES = ("cat", "dog", "bird", "fish")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    rows = "".join(f"p{k},this is about a {CLASSES[k % 4]},{CLASSES[k % 4]}\n" for k in range(12))
    (pytester.path / "posts.csv").write_text("id,post,verdict\n" + rows)
    return pytester


def records(path: Path) -> list[dict[str, Any]]:
    return [b["extra_info"]["vlmbench"] for b in json.loads(path.read_text())["benchmarks"]]


def test_csv_path_with_named_columns(suite: pytest.Pytester) -> None:
    result = suite.runpytest(
        "--model", "oracle", "--dataset", "posts.csv", "--strategy", "closed_set",
        "--text-column", "post", "--label-column", "verdict", "--vlmbench-json", "out.json", "-p", "no:benchmark",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    (record,) = records(suite.path / "out.json")
    assert record["dataset"] == "posts" and record["n_items"] == 12 and record["metrics"]["accuracy"] == 1.0
    assert record["dataset_fingerprint"]["n_items"] == 12 and record["config"]["num_classes"] == 4


def test_num_classes_sweep_gives_one_item_per_count(suite: pytest.Pytester) -> None:
    args = ["--model", "oracle", "--dataset", "posts.csv", "--strategy", "closed_set", "--label-column", "verdict"]
    result = suite.runpytest(*args, "--num-classes", "2,3", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_data[[]oracle-posts.csv-2cls-closed_set[]]", "*test_data[[]oracle-posts.csv-3cls-closed_set[]]"])
    result = suite.runpytest(*args, "--num-classes", "2,3", "--per-class", "2", "--vlmbench-json", "out.json", "-p", "no:benchmark")
    result.assert_outcomes(passed=2)
    by_count = {r["config"]["num_classes"]: r for r in records(suite.path / "out.json")}
    assert set(by_count) == {2, 3}
    assert set(by_count[2]["classes"]) <= set(by_count[3]["classes"])  # nested
    assert by_count[3]["n_items"] == 6 and by_count[3]["config"]["per_class"] == 2
    result.stdout.fnmatch_lines(["*oracle-posts-2cls-closed_set*", "*oracle-posts-3cls-closed_set*"])


def test_unreadable_images_are_listed_and_the_run_goes_on(suite: pytest.Pytester) -> None:
    from PIL import Image

    for cls in ("cat", "dog"):
        (suite.path / "pics" / cls).mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (8, 8)).save(suite.path / "pics" / cls / f"{k}.png")
    (suite.path / "pics" / "dog" / "1.png").write_bytes(b"broken")
    result = suite.runpytest("--model", "oracle", "--dataset", "pics", "--strategy", "closed_set", "--vlmbench-json", "out.json", "-p", "no:benchmark")
    result.assert_outcomes(passed=1)
    (record,) = records(suite.path / "out.json")
    assert record["n_items"] == 3 and record["n_errors"] == 1 and record["errors"][0]["id"] == "dog/1.png"
    result.stdout.fnmatch_lines(["*oracle-pics-closed_set: 1 unreadable item(s) left out of the metrics: dog/1.png"])


def test_too_many_classes_fails_the_item_in_one_sentence(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--model", "oracle", "--dataset", "posts.csv", "--strategy", "closed_set", "--label-column", "verdict", "--num-classes", "9", "-p", "no:benchmark")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--num-classes 9 asks for more classes than dataset 'posts' has with items (4).*"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-classes", "1"], "*--num-classes must be at least 2*"),
        (["--num-classes", "ten"], "*--num-classes takes whole numbers separated by commas*"),
        (["--per-class", "0"], "*--per-class must be a positive whole number, got 0.*"),
        (["--dataset", "./missing.csv"], "*No file or folder at './missing.csv' (--dataset).*"),
    ],
)
def test_bad_dataset_options_are_usage_errors(suite: pytest.Pytester, args: list[str], message: str) -> None:
    result = suite.runpytest("--model", "oracle", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_help_lists_the_dataset_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--split=NAME*", "*--text-column=COL*", "*--num-classes=N*", "*--per-class=K*", "*--background-class=NAME*"])
