"""Run options: parsed and validated once, shared by the pytest plugin and the CLI.

Every problem is reported as :class:`OptionError` carrying one sentence for the user; the
plugin turns it into ``pytest.UsageError``, the CLI into exit status 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .registry import UnknownNameError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DTYPES = ("auto", "bfloat16", "float16", "float32")


class OptionError(ValueError):
    """An invalid option value; the message is user-facing."""


@dataclass(frozen=True)
class RunOptions:
    models: tuple[str, ...] = ()
    """Selected models; empty means the suite's (or the built-in) default."""
    datasets: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    limit: int | None = None
    seeds: tuple[int, ...] = (0,)
    """One item per seed; with several, the summary adds their mean and standard deviation."""
    batch_size: int = 8
    permutations: int = 3
    max_new_tokens: int = 8
    answer_style: str = "plain"
    """``plain`` or ``json`` (see docs/strategies.md)."""
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    # Dataset options (docs/datasets.md): passed to loaders.load_dataset per item.
    split: str | None = None
    text_column: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    num_classes: tuple[int, ...] = ()
    """Class counts: empty = all classes; several = a sweep, one item per count."""
    per_class: int | None = None
    background_class: str | None = None
    k_shot: int = 0
    """Exemplars per class shown before each prompt (text datasets, prompting strategies); 0 = zero-shot."""
    exemplar_split: str | None = None
    """Split the exemplars come from; default: held out of the evaluated split, seeded."""

    def as_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def split_names(values: Iterable[str] | None) -> tuple[str, ...]:
    """``["a,b", "c"]`` -> ``("a", "b", "c")``, order kept, duplicates dropped."""
    out: list[str] = []
    for value in values or ():
        for name in value.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return tuple(out)


def parse_label_map(value: str | None) -> tuple[tuple[str, str], ...]:
    """``"LABEL_0=sport,LABEL_1=tech"`` -> ``(("LABEL_0", "sport"), ("LABEL_1", "tech"))``."""
    pairs = []
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        label, sep, cls = part.partition("=")
        if not sep or not label.strip() or not cls.strip():
            raise OptionError(f"--label-map takes LABEL=CLASS pairs separated by commas, got {part!r}.")
        pairs.append((label.strip(), cls.strip()))
    return tuple(pairs)


def parse_seeds(values: Iterable[str] | None) -> tuple[int, ...]:
    """``["0,1", "2"]`` -> ``(0, 1, 2)``; nothing given -> ``(0,)``."""
    seeds = []
    for name in split_names(values):
        if not name.isdigit():
            raise OptionError(f"--seed takes whole numbers of zero or more (e.g. --seed 0,1,2), got {name!r}.")
        seeds.append(int(name))
    return tuple(seeds) or (0,)


def _positive(name: str, value: int | None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise OptionError(f"{name} must be a positive whole number, got {value}.")


def canonical_names(kind: str, names: Sequence[str]) -> tuple[str, ...]:
    """Resolve names and aliases to canonical names, or raise :class:`OptionError`."""
    from .models import catalog
    from .strategies.catalog import STRATEGIES

    out = []
    for name in names:
        try:
            if kind == "model":
                out.append(catalog.resolve_model(name).name)
            elif kind == "dataset":  # a registry name, a local path or a hub id
                from .datasets.catalog import canonical_spec

                out.append(canonical_spec(name))
            else:
                out.append(STRATEGIES.get(name).name)
        except UnknownNameError as exc:
            raise OptionError(str(exc)) from None
    return tuple(dict.fromkeys(out))


def build_options(
    *,
    models: Iterable[str] | None = None,
    datasets: Iterable[str] | None = None,
    strategies: Iterable[str] | None = None,
    limit: int | None = None,
    seeds: Iterable[str] | None = None,
    batch_size: int = 8,
    permutations: int = 3,
    max_new_tokens: int | None = None,
    answer_style: str = "plain",
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    split: str | None = None,
    text_column: str | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    num_classes: Iterable[str] | None = None,
    per_class: int | None = None,
    background_class: str | None = None,
    k_shot: int = 0,
    exemplar_split: str | None = None,
) -> RunOptions:
    """Validate raw option values (as strings/lists from the command line)."""
    from .datasets.base import DatasetError
    from .datasets.subsets import parse_class_counts

    _positive("--per-class", per_class, allow_none=True)
    if k_shot < 0:
        raise OptionError(f"--k-shot must be zero (zero-shot) or a positive number of exemplars per class, got {k_shot}.")
    try:
        class_counts = tuple(dict.fromkeys(n for v in num_classes or () for n in parse_class_counts(v)))
    except DatasetError as exc:
        raise OptionError(str(exc)) from None
    _positive("--limit", limit, allow_none=True)
    _positive("--batch-size", batch_size)
    _positive("--permutations", permutations)
    from .strategies.prompting import ANSWER_STYLES

    if answer_style not in ANSWER_STYLES:
        raise OptionError(f"--answer-style must be one of {', '.join(ANSWER_STYLES)}, got {answer_style!r}.")
    _positive("--max-new-tokens", max_new_tokens, allow_none=True)
    if max_new_tokens is None:  # a JSON reply needs room for its braces and key
        max_new_tokens = 32 if answer_style == "json" else 8
    seed_values = parse_seeds(seeds)
    if not DEVICE_PATTERN.match(device):
        raise OptionError(f"--device must be auto, cpu, mps, cuda or cuda:N, got {device!r}.")
    if dtype not in DTYPES:
        raise OptionError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
    return RunOptions(
        models=canonical_names("model", split_names(models)),
        datasets=canonical_names("dataset", split_names(datasets)),
        strategies=canonical_names("strategy", split_names(strategies)),
        limit=limit,
        seeds=seed_values,
        batch_size=batch_size,
        permutations=permutations,
        max_new_tokens=max_new_tokens,
        answer_style=answer_style,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        split=split,
        text_column=text_column,
        image_column=image_column,
        label_column=label_column,
        num_classes=class_counts,
        per_class=per_class,
        background_class=background_class,
        k_shot=k_shot,
        exemplar_split=exemplar_split,
    )


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
