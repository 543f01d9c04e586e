"""Cost in US dollars and energy per item (issue #12, point 5): the arithmetic, the price
options and their errors, the record's JSON, the summary table and ``vlmbench compare``.

The evaluations are real (a scripted text model that reports token counts as the API
adapter does from ``usage``, a scripted classifier); the arithmetic is checked on records
whose tokens and seconds are set by hand, so every expected dollar figure is worked out here.
"""

from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench import EvalConfig, evaluate
from pytest_vlmbench.cli import main
from pytest_vlmbench.evaluation.cost import CostMeter
from pytest_vlmbench.evaluation.pricing import Price, PriceError, Pricing, parse_price
from pytest_vlmbench.gate.metrics import DEFAULT_DISPLAY, METRICS
from helpers import make_record, oracle, run_document, toy_dataset
from pytest_vlmbench.models.api import OpenAIChatModel
from pytest_vlmbench.models.base import Answer, LoadOptions, Request
from pytest_vlmbench.models.zoo import make_spec
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.options import BY_DEST, OptionError, read_run_options, run_options_from
from pytest_vlmbench.session.plan import Suite, plan_suite
from pytest_vlmbench.session.execution import DatasetCache, ModelLoader, run_case
from pytest_vlmbench.record import Cost, Energy, Record
from pytest_vlmbench.record.cost import format_usd
from pytest_vlmbench.record.training import Training
from pytest_vlmbench.session.summary import summary_lines
from pytest_vlmbench.record.tokens import Tokens

CLASSES = ("cat", "dog", "bird")


def _record(model: str = "api:gpt-4", device: str = "api", n: int = 1000, items_per_s: float = 1.0, **fields: Any) -> Record:
    labels = [CLASSES[k % 3] for k in range(n)]
    record = make_record(labels, labels, classes=CLASSES, model=model, device=device, items_per_s=items_per_s)
    return replace(record, **fields)


def _training(seconds: float, reused: bool = False) -> Training:
    return Training(
        method="finetune", split="train", items=100, seconds=seconds, items_per_s=100 / seconds, peak_memory_mb=10.0,
        device="cpu", hyperparameters={"base": "bert"}, reused=reused, cache_key="k", data_sha256="d",
    )  # fmt: skip


# -- the arithmetic ------------------------------------------------------------------------


def test_token_cost_is_tokens_times_price_per_million() -> None:
    record = _record(tokens=Tokens(prompt=2_000_000, shared=500_000, generated=100_000))
    cost = Pricing((Price("gpt-4", 30.0, 60.0),)).cost_of(record)
    assert cost is not None and cost.method == "tokens"
    # Every prompt token at the input price, shared ones included: 2M x $30/M + 0.1M x $60/M.
    assert cost.usd == pytest.approx(60.0 + 6.0)
    assert cost.usd_per_1k_items == pytest.approx(66.0)  # 1000 items
    assert cost.basis == (
        "2000000 prompt tokens x $30/M + 100000 generated tokens x $60/M "
        "(price for gpt-4; every prompt token at the input price)"
    )
    assert (cost.usd_per_m_input, cost.usd_per_m_output, cost.usd_per_hour) == (30.0, 60.0, None)


def test_price_names_match_with_or_without_the_api_prefix_and_the_last_wins() -> None:
    pricing = Pricing((Price("gpt-4", 30.0, 60.0), Price("api:gpt-3.5-turbo", 0.5, 1.5), Price("GPT-4", 10.0, 20.0)))
    assert pricing.price_for("api:gpt-4") == Price("GPT-4", 10.0, 20.0)  # a later entry (the flag after the ini) wins
    assert pricing.price_for("gpt-3.5-turbo") == Price("api:gpt-3.5-turbo", 0.5, 1.5)
    assert pricing.price_for("api:gpt-4o") is None


def test_hourly_cost_counts_evaluation_and_training_seconds() -> None:
    # 500 items at 1 item/s: 500 s of evaluation, plus 1300 s of training = 1800 s = half an hour.
    record = _record("bert", "cuda:0", n=500, training=_training(1300.0))
    cost = Pricing(hour_usd=4.0).cost_of(record)
    assert cost is not None and cost.method == "hourly"
    assert cost.seconds == pytest.approx(1800.0) and cost.usd == pytest.approx(2.0)
    assert cost.training_usd == pytest.approx(1300 * 4 / 3600)
    assert cost.usd_per_1k_items == pytest.approx(4.0)  # $2 over 500 items
    assert cost.basis == "500.0 s evaluation + 1300.0 s training = 1800.0 s x $4/h on cuda:0 (model load excluded)"
    reused = Pricing(hour_usd=4.0).cost_of(replace(record, training=_training(1300.0, reused=True)))
    assert reused is not None and "(weights from the cache: the run that trained them)" in reused.basis


