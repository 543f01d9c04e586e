"""Money per evaluation: a price table for token-billed models and an hourly rate for local hardware.

A price is a run option, never a library default (prices change; a wrong default would
look like a measurement). Given one, :meth:`Pricing.cost_of` adds a
:class:`~pytest_vlmbench.record.cost.Cost` to the record:

- ``tokens``: a model named in the price table (``MODEL=IN/OUT``, USD per million input
  and output tokens) whose adapter counted tokens (the API's ``usage``, the Hugging Face
  adapters' own counts): every prompt token at the input price -- the ones a server
  served from its cache too, since providers discount those differently -- plus the
  generated tokens at the output price.
- ``hourly``: any other model that ran on local hardware (not an API): the evaluation's
  wall seconds, plus the training's for ``finetune``/``linear_probe``, at the hourly rate.
  The model load is left out: it is paid once per model, not per item.

An API model with no price, or a priced one whose server reported no ``usage``, gets no
cost: neither rule can price it honestly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..record import Record
from ..record.cost import Cost, format_seconds

API_PREFIX = "api:"


class PriceError(ValueError):
    """A price that cannot be read; the message is one user-facing sentence."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model."""

    model: str
    usd_per_m_input: float
    usd_per_m_output: float

    def matches(self, model: str) -> bool:
        """``gpt-4`` prices ``api:gpt-4`` too: the table may name API models with or without the prefix."""
        return _bare(self.model).lower() == _bare(model).lower()


def _bare(name: str) -> str:
    return name[len(API_PREFIX) :] if name.startswith(API_PREFIX) else name


def _amount(text: str, what: str, where: str, example: str) -> float:
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise PriceError(f"{where}: {what} must be a number of US dollars of 0 or more, got {text.strip()!r} (e.g. {example}).")
    return value


def parse_price(text: str, where: str = "--vlmbench-price") -> Price:
    """``MODEL=IN/OUT`` (USD per million input/output tokens) -> :class:`Price`; :class:`PriceError` otherwise."""
    example = "gpt-4o=2.5/10"
    model, eq, amounts = text.rpartition("=")
    ins, slash, outs = amounts.partition("/")
    if not eq or not model.strip() or not slash:
        raise PriceError(
            f"{where} takes MODEL=IN/OUT, US dollars per million input and output tokens (e.g. {example}), got {text!r}."
        )
    return Price(
        model.strip(),
        _amount(ins, "the input price", where, example),
        _amount(outs, "the output price", where, example),
    )


def parse_hour_usd(text: str | float | None, where: str = "--vlmbench-hour-usd") -> float | None:
    """The hourly rate of the local hardware in USD, or ``None`` when not given."""
    if text is None or str(text).strip() == "":
        return None
    return _amount(str(text), "the hourly rate", where, "2.5 for $2.50 an hour")


@dataclass(frozen=True)
class Pricing:
    """The prices of a run: by model (token-billed) and by the hour (local hardware)."""

    prices: tuple[Price, ...] = ()
    """Later entries win: ``--vlmbench-price`` flags come after the ini's lines."""
    hour_usd: float | None = None

    @classmethod
    def from_texts(cls, prices: Iterable[str], hour_usd: str | float | None = None, where: str = "--vlmbench-price") -> Pricing:
        """From ``MODEL=IN/OUT`` texts (several per text, comma-separated) and an hourly rate."""
        parsed = [parse_price(p, where) for text in prices for p in str(text).split(",") if p.strip()]
        return cls(tuple(parsed), parse_hour_usd(hour_usd))

    def price_for(self, model: str) -> Price | None:
        return next((p for p in reversed(self.prices) if p.matches(model)), None)

    def cost_of(self, record: Record) -> Cost | None:
        """The record's cost under these prices, or ``None`` when none applies (module docstring)."""
        price = self.price_for(record.model)
        if price is not None and record.tokens is not None:
            return _token_cost(record, price)
        if self.hour_usd is not None and record.device != "api":
            return _hourly_cost(record, self.hour_usd)
        return None


def _per_1k(usd: float, n_items: int) -> float:
    return 1000 * usd / n_items if n_items else 0.0


def _token_cost(record: Record, price: Price) -> Cost:
    assert record.tokens is not None
    prompt, generated = record.tokens.prompt, record.tokens.generated
    usd = (prompt * price.usd_per_m_input + generated * price.usd_per_m_output) / 1e6
    basis = (
        f"{prompt} prompt tokens x ${price.usd_per_m_input:g}/M + {generated} generated tokens x "
        f"${price.usd_per_m_output:g}/M (price for {price.model}; every prompt token at the input price)"
    )
    return Cost("tokens", usd, _per_1k(usd, record.n_items), basis, usd_per_m_input=price.usd_per_m_input,
                usd_per_m_output=price.usd_per_m_output)  # fmt: skip


def _hourly_cost(record: Record, rate: float) -> Cost:
    evaluation_s = record.throughput.wall_s
    training = record.training
    training_s = training.seconds if training is not None else 0.0
    seconds = evaluation_s + training_s
    usd = seconds * rate / 3600
    parts = f"{format_seconds(evaluation_s)} s evaluation"
    if training is not None:
        parts += f" + {format_seconds(training_s)} s training"
        parts += " (weights from the cache: the run that trained them)" if training.reused else ""
        parts += f" = {format_seconds(seconds)} s"
    basis = f"{parts} x ${rate:g}/h on {record.device or 'local hardware'} (model load excluded)"
    return Cost("hourly", usd, _per_1k(usd, record.n_items), basis, usd_per_hour=rate, seconds=seconds,
                training_usd=training_s * rate / 3600 if training is not None else None)  # fmt: skip
