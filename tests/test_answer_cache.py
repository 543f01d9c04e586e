"""The answer cache: keys, modes, resume after a failure, concurrent writers, the real tiny VLM."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench import Dataset, LoadOptions, Request
from pytest_vlmbench.datasets.builtin import load_digits
from pytest_vlmbench.evaluation.answer_cache import (
    AnswerCache,
    AnswerCacheError,
    AnswerCacheWarning,
    KeyMaker,
    default_path,
    model_identity,
)
from pytest_vlmbench.evaluation.channel import AdapterError, CacheUse
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.evaluation.evaluate import evaluate
from pytest_vlmbench.models import catalog
from pytest_vlmbench.models.base import Answer, Provides
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.options import OptionError, read_cache_options, run_options_from
from pytest_vlmbench.record import LatencyMs, Record, Throughput
from pytest_vlmbench.session.plan import Case
from pytest_vlmbench.session.execution import CaseError, DatasetCache, LoadedModel, run_case
from helpers import oracle, toy_dataset


def toy(n: int = 6) -> Dataset:
    return toy_dataset(n, name="cache-toy")


def sent(model: ScriptedModel) -> list[str]:
    """Every prompt the model was asked, in order."""
    return [r.prompt for batch in model.batches for r in batch]


def without_timings(record: Record) -> dict[str, Any]:
    """The record apart from what a cache changes: speed (with cache_hits), memory and tokens
    (a cached answer costs the model none)."""
    data = record.to_json()
    for key in ("throughput", "memory", "energy", "tokens"):
        data.pop(key, None)
    for prediction in data["predictions"]:
        prediction.pop("tokens", None)
    return data


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[AnswerCache]:
    opened = AnswerCache.open("readwrite", tmp_path / "answers.sqlite")
    assert opened is not None
    yield opened
    opened.close()


# -- keys ---------------------------------------------------------------------------------


def test_each_part_of_the_key_misses_when_changed(tmp_path: Path) -> None:
    digits = load_digits()
    one, two = digits.items[0].image(), digits.items[1].image()
    assert one is not None and two is not None
    model = ScriptedModel("m", oracle)
    keys = KeyMaker(model)
    base = Request("What digit?", one, 8)
    same = keys.key(Request("What digit?", one.copy(), 8))  # equal pixels, another object
    assert keys.key(base) == same
    changed = {
        "prompt": keys.key(Request("What digit? ", one, 8)),
        "image": keys.key(Request("What digit?", two, 8)),
        "image mode": keys.key(Request("What digit?", one.convert("L"), 8)),
        "no image": keys.key(Request("What digit?", None, 8)),
        "max_new_tokens": keys.key(Request("What digit?", one, 9)),
        "model name": KeyMaker(ScriptedModel("m2", oracle)).key(base),
        "classify": KeyMaker(model, ["a", "b"]).key(base),
    }
    other = ScriptedModel("m", oracle)
    other.info = replace(other.info, dtype="bfloat16")
    changed["dtype"] = KeyMaker(other).key(base)
    other = ScriptedModel("m", oracle, device="cuda:0")
    changed["device kind"] = KeyMaker(other).key(base)
    assert len({keys.key(base), *changed.values()}) == len(changed) + 1, changed
    # The device index is not part of it: cuda:0 and cuda:1 compute the same answers.
    assert KeyMaker(ScriptedModel("m", oracle, device="cuda:1")).key(base) == changed["device kind"]
    # classify: the class list is part of the key, max_new_tokens is not.
    assert KeyMaker(model, ["a", "b"]).key(base) != KeyMaker(model, ["b", "a"]).key(base)
    assert KeyMaker(model, ["a", "b"]).key(replace(base, max_new_tokens=99)) == changed["classify"]


def test_local_weights_are_fingerprinted(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 64}')
    (tmp_path / "model.safetensors").write_bytes(b"0" * 10)
    model = ScriptedModel("m", oracle)
    model.info = replace(model.info, source=str(tmp_path))
    first = model_identity(model)
    assert first["weights"]["config_sha256"] and ("model.safetensors", 10) == first["weights"]["files"][1][:2]
    (tmp_path / "config.json").write_text('{"hidden_size": 65}')
    assert model_identity(model) != first
    (tmp_path / "config.json").write_text('{"hidden_size": 64}')
    (tmp_path / "model.safetensors").write_bytes(b"0" * 11)
    assert model_identity(model)["weights"] != first["weights"]


def test_api_identity_is_base_url_without_credentials_and_model_id() -> None:
    model = ScriptedModel("api:m", oracle, device="api")
    model.info = replace(model.info, source="org/m", api_base="https://user:secret@host:8000/v1", retries=3)
    identity = model_identity(model)
    assert identity["api_base"] == "https://host:8000/v1"
    assert "secret" not in repr(identity) and "retries" not in identity and "weights" not in identity
    model.info = replace(model.info, retries=7)  # volatile facts never change the key
    assert model_identity(model) == identity


# -- the store and its modes -----------------------------------------------------------------


def test_hits_and_misses(cache: AnswerCache) -> None:
    assert cache.put_many([("a", "yes"), ("b", None)], "m") == 2
    assert cache.get_many(["a", "b", "c"]) == {"a": "yes", "b": None}
    assert cache.put_many([("a", "no")], "m") == 1  # the newest answer wins
    assert cache.get_many(["a"]) == {"a": "no"} and cache.count() == 2


def test_modes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "answers.sqlite"
    assert AnswerCache.open("off", path) is None and not path.parent.exists()
    reader = AnswerCache.open("read", path)
    assert reader is not None and reader.get_many(["a"]) == {} and not path.exists()  # read never creates it
    assert reader.put_many([("a", "x")]) == 0 and not path.exists()
    writer = AnswerCache.open("write", path)
    assert writer is not None and writer.put_many([("a", "x")]) == 1
    assert writer.get_many(["a"]) == {}  # write-only: stored, never read
    assert reader.get_many(["a"]) == {"a": "x"}  # the reader sees the file once it exists
    both = AnswerCache.open("readwrite", path)
    assert both is not None and both.get_many(["a"]) == {"a": "x"} and both.put_many([("b", "y")]) == 1
    for c in (reader, writer, both):
        c.close()


def test_default_path_is_under_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLMBENCH_CACHE_DIR", str(tmp_path))
    assert default_path() == tmp_path / "answers.sqlite"
    with AnswerCache.open("write") as c:  # type: ignore[union-attr]
        assert c.path == tmp_path / "answers.sqlite" and c.path.is_file()


def test_bad_mode_and_unusable_file_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(AnswerCacheError, match=r"^The answer cache mode must be one of off, read, write, readwrite, got 'rw'\.$"):
        AnswerCache.open("rw", tmp_path / "a.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AnswerCacheError) as info:
        AnswerCache.open("write", junk)
    message = str(info.value)
    assert message.startswith(f"The answer cache {junk} cannot be used (file is not a database)")
    assert message.endswith("or pass --vlmbench-cache off.") and "\n" not in message
    with pytest.warns(AnswerCacheWarning, match="Running without the answer cache"):
        assert AnswerCache.open("write", junk, required=False) is None
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(AnswerCacheError, match="cannot be used"):
        AnswerCache.open("write", blocked / "answers.sqlite")  # its directory is a file


def test_a_cache_that_breaks_mid_run_warns_once_and_the_run_goes_on(cache: AnswerCache) -> None:
    cache.put_many([("a", "x")])
    cache.path.unlink()
    cache.path.mkdir()  # the file is gone and cannot be recreated
    cache.close()
    with pytest.warns(AnswerCacheWarning, match="failed while writing"):
        assert cache.put_many([("b", "y")]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once
        assert cache.get_many(["a"]) == {} and cache.put_many([("c", "z")]) == 0


def _writer(path: str, worker: int, cache: AnswerCache) -> None:
    for batch in range(40):
        assert cache.put_many([(f"w{worker}-{batch}-{k}", f"answer {k}") for k in range(8)], f"w{worker}") == 8
        cache.get_many([f"w{1 - worker}-{batch}-0"])
    other = AnswerCache.open("readwrite", path)
    assert other is not None and other.put_many([(f"w{worker}-own", "x")]) == 1


def test_two_processes_writing_at_once_do_not_corrupt_it(cache: AnswerCache) -> None:
    cache.put_many([("parent", "x")])  # the parent's connection exists before the fork
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(cache.path), w, cache)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    assert cache.count() == 1 + 2 * 40 * 8 + 2
    assert cache.get_many(["w0-39-7", "w1-0-0", "parent"]) == {"w0-39-7": "answer 7", "w1-0-0": "answer 0", "parent": "x"}
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- through the evaluation -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["closed_set", "binary"])
def test_a_second_evaluation_asks_the_model_nothing(cache: AnswerCache, strategy: str) -> None:
    config = EvalConfig(batch_size=4)
    cold_model, warm_model = ScriptedModel("m", oracle), ScriptedModel("m", oracle)
    cold = evaluate(cold_model, toy(), strategy, config, answers=cache)
    warm = evaluate(warm_model, toy(), strategy, config, answers=cache)
    assert cold_model.batches and warm_model.batches == []
    assert without_timings(warm) == without_timings(cold)
    prompts = len(sent(cold_model))
    assert (cold.throughput.cache_hits, cold.throughput.n_requests, cold.throughput.resumed) == (0, prompts, False)
    assert (warm.throughput.cache_hits, warm.throughput.n_requests, warm.throughput.n_batches) == (prompts, 0, 0)
    assert warm.throughput.resumed and warm.throughput.model_time_s == 0 and warm.throughput.items_per_s == 0
    assert Record.from_json(warm.to_json()) == warm


def test_images_and_classify_go_through_the_cache(cache: AnswerCache) -> None:
    digits = load_digits().limited(5)

    class Classifier(ScriptedModel):
        provides: Provides = "classify"

        def classify(self, requests: Any, classes: Any) -> list[str | None]:
            self.batches.append(list(requests))
            return [classes[0] if r.image is not None else None for r in requests]

    first, second = Classifier("c", oracle), Classifier("c", oracle)
    cold = evaluate(first, digits, "direct", EvalConfig(), answers=cache)
    warm = evaluate(second, digits, "direct", EvalConfig(), answers=cache)
    assert len(sent(first)) == 5 and second.batches == [] and warm.throughput.cache_hits == 5
    assert without_timings(warm) == without_timings(cold)
    generated = evaluate(ScriptedModel("c", oracle), digits, "closed_set", EvalConfig(), answers=cache)
    assert generated.throughput.cache_hits == 0  # a generate request never meets a classify answer


def test_a_grown_run_asks_only_for_the_new_items(cache: AnswerCache) -> None:
    evaluate(ScriptedModel("m", oracle), toy(), "closed_set", EvalConfig(limit=3), answers=cache)
    model = ScriptedModel("m", oracle)
    record = evaluate(model, toy(), "closed_set", EvalConfig(), answers=cache)
    assert len(sent(model)) == 3 * 3 and all(re.search(r"item [345] ", p) for p in sent(model))
    assert (record.throughput.cache_hits, record.throughput.n_requests) == (9, 9) and record.throughput.items_per_s > 0


def test_items_per_s_leaves_out_items_and_time_answered_wholly_from_the_cache(cache: AnswerCache) -> None:
    use = CacheUse(cache, KeyMaker(ScriptedModel("m", oracle)), hits=3, cached_s=1.0)
    use.hit_items, use.model_items = {"a", "b"}, {"b", "c"}  # a: wholly cached; b: partly; c, d: model only
    latency = LatencyMs(0, 0, 0, 0, 0)
    measured = Throughput(4 / 5, 5.0, 3.0, 2, 5, latency, None)
    assert use.apply_to(measured, 4) == replace(measured, items_per_s=(4 - 1) / (5.0 - 1.0), cache_hits=3)
    use.model_items = set()
    assert use.apply_to(measured, 2).items_per_s == 0.0  # every item from the cache: no model work to time
    writer = AnswerCache.open("write", cache.path)
    assert writer is not None
    no_reads = CacheUse(writer, use.keys).apply_to(measured, 4)
    assert no_reads == measured and no_reads.cache_hits is None  # a write-only cache leaves items/s as it was


class OutOfMemoryError(RuntimeError):
    """Named like torch's: the batch plan halves the batch on it."""


