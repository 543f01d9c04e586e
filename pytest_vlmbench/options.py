"""Every option of pytest-vlmbench, defined once: the pytest flags and ini keys, the ``vlmbench``
command's arguments, and the parsed :class:`RunOptions` all come from :data:`OPTIONS`.

Each problem with a value is an :class:`OptionError` carrying one sentence for the user;
the plugin turns it into ``pytest.UsageError``, the command line into exit status 2.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .datasets.base import DatasetError
from .datasets.catalog import canonical_spec
from .datasets.subsets import parse_class_counts
from .evaluation.answer_cache import MODES as CACHE_MODES
from .evaluation.pricing import Price, PriceError, Pricing, parse_hour_usd
from .models.base import LoadOptions
from .models.catalog import MODELS, resolve_model
from .strategies.catalog import STRATEGIES
from .strategies.base import ANSWER_STYLES
from .strategies.train_settings import TrainSettings
from .registry import UnknownNameError

# -- value parsers: a raw command-line value -> a typed value, or an OptionError --------------

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class OptionError(ValueError):
    """An invalid option value; the message is user-facing."""


def split_names(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """``["a,b", "c"]`` -> ``("a", "b", "c")``, order kept, duplicates dropped."""
    out: list[str] = []
    for value in [values] if isinstance(values, str) else values or ():
        for name in value.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return tuple(out)


def _canonical(resolve: Callable[[str], str]) -> Callable[[str, Any], tuple[str, ...]]:
    def parse(flag: str, values: Any) -> tuple[str, ...]:
        try:
            return tuple(dict.fromkeys(resolve(name) for name in split_names(values)))
        except UnknownNameError as exc:
            raise OptionError(str(exc)) from None

    return parse


def _positive(allow_none: bool) -> Callable[[str, Any], int | None]:
    def parse(flag: str, value: Any) -> int | None:
        if value is None and allow_none:
            return None
        if not isinstance(value, int) or value < 1:
            raise OptionError(f"{flag} must be a positive whole number, got {value}.")
        return value

    return parse


def _choice(choices: Sequence[str]) -> Callable[[str, Any], str]:
    def parse(flag: str, value: Any) -> str:
        if value not in choices:
            raise OptionError(f"{flag} must be one of {', '.join(choices)}, got {value!r}.")
        return str(value)

    return parse


def parse_seeds(flag: str, values: Any) -> tuple[int, ...]:
    """``["0,1", "2"]`` -> ``(0, 1, 2)``; nothing given -> ``(0,)``."""
    seeds = []
    for name in split_names(values):
        if not name.isdigit():
            raise OptionError(f"{flag} takes whole numbers of zero or more (e.g. {flag} 0,1,2), got {name!r}.")
        seeds.append(int(name))
    return tuple(seeds) or (0,)


def parse_class_count_list(flag: str, values: Any) -> tuple[int, ...]:
    try:
        return tuple(dict.fromkeys(n for v in values or () for n in parse_class_counts(v)))
    except DatasetError as exc:
        raise OptionError(str(exc)) from None


def parse_device(flag: str, value: Any) -> str:
    if not isinstance(value, str) or not DEVICE_PATTERN.match(value):
        raise OptionError(f"{flag} must be auto, cpu, mps, cuda or cuda:N, got {value!r}.")
    return value


def parse_k_shot(flag: str, value: Any) -> int:
    if not isinstance(value, int) or value < 0:
        raise OptionError(f"{flag} must be zero (zero-shot) or a positive number of exemplars, got {value}.")
    return value


def parse_prompt_template(flag: str, value: Any) -> str | None:
    """A prompt template holding ``{classes}`` (closed_set), ``{cls}`` (binary) or ``{sentence}`` (ner_prompt);
    each strategy checks its own placeholder when it runs."""
    if value is None or value == "":
        return None
    if not any(p in str(value) for p in ("{classes}", "{cls}", "{sentence}")):
        raise OptionError(
            f"{flag} {value!r} has neither {{classes}} (where closed_set puts the class list) nor {{cls}} "
            f"(where binary puts the class asked about); add the placeholder of the strategy you run."
        )
    return str(value)


def parse_label_map(flag: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``"LABEL_0=sport,LABEL_1=tech"`` -> ``(("LABEL_0", "sport"), ("LABEL_1", "tech"))``."""
    pairs = []
    for part in filter(None, (p.strip() for p in str(value or "").split(","))):
        label, sep, cls = part.partition("=")
        if not sep or not label.strip() or not cls.strip():
            raise OptionError(f"{flag} takes LABEL=CLASS pairs separated by commas, got {part!r}.")
        pairs.append((label.strip(), cls.strip()))
    return tuple(pairs)