def test_dollars_and_seconds_read_without_exponents() -> None:
    assert [format_usd(x) for x in (0.0, 4.326e-05, 0.09135, 0.125, 66.0, 1234.5)] == [
        "0.00", "0.0000433", "0.0914", "0.125", "66.00", "1,234.50"]  # fmt: skip
    cost = Pricing(hour_usd=1.5).cost_of(_record("tiny:bert", "cpu", n=2, items_per_s=40.0))
    assert cost is not None and cost.basis == "0.050 s evaluation x $1.5/h on cpu (model load excluded)"


def test_hourly_cost_without_training_has_no_training_part() -> None:
    cost = Pricing(hour_usd=3.6).cost_of(_record("tiny:qwen2-vl", "cpu", n=10, items_per_s=2.0))
    assert cost is not None and cost.seconds == pytest.approx(5.0) and cost.usd == pytest.approx(0.005)
    assert cost.training_usd is None and "training" not in cost.basis


def test_which_rule_prices_which_model() -> None:
    counted = Tokens(prompt=1000, generated=10)
    both = Pricing((Price("gpt-4", 1.0, 2.0),), hour_usd=2.0)
    assert Pricing(hour_usd=2.0).cost_of(_record(tokens=counted)) is None  # an API is not billed by our hour
    assert both.cost_of(_record(tokens=None)) is None  # a server without usage: nothing honest to price
    local = both.cost_of(_record("tiny:qwen2-vl", "cpu", tokens=counted))
    assert local is not None and local.method == "hourly"  # no price for it: the local rate
    priced_local = Pricing((Price("tiny:qwen2-vl", 1.0, 2.0),), hour_usd=2.0).cost_of(_record("tiny:qwen2-vl", "cpu", tokens=counted))
    assert priced_local is not None and priced_local.method == "tokens"  # a price names it: by its tokens
    assert Pricing().cost_of(_record(tokens=counted)) is None
    assert Pricing(hour_usd=1.0).cost_of(_record("bert", "cpu", n=0)).usd_per_1k_items == 0.0  # type: ignore[union-attr]


# -- the options and their errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt-4", "--vlmbench-price takes MODEL=IN/OUT, US dollars per million input and output tokens (e.g. gpt-4o=2.5/10), got 'gpt-4'."),
        ("gpt-4=30", "--vlmbench-price takes MODEL=IN/OUT, US dollars per million input and output tokens (e.g. gpt-4o=2.5/10), got 'gpt-4=30'."),
        ("=1/2", "--vlmbench-price takes MODEL=IN/OUT, US dollars per million input and output tokens (e.g. gpt-4o=2.5/10), got '=1/2'."),
        ("gpt-4=thirty/60", "--vlmbench-price: the input price must be a number of US dollars of 0 or more, got 'thirty' (e.g. gpt-4o=2.5/10)."),
        ("gpt-4=30/-1", "--vlmbench-price: the output price must be a number of US dollars of 0 or more, got '-1' (e.g. gpt-4o=2.5/10)."),
        ("gpt-4=30/inf", "--vlmbench-price: the output price must be a number of US dollars of 0 or more, got 'inf' (e.g. gpt-4o=2.5/10)."),
    ],
)  # fmt: skip
def test_bad_prices_are_one_sentence(text: str, message: str) -> None:
    with pytest.raises(PriceError) as caught:
        parse_price(text)
    assert str(caught.value) == message
    with pytest.raises(OptionError) as as_option:
        run_options_from({"prices": [text]})
    assert str(as_option.value) == message and "\n" not in message