def test_a_batch_halved_after_out_of_memory_counts_its_hits_once(cache: AnswerCache) -> None:
    evaluate(ScriptedModel("m", oracle), toy(), "closed_set", EvalConfig(limit=2), answers=cache)  # 6 prompts

    class Small(ScriptedModel):
        def generate(self, requests: Any) -> list[Answer]:
            if len(requests) > 1:
                raise OutOfMemoryError("CUDA out of memory")
            return super().generate(requests)

    model = Small("m", oracle)
    record = evaluate(model, toy(), "closed_set", EvalConfig(batch_size=8), answers=cache)
    assert record.throughput.oom_retries and record.throughput.final_batch_size == 1
    assert (record.throughput.cache_hits, record.throughput.n_requests, len(sent(model))) == (6, 12, 12)


def test_write_only_keeps_answers_and_reports_no_hits(tmp_path: Path) -> None:
    writer = AnswerCache.open("write", tmp_path / "a.sqlite")
    model = ScriptedModel("m", oracle)
    record = evaluate(model, toy(), "closed_set", EvalConfig(), answers=writer)
    again = evaluate(model, toy(), "closed_set", EvalConfig(), answers=writer)
    assert record.throughput.cache_hits is None and "cache_hits" not in record.to_json()["throughput"]
    assert len(sent(model)) == 2 * record.throughput.n_requests == 2 * again.throughput.n_requests
    assert writer is not None and writer.count() == record.throughput.n_requests
    plain = evaluate(ScriptedModel("m", oracle), toy(), "closed_set", EvalConfig())
    assert "cache_hits" not in plain.to_json()["throughput"]