def parse_fraction(flag: str, value: Any) -> float:
    if not re.fullmatch(r"0?\.\d*[1-9]\d*|1(\.0*)?", str(value)):
        raise OptionError(f"{flag} must be a fraction above 0 and at most 1 (e.g. 0.9), got {value!r}.")
    return float(value)


def _same(flag: str, value: Any) -> Any:
    return value

DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass(frozen=True)
class RunOptions:
    """What the command line selected and set for a run; recorded in every record's ``options``."""

    models: tuple[str, ...] = ()
    """Selected models; empty means the suite's (or the built-in) default."""
    datasets: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    limit: int | None = None
    seeds: tuple[int, ...] = (0,)
    """One item per seed; with several, the summary adds their mean and standard deviation."""
    batch_size: int = 8
    permutations: int = 3
    max_new_tokens: int | None = None
    """``--max-new-tokens``; ``None``: each strategy's own default (:meth:`max_new_tokens_for`)."""
    prefix_sharing: bool = True
    """Compute one item's shared prompt prefix (image included) once, where the adapter can; same answers."""
    answer_style: str = "plain"
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    split: str | None = None
    text_column: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    num_classes: tuple[int, ...] = ()
    """Class counts: empty = all classes; several = a sweep, one item per count."""
    per_class: int | None = None
    background_class: str | None = None
    k_shot: int = 0
    """Exemplars in total shown before each prompt (prompting strategies), seeded and stratified over classes; 0 = zero-shot."""
    k_shot_per_class: int = 0
    """Exemplars per class instead (``--k-shot-per-class``); 0 = not used."""
    prompt_template: str | None = None
    """Replaces the prompting strategies' question (``{classes}`` / ``{cls}`` placeholders; docs/strategies.md)."""
    exemplar_split: str | None = None
    """Split the exemplars come from; default: held out of the evaluated split, seeded."""
    training: TrainSettings = TrainSettings()  # finetune / linear_probe: --vlmbench-train
    prices: tuple[Price, ...] = ()
    """USD per million input/output tokens by model (--vlmbench-price, ini vlmbench_price): the ``tokens`` cost."""
    hour_usd: float | None = None
    """USD per hour of the local hardware (--vlmbench-hour-usd): the ``hourly`` cost."""

    @property
    def pricing(self) -> Pricing | None:
        """What :func:`~pytest_vlmbench.evaluate` prices records with; ``None`` when no price was given."""
        return Pricing(self.prices, self.hour_usd) if self.prices or self.hour_usd is not None else None

    def max_new_tokens_for(self, strategy: str) -> int:
        """Tokens generated per answer in a case of ``strategy``: ``--max-new-tokens``, else 128 for
        ner_prompt (an answer lists entities), 32 for JSON answers (braces and key), 8 otherwise.
        Per case, so a suite marker's ner_prompt gets its room and the run's closed_set items keep 8."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return 128 if strategy == "ner_prompt" else 32 if self.answer_style == "json" else 8

    def as_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


DEFAULT_CACHE_MODE = "write"
"""Every answer is stored by default, so any killed or failed run can be resumed (docs/usage.md)."""


@dataclass(frozen=True)
class CacheOptions:
    """The answer cache's mode for a run (not in the records: it never changes a result)."""

    mode: str = DEFAULT_CACHE_MODE
    """off, read, write or readwrite (what ``--vlmbench-resume`` means)."""
    resume: bool = False
    explicit: bool = False
    """Asked for on the command line; the default cache, when it cannot be opened, only warns."""


def parse_prices(flag: str, values: Any) -> tuple[Price, ...]:
    """``MODEL=IN/OUT`` entries (repeatable, comma-separated); an alias names its model's canonical name."""
    try:
        prices = Pricing.from_texts([values] if isinstance(values, str) else values or (), where=flag).prices
    except PriceError as exc:
        raise OptionError(str(exc)) from None
    return tuple(Price(e.name, p.usd_per_m_input, p.usd_per_m_output) if (e := MODELS.find(p.model)) else p for p in prices)


def _parse_hour_usd(flag: str, value: Any) -> float | None:
    try:
        return parse_hour_usd(value, flag)
    except PriceError as exc:
        raise OptionError(str(exc)) from None