def test_price_options_parse_into_the_run_pricing() -> None:
    assert parse_price("api:gpt-3.5-turbo=$0.5/1.5") == Price("api:gpt-3.5-turbo", 0.5, 1.5)
    options = run_options_from({"prices": ["api:gpt-4=30/60,qwen2-vl-7b=0.2/0.2"], "hour_usd": "2.5"})
    # An alias names its model's canonical name, as --model does.
    assert options.prices == (Price("api:gpt-4", 30.0, 60.0), Price("qwen2-vl", 0.2, 0.2))
    assert options.pricing == Pricing(options.prices, 2.5)
    assert run_options_from({}).pricing is None  # no price given: no cost, never a default price
    assert options.as_json()["prices"][0] == {"model": "api:gpt-4", "usd_per_m_input": 30.0, "usd_per_m_output": 60.0}
    with pytest.raises(OptionError, match=r"^--vlmbench-hour-usd: the hourly rate must be a number of US dollars of 0 or more, got 'x'"):
        run_options_from({"hour_usd": "x"})


def test_ini_prices_come_first_and_the_flags_override_them() -> None:
    flags = {"prices": ["gpt-4=10/20"]}
    ini = {"vlmbench_price": ["gpt-4=30/60", "gpt-3.5-turbo=0.5/1.5"], "vlmbench_hour_usd": "1.5"}
    options = read_run_options(lambda dest: flags.get(dest, _default(dest)), ini.get)
    assert options.pricing is not None and options.hour_usd == 1.5  # no flag: the ini's rate
    assert options.pricing.price_for("api:gpt-4") == Price("gpt-4", 10.0, 20.0)
    assert options.pricing.price_for("gpt-3.5-turbo") == Price("gpt-3.5-turbo", 0.5, 1.5)
    with pytest.raises(OptionError, match=r"^ini vlmbench_price takes MODEL=IN/OUT"):
        read_run_options(_default, {"vlmbench_price": ["gpt-4 30/60"]}.get)


def _default(dest: str) -> Any:
    """What pytest's ``getoption`` gives for an option not on the command line."""
    return BY_DEST[dest].add_argument_kwargs()["default"]


# -- the record --------------------------------------------------------------------------------


class CountingModel(ScriptedModel):
    """A scripted API model that reports ``usage`` as the API adapter does: one count per answer."""

    counts_tokens = True

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        answers = super().generate(requests)
        return [Answer(a.text, Tokens(prompt=len(r.prompt.split()), shared=0, generated=2)) for a, r in zip(answers, requests)]


def test_evaluate_prices_an_api_model_by_its_counted_tokens() -> None:
    model = CountingModel("api:gpt-4", oracle, device="api")
    record = evaluate(model, toy_dataset(), "closed_set", EvalConfig(), pricing=Pricing((Price("gpt-4", 30.0, 60.0),), hour_usd=9.0))
    assert record.tokens is not None and record.tokens.prompt > 0 and record.cost is not None
    expected = (record.tokens.prompt * 30 + record.tokens.generated * 60) / 1e6
    assert record.cost.method == "tokens" and record.cost.usd == pytest.approx(expected)
    assert record.cost.usd_per_1k_items == pytest.approx(expected * 1000 / 6)
    assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert evaluate(model, toy_dataset(), "closed_set", EvalConfig()).cost is None  # no pricing: no cost key
    assert "cost" not in evaluate(model, toy_dataset(), "closed_set", EvalConfig()).to_json()


def test_evaluate_prices_a_local_model_by_its_wall_time() -> None:
    model = ScriptedModel("local", lambda r: "cat")
    record = evaluate(model, toy_dataset(), "closed_set", EvalConfig(), pricing=Pricing(hour_usd=36.0))
    assert record.cost is not None and record.cost.method == "hourly"
    assert record.cost.seconds == record.throughput.wall_s > 0
    assert record.cost.usd == pytest.approx(record.throughput.wall_s / 100)  # $36/h is a cent a second


def test_cost_and_energy_per_item_round_trip_and_old_records_still_read() -> None:
    cost = Cost("hourly", 2.0, 4.0, "1800.0 s x $4/h", usd_per_hour=4.0, seconds=1800.0, training_usd=1.0)
    record = _record("bert", "cuda:0", n=500, cost=cost, energy=Energy(1000.0, "nvml", joules_per_item=2.0))
    data = json.loads(json.dumps(record.to_json()))
    assert data["cost"] == {"method": "hourly", "usd": 2.0, "usd_per_1k_items": 4.0, "basis": "1800.0 s x $4/h",
                            "usd_per_hour": 4.0, "seconds": 1800.0, "training_usd": 1.0}  # fmt: skip
    assert data["energy"]["joules_per_item"] == 2.0
    assert Record.from_json(data) == record
    del data["cost"], data["energy"]["joules_per_item"]  # a record written before cost existed
    older = Record.from_json(data)
    assert older.cost is None and older.energy == Energy(1000.0, "nvml")
    bad = {**record.to_json(), "cost": {**record.to_json()["cost"], "method": "guess"}}
    with pytest.raises(ValueError, match=r"'cost.method' should be one of tokens, hourly"):
        Record.from_json(bad)