def test_requests_that_fail_for_good_keep_the_rest_and_a_rerun_asks_only_for_them(cache: AnswerCache) -> None:
    def fails(request: Request) -> bool:
        return "about a dog" in request.prompt

    config = EvalConfig(batch_size=64)  # one batch: the rerun must ask exactly the failed prompts
    broken = ScriptedModel("m", oracle, fails=fails)
    with pytest.raises(AdapterError) as info:
        evaluate(broken, toy(), "closed_set", config, answers=cache)
    message = str(info.value)
    failed = [p for p in sent(broken) if "about a dog" in p]
    kept = len(sent(broken)) - len(failed)
    assert message == (
        f"{len(failed)} of {len(sent(broken))} requests to m failed for good; {kept} answers of this evaluation are "
        f"kept in the answer cache, so a rerun with --vlmbench-resume asks the model only for the rest."
    )
    assert cache.count() == kept
    healed = ScriptedModel("m", oracle)
    record = evaluate(healed, toy(), "closed_set", config, answers=cache)
    assert sorted(sent(healed)) == sorted(failed) and record.throughput.cache_hits == kept
    assert without_timings(record) == without_timings(evaluate(ScriptedModel("m", oracle), toy(), "closed_set", config))


def test_a_failure_in_a_later_batch_keeps_the_earlier_batches(cache: AnswerCache) -> None:
    broken = ScriptedModel("m", oracle, fails=lambda r: "about a bird" in r.prompt)
    with pytest.raises(AdapterError, match="are kept in the answer cache"):
        evaluate(broken, toy(), "closed_set", EvalConfig(batch_size=2), answers=cache)
    asked = sent(broken)
    answered_before = {p for p in asked if "about a bird" not in p}
    # Batches go shortest item text first: the cat and dog items (t0 t1 t3 t4), then bird's t2 failed.
    assert len(broken.batches) == 7 and len(answered_before) == 12 == cache.count()
    healed = ScriptedModel("m", oracle)
    record = evaluate(healed, toy(), "closed_set", EvalConfig(batch_size=2), answers=cache)
    assert not answered_before & set(sent(healed)) and len(sent(healed)) == 18 - 12 == record.throughput.n_requests