# -- the table ---------------------------------------------------------------------------

Kind = Literal["value", "int", "list", "flag"]
"""``list``: repeatable and comma-separated; ``flag``: on when given."""


@dataclass(frozen=True)
class Option:
    """One option: its flag, help and default, where it goes, and how its value is checked."""

    dest: str
    """The name pytest's ``config.getoption`` and argparse's namespace use."""
    flag: str
    help: str
    default: Any = None
    metavar: str | None = None
    kind: Kind = "value"
    parse: Callable[[str, Any], Any] = _same
    """Raw value -> checked value; raises :class:`OptionError` with one sentence."""
    run_field: str | None = None
    """The :class:`RunOptions` field it fills, if any."""
    load_field: str | None = None
    """The :class:`~pytest_vlmbench.models.base.LoadOptions` field it fills, if any."""
    ini: str | None = None
    """An ini key that sets it too (lower precedence than the flag)."""
    cli_flag: str | None = None
    """Its spelling in the ``vlmbench`` command, where it exists there too."""

    def add_argument_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dest": self.dest, "help": self.help}
        if self.kind == "flag":
            return {**kwargs, "action": "store_true", "default": False}
        kwargs["metavar"] = self.metavar
        if self.kind == "list":
            return {**kwargs, "action": "append", "default": []}
        if self.kind == "int":
            kwargs["type"] = int
        return {**kwargs, "default": self.default}


def _run(dest: str, flag: str, help: str, *, field: str | None = None, **kw: Any) -> Option:
    return Option(dest, flag, help, run_field=field or dest, **kw)