def test_energy_per_item_is_the_nvml_counter_over_the_scored_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """NVML's total-energy counter is in millijoules; no GPU here, so a stand-in pynvml reads 12.5 J."""
    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlDeviceGetTotalEnergyConsumption=lambda handle: 12_500))
    meter = CostMeter(device="cuda:0")
    meter._nvml_handle, meter._energy_start_mj = object(), 2_500
    assert meter.energy(4) == Energy(10.0, "nvml total energy (whole GPU)", joules_per_item=2.5)
    assert meter.energy(0) == Energy(10.0, "nvml total energy (whole GPU)")  # nothing scored: no per-item figure
    assert CostMeter(device="cpu").energy(4) is None  # no GPU: no energy at all


def test_a_finetuned_classifier_is_priced_with_its_training_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session path: --vlmbench-hour-usd reaches evaluate(), and finetune's training time is billed too."""
    monkeypatch.setenv("VLMBENCH_CACHE_DIR", str(tmp_path / "cache"))  # trained now, not taken from an earlier run's cache
    for split, n in (("train", 8), ("test", 4)):
        for cls in ("cat", "dog"):
            (tmp_path / "words" / split / cls).mkdir(parents=True)
            for i in range(n):
                (tmp_path / "words" / split / cls / f"{i}.txt").write_text(f"{cls} {cls} {i}")
    options = run_options_from({"model": ["tiny:bert-base-uncased"], "dataset": [str(tmp_path / "words")], "strategy": ["finetune"],
                                "device": "cpu", "training": "epochs=1,batch_size=8,max_length=8", "hour_usd": "3600"})  # fmt: skip
    (case,) = plan_suite(options, Suite()).cases
    loaded = ModelLoader(LoadOptions(device="cpu")).load("tiny:bert-base-uncased")
    try:
        record = run_case(case, loaded, options, DatasetCache())
    finally:
        ModelLoader.release(loaded)
    assert record.training is not None and record.cost is not None and record.cost.method == "hourly"
    assert record.cost.seconds == pytest.approx(record.throughput.wall_s + record.training.seconds)
    assert record.cost.usd == pytest.approx(record.cost.seconds)  # $3600/h is a dollar a second
    assert record.cost.training_usd == pytest.approx(record.training.seconds)
    assert record.cost.usd_per_1k_items == pytest.approx(1000 * record.cost.usd / 8)  # 8 test items
    assert record.options is not None and record.options["hour_usd"] == 3600.0


# -- the summary and compare -----------------------------------------------------------------


def test_summary_adds_the_cost_column_only_when_some_record_has_a_cost() -> None:
    plain = _record("bert", "cpu", n=10)
    assert "USD/1k items" not in summary_lines([plain])[0] and "J/item" not in summary_lines([plain])[0]
    priced = replace(plain, model="tiny:qwen2-vl", cost=Pricing(hour_usd=3.6).cost_of(plain),
                     energy=Energy(20.0, "nvml", joules_per_item=2.0))  # fmt: skip
    lines = summary_lines([plain, priced])
    assert lines[0].split()[-4:] == ["MB", "J/item", "USD/1k", "items"]
    assert lines[2].split()[-2:] == ["-", "-"]  # the unpriced record
    assert lines[3].split()[-2:] == ["2.00", "1.00"]  # 10 s at $3.6/h = $0.01 over 10 items
    assert lines[-1] == "tiny:qwen2-vl-digits-closed_set: $0.0100 = 10.0 s evaluation x $3.6/h on cpu (model load excluded)"


