"""Named-entity recognition data: sentences of tokens, each token tagged in IOB2.

A NER dataset is a normal :class:`~.base.Dataset` whose ``task`` is :data:`~pytest_vlmbench.tasks.NER`:

- its ``classes`` are the tag names (``O``, ``B-PER``, ``I-PER`` ...), as the source lists them
  (a hub dataset's ``ner_tags`` feature names, else the tags seen, ``O`` first);
- each item is a :class:`NerItem` (one sentence): ``tokens`` the words, ``text`` the words
  joined by single spaces (what an LLM is shown), and ``label`` the gold tags, one per token
  (a tuple); a prediction is a tag tuple of the same length (:mod:`pytest_vlmbench.strategies.ner`), and
  the record writes both as lists of tags.

Sources: CoNLL files (one ``token ... tag`` line per token, blank lines between sentences,
``-DOCSTART-`` lines skipped), JSONL/Parquet files and hub datasets with ``tokens`` and
``ner_tags`` columns, and :func:`load_generated_ner`, a small built-in set of *generated*
sentences (templates filled with invented names: a smoke test, not a benchmark).
Tags in IOB1 (an ``I-`` that opens an entity) are rewritten to IOB2 before anything is scored,
because the metrics are strict IOB2 (seqeval's ``mode="strict"``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tasks import NER
from .base import Dataset, DatasetError, Item
from .fingerprint import file_sha256

CONLL_SUFFIXES = (".conll", ".iob", ".iob2", ".bio")
"""Local files read as CoNLL (``.txt`` is not: it may be anything)."""


@dataclass(frozen=True)
class NerItem(Item):
    """One sentence: its tokens, with the gold tag sequence as ``label``."""

    tokens: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.label, tuple):  # a joined string would be read letter by letter
            raise TypeError(f"NerItem {self.id!r}: label must be a tuple of tags (one per token), not {self.label!r}.")

    @property
    def tags(self) -> tuple[str, ...]:
        """The gold tags, one per token (the label, typed)."""
        return NER.classes_of(self.label)


def ner_exemplars(pool: Dataset, k: int, seed: int, exclude: set[str]) -> list[Item]:
    """``k`` seeded example sentences of ``pool`` (k-shot ``ner_prompt``), those with an entity
    first: a sentence without one shows the model only the empty answer."""
    readable = [it for it in pool.items if it.id not in exclude and it.unreadable is None]
    if len(readable) < k:
        raise DatasetError(f"Dataset {pool.name!r} has {len(readable)} sentence(s) to show as exemplars; {k}-shot needs {k}.")
    has_entity = [any(tag != "O" for tag in NER.classes_of(it.label)) for it in readable]
    tagged = [it for it, yes in zip(readable, has_entity) if yes]
    plain = [it for it, yes in zip(readable, has_entity) if not yes]
    rng = random.Random(f"vlmbench:ner-exemplars:{seed}")
    chosen = rng.sample(tagged, min(k, len(tagged)))
    return chosen + rng.sample(plain, k - len(chosen))


def entity_types(tags: Iterable[str]) -> tuple[str, ...]:
    """The entity types of a tag set (``B-PER``, ``I-PER`` -> ``PER``), in first-seen order."""
    return tuple(dict.fromkeys(t[2:] for t in tags if t[:2] in ("B-", "I-")))


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Tags in IOB2: an ``I-X`` that does not continue an ``X`` entity opens one (``B-X``)."""
    out: list[str] = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or out[i - 1][2:] != tag[2:] or out[i - 1] == "O"):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def _check_tag(tag: str, where: str) -> str:
    if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
        raise DatasetError(f"{where}: tag {tag!r} is not IOB (O, B-TYPE or I-TYPE); NER data must be tagged in IOB/IOB2.")
    return tag