OPTIONS: tuple[Option, ...] = (
    # Selection (docs/usage.md)
    _run("model", "--model", "Model(s) to evaluate: a registry name or alias, tiny:NAME, ref:NAME, api:MODEL, a local model "
         "directory or a hub id. Repeat or separate with commas. Default: the suite's models, else ref:qwen2-vl-fashion.",
         field="models", kind="list", metavar="NAME", parse=_canonical(lambda n: resolve_model(n).name)),
    _run("dataset", "--dataset", "Dataset(s): a registry name, a local path or a hub id (repeatable, comma-separated).",
         field="datasets", kind="list", metavar="NAME", parse=_canonical(canonical_spec)),
    _run("strategy", "--strategy", "Strategy(ies): closed_set, binary (prompting generative models); direct "
         "(classifiers); finetune, linear_probe (train a classifier first); ner_prompt, ner_direct, ner_finetune (NER). "
         "Repeatable, comma-separated; `vlmbench strategies` lists them.", field="strategies", kind="list", metavar="NAME",
         parse=_canonical(lambda n: STRATEGIES.get(n).name)),
    _run("limit", "--limit", "Evaluate at most N items per dataset (the first N).", kind="int", metavar="N",
         parse=_positive(allow_none=True)),
    _run("seed", "--seed", "Seed(s) for class and question orders (default 0); several (0,1,2) give one item per "
         "seed and their mean and std.", field="seeds", kind="list", metavar="N", parse=parse_seeds),
    # How models are asked (docs/strategies.md)
    _run("batch_size", "--batch-size", "Prompts per model call (default 8).", default=8, kind="int", metavar="N",
         parse=_positive(allow_none=False)),
    _run("permutations", "--permutations", "closed_set: times each item is asked with shuffled classes (default 3).",
         default=3, kind="int", metavar="P", parse=_positive(allow_none=False)),
    _run("max_new_tokens", "--max-new-tokens", "Tokens generated per answer (default 8; 32 with --answer-style json; 128 for ner_prompt).",
         kind="int", metavar="N", parse=_positive(allow_none=True)),
    _run("prefix_sharing", "--vlmbench-prefix-sharing", "on (default): one item's questions share one pass over its "
         "image and common prompt start, where the adapter can (same answers); off: every prompt computed whole.",
         default="on", metavar="on|off", parse=lambda flag, value: _choice(("on", "off"))(flag, value) == "on"),
    _run("answer_style", "--answer-style", 'plain (default): free-text answers, parsed; json: the prompt asks for '
         '{"answer": ...} and anything else is invalid.', default="plain", metavar="STYLE", parse=_choice(ANSWER_STYLES)),
    _run("k_shot", "--k-shot", "Prompting strategies: show K labelled exemplars in total before each prompt, "
         "seeded and stratified over classes (default 0, zero-shot).", default=0, kind="int", metavar="K", parse=parse_k_shot),
    _run("k_shot_per_class", "--k-shot-per-class", "Prompting strategies: show K labelled exemplars per class "
         "instead (K x classes in all).", default=0, kind="int", metavar="K", parse=parse_k_shot),
    _run("exemplar_split", "--exemplar-split", "Split the k-shot exemplars come from (default: held out of the "
         "evaluated split, seeded).", metavar="NAME"),
    _run("prompt_template", "--prompt-template", "Prompting strategies: the question to ask, with {classes} "
         "(closed_set) or {cls} (binary) where the classes go; overrides the dataset's and the suite's "
         "(docs/strategies.md).", metavar="TEXT", parse=parse_prompt_template),
    _run("training", "--vlmbench-train", "finetune/linear_probe settings: epochs=3,lr=2e-5,batch_size=16,max_length=256,split="
         "train|holdout,limit=N ... (docs/strategies.md).", default="", metavar="K=V,...", parse=TrainSettings.parser(OptionError)),
    # Cost in US dollars (docs/results.md#cost-in-money-and-energy)
    _run("prices", "--vlmbench-price", "Price of a token-billed model: MODEL=IN/OUT in USD per million input and output "
         "tokens (e.g. api:gpt-4o=2.5/10); repeatable, comma-separated; adds the record's cost.", kind="list",
         metavar="MODEL=IN/OUT", parse=parse_prices, ini="vlmbench_price"),
    _run("hour_usd", "--vlmbench-hour-usd", "USD per hour of the local hardware: prices local models' evaluations "
         "(and their training) by wall time.", metavar="RATE", parse=_parse_hour_usd, ini="vlmbench_hour_usd"),
    # Datasets (docs/datasets.md)
    _run("split", "--split", "Dataset split to evaluate (default: test, else validation, else train).", metavar="NAME"),
    _run("text_column", "--text-column", "Text column of a table / hub dataset (default: detected).", metavar="COL"),
    _run("image_column", "--image-column", "Image column: an Image feature or file paths (default: detected).",
         metavar="COL"),
    _run("label_column", "--label-column", "Label column (default: the ClassLabel, else 'label').", metavar="COL"),
    _run("num_classes", "--num-classes", "Evaluate N seeded classes (background kept); several (10,25,50) give one "
         "item per count.", kind="list", metavar="N[,N...]", parse=parse_class_count_list),
    _run("per_class", "--per-class", "At most K items per class, seeded and balanced.", kind="int", metavar="K",
         parse=_positive(allow_none=True)),
    _run("background_class", "--background-class", "The catch-all class: always kept in subsets, never asked "
         "about by binary.", metavar="NAME"),
    # Loading models (docs/models.md)
    _run("device", "--device", "auto (default), cpu, cuda or cuda:N.", default="auto", metavar="DEV",
         parse=parse_device),
    _run("dtype", "--dtype", "auto (default), bfloat16, float16 or float32.", default="auto", metavar="DTYPE",
         parse=_choice(DTYPES)),
    _run("trust_remote_code", "--trust-remote-code", "Allow models whose code lives on the hub (off by default).",
         kind="flag"),
    Option("label_map", "--label-map", "Classifier heads: map the model's id2label names to the dataset's classes.",
           default="", metavar="LABEL=CLASS,...", parse=parse_label_map, load_field="label_map"),
    Option("api_base", "--api-base", "OpenAI-compatible API base URL (default $OPENAI_BASE_URL, else "
           "api.openai.com/v1).", metavar="URL", load_field="api_base"),
    Option("api_key_env", "--api-key-env", "Environment variable that holds the API key (default OPENAI_API_KEY); "
           "the key is never recorded.", default="OPENAI_API_KEY", metavar="VAR", load_field="api_key_env"),
    Option("api_concurrency", "--api-concurrency", "API requests in flight at once (default 4).", default=4,
           kind="int", metavar="N", parse=_positive(allow_none=False), load_field="api_concurrency"),
    # Engines (docs/scale.md)
    Option("engine", "--engine", "What runs generative models: hf (transformers, default) or vllm (make install-vllm).",
           default="hf", metavar="NAME", parse=_choice(("hf", "vllm")), load_field="engine"),
    Option("tensor_parallel_size", "--tensor-parallel-size", "vLLM: GPUs per model (default 1).", default=1,
           kind="int", metavar="N", parse=_positive(allow_none=False), load_field="tensor_parallel_size"),
    Option("gpu_memory_utilization", "--gpu-memory-utilization", "vLLM: share of each GPU's memory it may take "
           "(default 0.9).", default=0.9, metavar="F", parse=parse_fraction, load_field="gpu_memory_utilization"),
    Option("max_model_len", "--max-model-len", "vLLM: most tokens of prompt plus answer (default: the model's).",
           kind="int", metavar="N", parse=_positive(allow_none=True), load_field="max_model_len"),
    # Output
    Option("vlmbench_json", "--vlmbench-json", "Also write all records to PATH (works without pytest-benchmark "
           "and under xdist).", metavar="PATH"),
    Option("vlmbench_report", "--vlmbench-report", "Also write the run as one self-contained HTML report to PATH "
           "(figures inline; with a gate baseline, the baseline beside this run). Needs the report extra "
           "(matplotlib).", metavar="PATH"),
    Option("vlmbench_progress", "--vlmbench-progress", "A live line per running item: items done, items/s, ETA, "
           "batch size. auto (default: on a terminal, not with -q), on (also in logs: a line every 10 s) or off.",
           default="auto", metavar="WHEN", parse=_choice(("auto", "on", "off"))),
    # The answer cache (docs/usage.md); parsed by read_cache_options.
    Option("vlmbench_cache", "--vlmbench-cache", "The answer cache, <cache dir>/answers.sqlite: off, read (use "
           "stored answers), write (store every answer, the default, so any run can be resumed) or readwrite.",
           metavar="MODE"),
    Option("vlmbench_resume", "--vlmbench-resume", "Rerun a killed or failed run without asking the model anything "
           "it already answered (the answer cache in readwrite mode).", kind="flag"),
    # The regression gate (docs/gate.md); parsed by pytest_vlmbench.gate.thresholds.
    Option("vlmbench_baseline", "--vlmbench-baseline", "Compare every evaluation with the matching record in PATH "
           "(a pytest-benchmark or --vlmbench-json file) and fail regressed items. Default: the run "
           "--benchmark-compare selects, if given.", metavar="PATH"),
    Option("vlmbench_fail_on", "--vlmbench-fail-on", "Regression threshold: absolute (accuracy:0.02) or relative "
           "(items_per_s:10%%); repeatable; METRIC:off disables one, off disables all (report only). The default, "
           "in pytest (with a baseline) and in `vlmbench compare`, is accuracy:0: any significant accuracy drop "
           "fails.", kind="list", metavar="METRIC:DROP",
           ini="vlmbench_fail_on", cli_flag="--fail-on"),
    Option("vlmbench_alpha", "--vlmbench-alpha", "Significance level for quality drops on the paired predictions "
           "(default 0.05).", metavar="ALPHA", ini="vlmbench_alpha", cli_flag="--alpha"),
    Option("vlmbench_correction", "--vlmbench-correction", "Multiple-testing correction over the run's compared "
           "items: holm (default; family-wise error), bh (false discovery rate) or none (each item at alpha).",
           metavar="METHOD", ini="vlmbench_correction", cli_flag="--correction"),
    Option("vlmbench_min", "--vlmbench-min", "An absolute bound an item's metric must stay at or beyond, baseline "
           "or not: accuracy:0.9 (a floor; a ceiling for metrics where lower is better, latency_p50_ms:250); "
           "repeatable.", kind="list", metavar="METRIC:VALUE", ini="vlmbench_min", cli_flag="--min"),
    Option("vlmbench_calibration", "--vlmbench-calibration", "Thresholds and alpha from `vlmbench calibrate "
           "--write FILE`: they take the place of the ini's vlmbench_fail_on and vlmbench_alpha.", metavar="FILE",
           ini="vlmbench_calibration", cli_flag="--calibration"),
    Option("vlmbench_require_baseline", "--vlmbench-require-baseline", "Fail items that have no matching baseline "
           "record (default: report and pass).", kind="flag"),
)  # fmt: skip

