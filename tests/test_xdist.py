"""pytest-xdist: one worker per model, every record in the JSON, GPUs shared out, --benchmark-json written."""

from __future__ import annotations

import json

import pytest

from pytest_vlmbench.session.gpus import gpu_for_worker, pin_worker, visible_gpus
from helpers import toy_conftest

pytest_plugins = ["pytester"]

CONFTEST = toy_conftest(n=6, extra="""
for name in ("m-a", "m-b"):
    MODELS.register(name, scripted_spec(name, lambda r: "It is a cat.", modalities=frozenset({"text"})))
""")

SUITE = '''
import pytest
pytestmark = pytest.mark.vlmbench(models=["m-a", "m-b"], datasets=["toy"], strategies=["closed_set", "binary"])

def test_toy(vlmbench):
    vlmbench.run()
'''


@pytest.mark.slow  # pytest in a subprocess, with xdist workers
def test_each_model_loads_once_on_one_worker_and_every_output_is_written(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-n", "2", "-v", "--vlmbench-json", "out.json", "--benchmark-json", "bench.json")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*PASSED test_suite.py::test_toy*@m-a*"])  # grouped by model ...
    ours = json.loads((pytester.path / "out.json").read_text())
    assert sorted((b["extra_info"]["vlmbench"]["model"], b["extra_info"]["vlmbench"]["strategy"]) for b in ours["benchmarks"]) == [
        ("m-a", "binary"), ("m-a", "closed_set"), ("m-b", "binary"), ("m-b", "closed_set"),
    ]  # fmt: skip
    models = ours["vlmbench"]["models"]
    assert {name: info["loads"] for name, info in models.items()} == {"m-a": 1, "m-b": 1}
    assert all(len(info["workers"]) == 1 and info["workers"][0].startswith("gw") for info in models.values())
    # pytest-benchmark writes nothing under xdist: the plugin writes it, and says so.
    bench = json.loads((pytester.path / "bench.json").read_text())
    assert len(bench["benchmarks"]) == 4 and bench["vlmbench"]["status"] == "complete"
    assert not any("@" in b["fullname"] for b in ours["benchmarks"])  # ... but named as without -n
    result.stdout.fnmatch_lines(["*pytest-benchmark records nothing under xdist*bench.json*"])


@pytest.mark.slow  # pytest in a subprocess, with xdist workers
def test_an_explicit_dist_mode_is_left_alone(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-n", "2", "-v", "--dist", "loadfile")
    result.assert_outcomes(passed=4)
    assert "@m-a" not in result.stdout.str()  # loadgroup would have suffixed the group name


@pytest.mark.parametrize(
    ("worker", "visible", "gpu"),
    [("gw0", ["0", "1"], "0"), ("gw1", ["0", "1"], "1"), ("gw2", ["0", "1"], "0"), ("gw3", ["4", "5", "6"], "4"),
     ("gw1", ["0"], None), ("gw0", [], None), ("main", ["0", "1"], None)],
)  # fmt: skip
def test_workers_share_the_visible_gpus_round_robin(worker: str, visible: list[str], gpu: str | None) -> None:
    assert gpu_for_worker(worker, visible) == gpu


def test_pinning_narrows_cuda_visible_devices() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "2, 3"}
    assert visible_gpus(env) == ["2", "3"]
    assert pin_worker("gw1", env) == "3" and env["CUDA_VISIBLE_DEVICES"] == "3"
    single = {"CUDA_VISIBLE_DEVICES": "7"}
    assert pin_worker("gw1", single) is None and single["CUDA_VISIBLE_DEVICES"] == "7"