def test_without_a_written_cache_the_sentence_says_nothing_was_kept(tmp_path: Path) -> None:
    broken = ScriptedModel("m", oracle, fails=lambda r: "about a dog" in r.prompt)
    with pytest.raises(AdapterError) as info:
        evaluate(broken, toy(), "closed_set", EvalConfig(batch_size=64))
    assert str(info.value).endswith("so the 12 answers that did arrive are not kept (--vlmbench-resume keeps them).")
    assert str(info.value).count(". ") == 0


def test_run_case_passes_the_cache_and_turns_a_failure_into_one_sentence(cache: AnswerCache) -> None:
    options = run_options_from({"limit": 6})
    datasets = DatasetCache(load=lambda *args: (toy(), ()))
    case = Case("m", "cache-toy", "closed_set")
    broken = LoadedModel("m", ScriptedModel("m", oracle, fails=lambda r: "about a dog" in r.prompt))
    with pytest.raises(CaseError, match=r"^3 of 8 requests to m failed for good; 5 answers of this evaluation are kept "
                       r"in the answer cache, so a rerun with --vlmbench-resume asks the model only for the rest\.$"):
        run_case(case, broken, options, datasets, answers=cache)
    healed = ScriptedModel("m", oracle)
    record = run_case(case, LoadedModel("m", healed), options, datasets, answers=cache)
    assert record.throughput.cache_hits == 5 and len(sent(healed)) == 18 - 5 == record.throughput.n_requests