BY_DEST: dict[str, Option] = {option.dest: option for option in OPTIONS}

INI_HELP = {
    "vlmbench_fail_on": ("Regression thresholds, METRIC:DROP or METRIC:N%, one per line.", "linelist", []),
    "vlmbench_alpha": ("Significance level of the regression gate (default 0.05).", "string", ""),
    "vlmbench_correction": ("Multiple-testing correction of the gate: holm (default), bh or none.", "string", ""),
    "vlmbench_min": ("Absolute bounds, METRIC:VALUE, one per line: fail below them, baseline or not.", "linelist", []),
    "vlmbench_calibration": ("A `vlmbench calibrate --write` file whose thresholds and alpha the gate uses.", "string", ""),
    "vlmbench_price": ("Prices of token-billed models, MODEL=IN/OUT in USD per million tokens, one per line.", "linelist", []),
    "vlmbench_hour_usd": ("USD per hour of the local hardware, for the cost of local models.", "string", ""),
}


def add_pytest_options(addoption: Callable[..., Any], addini: Callable[..., Any]) -> None:
    """Register every option with pytest (``group.addoption``, ``parser.addini``)."""
    for option in OPTIONS:
        kwargs = option.add_argument_kwargs()
        addoption(option.flag, **kwargs)
        if option.ini:
            help, type_, default = INI_HELP[option.ini]
            addini(option.ini, help, type=type_, default=default)