def ner_dataset(name: str, sentences: Sequence[tuple[Sequence[str], Sequence[str]]], *, classes: Sequence[str] = (),
                source: str = "", provenance: dict[str, Any] | None = None, ids: Sequence[str] | None = None) -> Dataset:  # fmt: skip
    """A NER dataset from ``(tokens, tags)`` sentences; ``classes`` default to the tags seen, ``O`` first.

    Whitespace inside a token becomes ``_``: tokens are joined by spaces for the model and
    split on them again (no CoNLL-2003, WNUT-2017 or WikiNER token contains a space).
    """
    items: list[Item] = []
    for n, (tokens, tags) in enumerate(sentences):
        if not tokens:
            continue
        if len(tokens) != len(tags):
            raise DatasetError(f"Sentence {n} of {name!r} has {len(tokens)} tokens but {len(tags)} tags; give one tag per token.")
        words = tuple("_".join(str(t).split()) or "_" for t in tokens)
        iob2 = to_iob2([_check_tag(str(t), f"Sentence {n} of {name!r}") for t in tags])
        items.append(NerItem(id=ids[n] if ids else str(n), label=tuple(iob2), text=" ".join(words), tokens=words))
    seen = dict.fromkeys(t for it in items for t in NER.classes_of(it.label))
    tag_set = list(classes) or ["O", *sorted(t for t in seen if t != "O")]
    tag_set += [t for t in seen if t not in tag_set]  # IOB1 -> IOB2 may add B- tags the source did not list
    return Dataset(name=name, classes=tuple(tag_set), items=items, modality="text", source=source,
                   provenance=dict(provenance or {}), task=NER)  # fmt: skip


def read_conll(lines: Iterable[str], where: str = "CoNLL data") -> list[tuple[list[str], list[str]]]:
    """``(tokens, tags)`` per sentence: token in the first column, tag in the last; blank lines end a sentence."""
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("-DOCSTART-"):
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        parts = line.split()
        if len(parts) < 2:
            raise DatasetError(f"{where}, line {number}: {line!r} has no tag column; CoNLL lines are 'token ... tag'.")
        tokens.append(parts[0])
        tags.append(parts[-1])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def load_conll(path: str | Path, name: str | None = None) -> Dataset:
    """A CoNLL file (``-DOCSTART-`` lines and blank lines between sentences) as a NER dataset."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetError(f"No CoNLL file at {str(path)!r}.")
    sentences = read_conll(file.read_text(encoding="utf-8").splitlines(), str(file))
    if not sentences:
        raise DatasetError(f"{file} holds no tagged sentence; CoNLL lines are 'token ... tag' with blank lines between sentences.")
    return ner_dataset(name or file.name, sentences, source=str(file), provenance={"files_sha256": file_sha256(file)})


def from_rows(name: str, rows: Iterable[dict[str, Any]], tag_names: Sequence[str] = (), source: str = "",
              provenance: dict[str, Any] | None = None) -> Dataset:  # fmt: skip
    """Rows with ``tokens`` and ``ner_tags`` (names, or indexes into ``tag_names``) as a NER dataset."""
    sentences: list[tuple[list[str], list[str]]] = []
    for n, row in enumerate(rows):
        if "tokens" not in row or "ner_tags" not in row:
            raise DatasetError(f"Row {n} of {name!r} lacks a 'tokens' or 'ner_tags' column; NER rows need both.")
        tags = [str(t) if isinstance(t, str) else _tag_name(int(t), tag_names, name) for t in row["ner_tags"]]
        sentences.append(([str(t) for t in row["tokens"]], tags))
    return ner_dataset(name, sentences, classes=tag_names, source=source, provenance=provenance)


def _tag_name(index: int, names: Sequence[str], dataset: str) -> str:
    if not 0 <= index < len(names):
        raise DatasetError(f"Dataset {dataset!r} has integer tag {index} but no tag names for it; give tag names as strings.")
    return names[index]


def is_ner_table(path: Path) -> bool:
    """True for a JSONL file whose first record, or a Parquet file whose schema, has ``tokens`` and ``ner_tags``."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as handle:
                first = next((line for line in handle if line.strip()), "")
            record = json.loads(first) if first else None
            return isinstance(record, dict) and {"tokens", "ner_tags"} <= record.keys()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return {"tokens", "ner_tags"} <= set(pq.read_schema(path).names)
    except (OSError, ValueError):
        return False  # the table loader says what is wrong
    return False


def load_ner_file(path: str | Path) -> Dataset:
    """A local NER file: CoNLL (:data:`CONLL_SUFFIXES`), or JSONL/Parquet rows with ``tokens`` and ``ner_tags``."""
    file = Path(path).expanduser()
    if file.suffix.lower() in CONLL_SUFFIXES:
        return load_conll(file)
    if file.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif file.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(file).to_pylist()
    else:
        raise DatasetError(f"{file}: NER files are CoNLL ({', '.join(CONLL_SUFFIXES)}), .jsonl or .parquet.")
    return from_rows(file.name, rows, source=str(file), provenance={"files_sha256": file_sha256(file)})