def test_usd_per_1k_items_is_a_lower_is_better_metric_compare_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = METRICS["usd_per_1k_items"]
    assert not spec.higher_is_better and not spec.quality and "usd_per_1k_items" in DEFAULT_DISPLAY
    assert METRICS["joules_per_item"].worsening(2.0, 3.0) == 1.0  # more joules is worse
    base = _record("bert", "cpu", n=30)
    cheap = replace(base, cost=Cost("hourly", 0.03, 1.0, "..."))
    dear = replace(base, cost=Cost("hourly", 0.06, 2.0, "..."))
    paths = []
    for i, record in enumerate((cheap, dear)):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps(run_document([record], commit=f"{i + 1}" * 12)))
        paths.append(str(path))
    assert main(["compare", *paths]) == 0  # cost is shown, not gated by default
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "usd_per_1k_items" in line)
    assert "1" in row and "2" in row and "(+1" in row
    assert main(["compare", *paths, "--fail-on", "usd_per_1k_items:50%"]) == 1  # doubled: past a 50% rise
    capsys.readouterr()
    unpriced = tmp_path / "unpriced.json"
    unpriced.write_text(json.dumps(run_document([base], commit="3" * 12)))
    assert main(["compare", str(unpriced), str(unpriced)]) == 0
    assert "usd_per_1k_items" not in capsys.readouterr().out  # no run has a cost: no row


# -- an API model, end to end: its server's usage, priced ------------------------------------


class UsageServer:
    """A chat-completions endpoint that answers "yes" with ``usage`` of 100 prompt (40 cached) and 3 completion tokens."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                usage = {"prompt_tokens": 100, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 40}}
                body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "yes"}}], "usage": usage}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def usage_server() -> Iterator[UsageServer]:
    server = UsageServer()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_an_api_model_is_priced_from_its_servers_usage(usage_server: UsageServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_API_KEY", "sk-test")
    spec = make_spec("api:gpt-3.5-turbo", "gpt-3.5-turbo", "openai-api")
    model = OpenAIChatModel("gpt-3.5-turbo", spec, LoadOptions(api_base=usage_server.url, api_key_env="TEST_API_KEY"))
    record = evaluate(model, toy_dataset(), "binary", EvalConfig(), pricing=Pricing((Price("gpt-3.5-turbo", 0.5, 1.5),)))
    n_requests = record.throughput.n_requests
    assert record.tokens == Tokens(prompt=100 * n_requests, shared=40 * n_requests, generated=3 * n_requests)
    assert record.cost is not None and record.cost.method == "tokens"
    assert record.cost.usd == pytest.approx(n_requests * (100 * 0.5 + 3 * 1.5) / 1e6)


def test_pytest_run_prices_from_the_ini_and_shows_the_cost(usage_server: UsageServer, pytester: pytest.Pytester,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TEST_API_KEY", "sk-test")
    pytester.makeini("[pytest]\nvlmbench_price =\n    gpt-4=30/60\n    gpt-3.5-turbo=1/2\n")
    pytester.makepyfile(test_suite="def test_suite(vlmbench):\n    vlmbench.run()\n")
    result = pytester.runpytest(
        "--model", "api:gpt-4", "--api-base", usage_server.url, "--api-key-env", "TEST_API_KEY", "--dataset", "digits",
        "--strategy", "binary", "--limit", "2", "--vlmbench-price", "gpt-4=10/20", "--vlmbench-json", "out.json", "-p", "no:benchmark",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    data = bench["extra_info"]["vlmbench"]
    n_requests = data["throughput"]["n_requests"]
    assert data["cost"]["method"] == "tokens" and data["cost"]["usd_per_m_input"] == 10.0  # the flag over the ini
    assert data["cost"]["usd"] == pytest.approx(n_requests * (100 * 10 + 3 * 20) / 1e6)
    assert data["options"]["prices"][0] == {"model": "gpt-4", "usd_per_m_input": 30.0, "usd_per_m_output": 60.0}
    out = result.stdout.str()
    assert "USD/1k items" in out and format_usd(data["cost"]["usd_per_1k_items"]) in out
    assert f"{100 * n_requests} prompt tokens x $10/M" in out


def test_a_bad_price_is_a_usage_error_of_one_sentence(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite="def test_suite(vlmbench):\n    vlmbench.run()\n")
    result = pytester.runpytest("--vlmbench-price", "gpt-4=30", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --vlmbench-price takes MODEL=IN/OUT, US dollars per million input and output tokens (e.g. gpt-4o=2.5/10), got 'gpt-4=30'."])
    pytester.makeini("[pytest]\nvlmbench_hour_usd = ten\n")
    result = pytester.runpytest("-p", "no:benchmark")
    result.stderr.fnmatch_lines(["ERROR: ini vlmbench_hour_usd: the hourly rate must be a number of US dollars of 0 or more, got 'ten' (e.g. 2.5 for $2.50 an hour)."])