def add_cli_arguments(parser: argparse.ArgumentParser, *dests: str) -> None:
    """Add the named options to a ``vlmbench`` subcommand, under their CLI spelling."""
    for dest in dests:
        option = BY_DEST[dest]
        kwargs = option.add_argument_kwargs()
        parser.add_argument(option.cli_flag or option.flag, **kwargs)


def read_run_options(get: Callable[[str], Any], ini: Callable[[str], Any] | None = None) -> RunOptions:
    """Check every raw value (``get(dest)``, e.g. ``config.getoption``; ``ini(key)``, e.g. ``config.getini``,
    under the flags: a list adds the ini's entries before the flag's, a value is the flag's when given)."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.run_field is not None:
            values[option.run_field] = value = option.parse(option.flag, get(option.dest))
            if ini is not None and option.ini is not None and (option.kind == "list" or value is None):
                from_ini = option.parse(f"ini {option.ini}", ini(option.ini) or None)
                values[option.run_field] = (*from_ini, *value) if option.kind == "list" else from_ini
    if values["k_shot"] and values["k_shot_per_class"]:
        raise OptionError("--k-shot (exemplars in total) and --k-shot-per-class (per class) exclude each other; give one.")
    return RunOptions(**values)


def read_load_options(get: Callable[[str], Any], run: RunOptions) -> LoadOptions:
    """The model-loading options: the run's device/dtype/remote code and the adapter options."""
    adapters = {o.load_field: o.parse(o.flag, get(o.dest)) for o in OPTIONS if o.load_field is not None}
    return LoadOptions(device=run.device, dtype=run.dtype, trust_remote_code=run.trust_remote_code, **adapters)


def read_cache_options(get: Callable[[str], Any]) -> CacheOptions:
    """``--vlmbench-cache`` and ``--vlmbench-resume`` checked together; resume means ``readwrite``."""
    raw, resume = get("vlmbench_cache"), bool(get("vlmbench_resume"))
    if raw is not None:
        _choice(CACHE_MODES)("--vlmbench-cache", raw)
    if resume and raw not in (None, "readwrite"):
        raise OptionError(
            f"--vlmbench-resume reads and writes the answer cache, so it cannot be combined with --vlmbench-cache {raw}."
        )
    return CacheOptions("readwrite" if resume else str(raw or DEFAULT_CACHE_MODE), resume, raw is not None or resume)


def run_options_from(values: Mapping[str, Any]) -> RunOptions:
    """:class:`RunOptions` from keyword values by ``dest`` (library use; missing ones take their defaults)."""
    defaults = {o.dest: o.add_argument_kwargs()["default"] for o in OPTIONS}
    unknown = set(values) - set(defaults)
    if unknown:
        raise OptionError(f"Unknown option(s) {sorted(unknown)}; known: {', '.join(sorted(defaults))}.")
    return read_run_options(lambda dest: values.get(dest, defaults[dest]))


def check_device_available(device: str) -> None:
    """Raise :class:`OptionError` when a CUDA device is asked for and torch sees none."""
    if not device.startswith("cuda"):
        return
    import torch  # only imported when the user asked for CUDA

    if not torch.cuda.is_available():
        raise OptionError(f"--device {device} was given, but torch sees no CUDA device; use --device cpu or auto.")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise OptionError(f"--device {device} was given, but only {torch.cuda.device_count()} CUDA device(s) exist.")