# -- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache", "resume", "expected"),
    [
        (None, False, ("write", False, False)),
        ("off", False, ("off", False, True)),
        ("read", False, ("read", False, True)),
        (None, True, ("readwrite", True, True)),
        ("readwrite", True, ("readwrite", True, True)),
    ],
)
def test_cache_options(cache: str | None, resume: bool, expected: tuple[str, bool, bool]) -> None:
    values = {"vlmbench_cache": cache, "vlmbench_resume": resume}
    got = read_cache_options(values.__getitem__)
    assert (got.mode, got.resume, got.explicit) == expected


@pytest.mark.parametrize(
    ("cache", "resume", "sentence"),
    [
        ("on", False, "--vlmbench-cache must be one of off, read, write, readwrite, got 'on'."),
        ("off", True, "--vlmbench-resume reads and writes the answer cache, so it cannot be combined with --vlmbench-cache off."),
        ("write", True, "--vlmbench-resume reads and writes the answer cache, so it cannot be combined with --vlmbench-cache write."),
    ],
)
def test_bad_cache_options_are_one_sentence(cache: str, resume: bool, sentence: str) -> None:
    values = {"vlmbench_cache": cache, "vlmbench_resume": resume}
    with pytest.raises(OptionError) as info:
        read_cache_options(values.__getitem__)
    assert str(info.value) == sentence


# -- the real adapter ---------------------------------------------------------------------


@pytest.mark.slow  # the tiny Qwen2-VL on digits, twice (~9 s)
def test_tiny_qwen2_vl_gives_the_same_record_warm_as_cold(cache: AnswerCache) -> None:
    model, load_s = catalog.load_model(catalog.resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    try:
        digits = load_digits()
        config = EvalConfig(limit=6)
        calls: list[int] = []
        generate = model.generate  # type: ignore[union-attr]

        def counted(requests: Any) -> list[Answer]:
            calls.append(len(requests))
            return generate(requests)

        model.generate = counted  # type: ignore[union-attr,method-assign]
        cold = evaluate(model, digits, "closed_set", config, model_load_s=load_s, answers=cache)
        cold_calls = list(calls)
        warm = evaluate(model, digits, "closed_set", config, model_load_s=load_s, answers=cache)
    finally:
        model.close()
    assert sum(cold_calls) == cold.throughput.n_requests == 18 and calls == cold_calls  # nothing asked warm
    assert warm.throughput.cache_hits == 18 and warm.throughput.n_requests == 0
    assert without_timings(warm) == without_timings(cold)
    assert model_identity(model)["weights"]["config_sha256"]  # the tiny build's directory is fingerprinted