@dataclass(frozen=True)
class HubNer:
    """A hub NER dataset (``tokens`` + ``ner_tags``; tag names from the ``ner_tags`` feature); calling it loads one split."""

    name: str
    repo_id: str
    config: str | None = None
    split: str = "test"
    description: str = ""

    def __call__(self, *, split: str | None = None) -> Dataset:
        import datasets

        chosen = split or self.split
        try:
            data = datasets.load_dataset(self.repo_id, self.config, split=chosen)
        except Exception as exc:  # noqa: BLE001 - offline, missing split, gated: one sentence
            raise DatasetError(f"NER dataset {self.name!r} ({self.repo_id}) could not be loaded: {type(exc).__name__}: {exc}") from None
        feature = data.features.get("ner_tags")
        names = list(getattr(getattr(feature, "feature", None), "names", None) or [])
        return from_rows(self.name, data, names, source=f"hf:{self.repo_id}",
                         provenance={"split": chosen, "hf_fingerprint": getattr(data, "_fingerprint", None)})  # fmt: skip


conll2003 = HubNer("conll2003", "eriktks/conll2003", description="CoNLL-2003 English NER: PER, LOC, ORG, MISC")
wnut_17 = HubNer("wnut_17", "leondz/wnut_17", description="WNUT-2017 emerging entities in social media text")
wikiner = HubNer("wikiner", "mnaguib/WikiNER", config="en", description="WikiNER English (Wikipedia, PER/LOC/ORG/MISC)")

# -- the built-in generated set ------------------------------------------------------------

_PEOPLE: list[tuple[str, ...]] = [("Anna", "Berg"), ("Tomas", "Lind"), ("Maria", "Costa"), ("Ken", "Ito"), ("Lea", "Novak"), ("Omar", "Haddad")]
_PLACES: list[tuple[str, ...]] = [("Oslo",), ("Lisbon",), ("New", "York"), ("Nairobi",), ("Kyoto",), ("Buenos", "Aires")]
_ORGS: list[tuple[str, ...]] = [("Acme", "Corp"), ("Nordbank",), ("Blue", "River", "Labs"), ("Unitel",), ("Greenfield", "University")]
_TEMPLATES = [
    "{PER} works for {ORG} in {LOC} .", "{PER} moved to {LOC} last year .", "{ORG} opened an office in {LOC} .",
    "Yesterday {PER} met {PER} at {ORG} .", "The weather in {LOC} was mild .", "{PER} said {ORG} will grow .",
    "Nobody expected the meeting to end early .", "{ORG} hired {PER} to lead the team in {LOC} .",
]  # fmt: skip
_POOLS: dict[str, list[tuple[str, ...]]] = {"PER": _PEOPLE, "LOC": _PLACES, "ORG": _ORGS}
GENERATED_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")


def generated_sentences(n: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """``n`` generated sentences: a template per sentence, its slots filled with invented names (seeded)."""
    rng = random.Random(f"vlmbench:ner-generated:{seed}")
    out: list[tuple[list[str], list[str]]] = []
    for _ in range(n):
        tokens: list[str] = []
        tags: list[str] = []
        for word in rng.choice(_TEMPLATES).split():
            if word.startswith("{") and word.endswith("}"):
                kind = word[1:-1]
                name = rng.choice(_POOLS[kind])
                tokens += name
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            else:
                tokens.append(word)
                tags.append("O")
        out.append((tokens, tags))
    return out


def load_generated_ner(split: str | None = None, n: int = 60) -> Dataset:
    """``ner_generated``: generated English sentences (templates + invented names) tagged PER/LOC/ORG in IOB2.

    Generated, not collected: it proves the NER path end to end offline; its scores say
    nothing about real NER quality. Split ``test`` (the default): 60 sentences, ids ``0..59``;
    ``train``: 200 others from another seed, ids ``train-*`` (``ner_finetune`` trains on it).
    """
    chosen = split or "test"
    if chosen not in ("test", "train"):
        raise DatasetError(f"The generated NER set has splits test and train, not {chosen!r}.")
    count, seed = (n, 0) if chosen == "test" else (200, 1)
    return ner_dataset("ner_generated", generated_sentences(count, seed), classes=GENERATED_TAGS,
                       source="generated:templates-v1", provenance={"split": chosen, "generated": True},
                       ids=[str(i) if chosen == "test" else f"train-{i}" for i in range(count)])  # fmt: skip
