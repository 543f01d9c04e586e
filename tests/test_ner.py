"""NER: CoNLL reading, answer parsing onto tokens, seqeval agreement, the gate's sentence bootstrap, tiny heads."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from pytest_vlmbench.datasets.base import DatasetError
from pytest_vlmbench.datasets.catalog import spec_task
from pytest_vlmbench.datasets.files import load_path
from pytest_vlmbench.datasets.ner import NerItem, load_conll, load_generated_ner, read_conll, to_iob2
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.evaluation.evaluate import evaluate
from pytest_vlmbench.gate.compare import Pairs, significance
from pytest_vlmbench.gate.metrics import METRICS
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.strategies.ner_answers import parse_json, parse_serial
from pytest_vlmbench.tasks.spans import place_entities, spans
from pytest_vlmbench.record import Label, Record
from pytest_vlmbench.options import run_options_from
from pytest_vlmbench.session.plan import Suite, plan_suite, task_fits
from pytest_vlmbench.session.summary import summary_lines
from pytest_vlmbench.tasks import CLASSIFICATION, NER
from pytest_vlmbench.tasks.metrics import entity_counts

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O
BRUSSELS NNP B-NP I-LOC
1996-08-22 CD I-NP O
"""


def test_conll_docstart_and_blank_lines_split_sentences(tmp_path: Path) -> None:
    sentences = read_conll(CONLL.splitlines())
    assert [s[0] for s in sentences] == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    path = tmp_path / "mini.conll"
    path.write_text(CONLL)
    data = load_path(path)  # a .conll file given as --dataset routes to the CoNLL reader
    assert data.task is NER and len(data) == 3
    third = data.items[2]
    assert isinstance(third, NerItem) and third.tokens == ("BRUSSELS", "1996-08-22")
    assert third.tags == ("B-LOC", "O")  # IOB1's opening I-LOC rewritten to IOB2
    assert {"O", "B-ORG", "B-MISC", "B-PER", "I-PER", "B-LOC"} <= set(data.classes)
    assert spec_task(str(path)) is NER and spec_task("bbc_news") is CLASSIFICATION and spec_task("conll2003") is NER


def test_conll_errors_are_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conll"
    bad.write_text("EU\nrejects O\n")
    with pytest.raises(DatasetError, match="line 1: 'EU' has no tag column"):
        load_conll(bad)
    bad.write_text("EU X-ORG\n")
    with pytest.raises(DatasetError, match="is not IOB"):
        load_conll(bad)


def test_jsonl_tokens_and_ner_tags(tmp_path: Path) -> None:
    path = tmp_path / "ner.jsonl"
    path.write_text(json.dumps({"tokens": ["Anna", "in", "Oslo"], "ner_tags": ["B-PER", "O", "B-LOC"]}) + "\n")
    data = load_path(path)
    assert data.items[0].label == ("B-PER", "O", "B-LOC") and spec_task(str(path)) is NER


def test_iob2_and_spans_match_seqeval_on_random_sequences() -> None:
    from seqeval.metrics.sequence_labeling import get_entities  # noqa: F401 - the default (lenient) reader, not used
    from seqeval.scheme import IOB2, Entities

    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(300):
        seq = [rng.choice(tags) for _ in range(rng.randint(1, 9))]
        strict = {(e.start, e.end, e.tag) for e in Entities([seq], IOB2).entities[0]}
        assert {(s.start, s.end, s.kind) for s in spans(seq)} == strict, seq
    assert to_iob2(["I-PER", "I-PER", "O", "I-LOC", "I-PER"]) == ["B-PER", "I-PER", "O", "B-LOC", "B-PER"]


def test_serial_and_json_answers_parse_onto_tokens() -> None:
    tokens = ["Anna", "Berg", "works", "for", "Acme", "Corp", "in", "Oslo", "."]
    serial = parse_serial("Here are the entities:\nAnna Berg | PER\n- Acme Corp | ORG\noslo | LOC\nMars | LOC")
    assert serial == [("Anna Berg", "PER"), ("Acme Corp", "ORG"), ("oslo", "LOC"), ("Mars", "LOC")]
    placed = place_entities(tokens, serial, ["PER", "ORG", "LOC"])
    assert placed.tags == ("B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O")
    assert placed.unplaced == ("Mars | LOC",)  # not among the tokens: counted, not scored
    answer = '```json\n[{"entity": "Anna Berg", "type": "PER"}, {"entity": "Oslo", "type": "loc"}]\n```'
    assert parse_json(answer) == [("Anna Berg", "PER"), ("Oslo", "loc")]
    assert place_entities(tokens, parse_json(answer) or [], ["PER", "LOC"]).tags[7] == "B-LOC"  # type case ignored
    assert parse_serial("None") == [] and parse_json("[]") == []
    assert parse_serial("I cannot tell.") is None and parse_json('{"entity": "Anna"}') is None
    assert parse_json('[{"entity": "Anna"}]') is None  # no type: unparseable


def _planted(style: str):  # type: ignore[no-untyped-def]
    """A model that names the right entities for even sentences and talks nonsense for odd ones."""
    data = load_generated_ner().limited(10)
    by_sentence = {it.text: it for it in data.items if isinstance(it, NerItem)}

    def respond(request) -> str:  # type: ignore[no-untyped-def]
        sentence = request.prompt.rsplit("Sentence: ", 1)[1]
        item = by_sentence[sentence]
        if int(item.id) % 2:
            return "no idea"
        ents = [(" ".join(item.tokens[s.start : s.end]), s.kind) for s in spans(item.tags)]
        if style == "json":
            return json.dumps([{"entity": e, "type": t} for e, t in ents])
        return "\n".join(f"{e} | {t}" for e, t in ents) or "None"

    return data, ScriptedModel("scripted", respond)


@pytest.mark.parametrize("style", ["plain", "json"])
def test_ner_prompt_records_seqeval_scores_and_unparseable_counts(style: str) -> None:
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    data, model = _planted(style)
    config = EvalConfig(max_new_tokens=128)
    config = dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, answer_style=style))
    record = evaluate(model, data, "ner_prompt", config)
    assert record.ner is not None and record.ner.unparseable_rate == 0.5 and record.metrics.invalid_rate == 0.5
    sent = model.batches[0][0].prompt
    assert ('{"entity"' in sent) == (style == "json") and "PER, LOC, ORG" in sent
    assert record.config.prompt_template is not None and "{sentence}" in record.config.prompt_template
    # Recorded predictions re-scored by seqeval give the recorded entity F1 (unparseable = no entity).
    gold = [list(p.label) for p in record.predictions]
    pred = [list(p.prediction) if p.prediction else ["O"] * len(g) for p, g in zip(record.predictions, gold)]
    assert record.ner.micro.f1 == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2))
    assert record.ner.micro.precision == 1.0 and 0 < record.ner.micro.recall < 1
    assert record.metrics.accuracy == pytest.approx(sum(p.correct for p in record.predictions) / 10)
    again = Record.from_json(json.loads(json.dumps(record.to_json())))
    assert again.ner == record.ner
    # The terminal summary shows the entity-level F1 (the study's figure) beside the sentence view.
    header, _, row = summary_lines([record])[:3]
    assert header.split()[-1] == "entityF1" and row.split()[-1] == f"{record.ner.micro.f1:.3f}"


@pytest.mark.parametrize("style", ["plain", "json"])
def test_ner_prompt_k_shot_shows_k_sentences_with_their_entities_in_the_answer_style(style: str) -> None:
    from pytest_vlmbench.datasets.resolve import DatasetOptions, with_exemplars
    from pytest_vlmbench.strategies.ner import NER_EXEMPLAR

    evaluated, exemplars = with_exemplars("ner_generated", DatasetOptions(), 3)
    assert len(exemplars) == 3 and not {e.id for e in exemplars} & {it.id for it in evaluated.items}
    assert all(any(t != "O" for t in e.label) for e in exemplars)  # sentences with entities first
    assert with_exemplars("ner_generated", DatasetOptions(), 3)[1] == exemplars  # seeded
    _, model = _planted(style)
    data = evaluated.limited(6)
    config = EvalConfig(max_new_tokens=128)
    config = dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, answer_style=style, exemplars=exemplars))
    record = evaluate(model, data, "ner_prompt", config)
    sent = model.batches[0][0].prompt
    first = exemplars[0]
    assert isinstance(first, NerItem)
    gold = [(" ".join(first.tokens[s.start : s.end]), s.kind) for s in spans(first.tags)]
    answer = json.dumps([{"entity": e, "type": t} for e, t in gold], ensure_ascii=False) if style == "json" else "\n".join(f"{e} | {t}" for e, t in gold)
    assert sent.startswith(f"Sentence: {' '.join(first.tokens)}\nAnswer:\n{answer}\n\n")
    assert sent.count("\nAnswer:\n") == 3 and sent.index("Find the named entities") > sent.rindex("\nAnswer:\n")
    assert record.config.exemplar_ids == tuple(e.id for e in exemplars) and record.config.exemplar_template == NER_EXEMPLAR
    assert record.ner is not None and record.ner.unparseable_rate == 0.5  # the planted answers still parse as before


def test_an_exemplar_shows_its_entities_as_written_in_either_style() -> None:
    from pytest_vlmbench.strategies.ner import exemplar_block

    item = NerItem("z", ("B-PER", "O", "O", "B-LOC", "I-LOC"), text="Jürgen flog nach Zürich West", tokens=("Jürgen", "flog", "nach", "Zürich", "West"))
    assert exemplar_block(item, "serial") == "Sentence: Jürgen flog nach Zürich West\nAnswer:\nJürgen | PER\nZürich West | LOC\n\n"
    assert exemplar_block(item, "json") == (
        'Sentence: Jürgen flog nach Zürich West\nAnswer:\n[{"entity": "Jürgen", "type": "PER"}, {"entity": "Zürich West", '
        '"type": "LOC"}]\n\n'
    )
    none = NerItem("n", ("O", "O"), text="nothing here", tokens=("nothing", "here"))
    assert exemplar_block(none, "serial").endswith("Answer:\nNone\n\n") and exemplar_block(none, "json").endswith("Answer:\n[]\n\n")


def test_k_shot_per_class_on_ner_is_one_sentence() -> None:
    from pytest_vlmbench.datasets.resolve import DatasetOptions, with_exemplars

    with pytest.raises(DatasetError) as caught:
        with_exemplars("ner_generated", DatasetOptions(), 2, per_class=True)
    assert str(caught.value) == (
        "--k-shot-per-class counts exemplars per class, and the items of NER dataset 'ner_generated' are sentences; "
        "give --k-shot K for K example sentences."
    )


def test_ner_bootstrap_counts_agree_with_seqeval_and_detect_a_regression() -> None:
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    data = load_generated_ner()
    labels = [it.label for it in data.items]
    worse: list[Label | None] = [("O",) * len(label) if i % 3 else label for i, label in enumerate(labels)]
    counts = entity_counts(labels, worse)  # what the gate resamples: the record's own counts
    assert counts.names == ("LOC", "ORG", "PER") and counts.n == len(labels)
    expected = f1_score([list(x) for x in labels], [list(x or ()) for x in worse], mode="strict", scheme=IOB2)
    assert float(counts.total().value("entity_f1")) == pytest.approx(expected, abs=1e-12)
    pairs = Pairs(labels, list(labels), worse, len(labels), len(labels))
    result = significance(METRICS["entity_f1"], pairs, NER, data.classes, 0.05)
    assert result is not None and result.p_value is not None and result.p_value < 0.01
    same = significance(METRICS["token_accuracy"], Pairs(labels, list(labels), list(labels), 60, 60), NER, data.classes, 0.05)
    assert same is not None and same.p_value == 1.0


def test_the_gate_checks_a_ner_records_metrics_against_its_predictions_scored_as_ner() -> None:
    """Scored as classes (whole tag sequences as labels), a NER record's averages came out 0 and the gate refused it."""
    from pytest_vlmbench.gate.baseline import check_metrics
    from pytest_vlmbench.gate.metrics import GateError

    data, model = _planted("plain")
    record = evaluate(model, data, "ner_prompt", EvalConfig(max_new_tokens=128))
    assert record.metrics.macro_f1 > 0 and check_metrics(record, "x.json") is record
    edited = dataclasses.replace(record, metrics=dataclasses.replace(record.metrics, macro_f1=record.metrics.macro_f1 / 2))
    with pytest.raises(GateError, match=r"^x.json: metrics.macro_f1 is 0.\d+ but its predictions give 0.\d+;"):
        check_metrics(edited, "x.json")


def test_ner_strategies_fit_only_ner_datasets() -> None:
    assert task_fits("ner_prompt", "ner_generated") and not task_fits("closed_set", "ner_generated")
    assert not task_fits("ner_direct", "bbc_news") and task_fits("direct", "bbc_news")
    assert task_fits("ner_prompt", "someone/their-ner-set")  # a hub id: known only once loaded


def test_the_ner_suite_leaves_classification_datasets_to_the_text_suite() -> None:
    # --dataset and --strategy replace a suite's own; a classification dataset named beside a
    # NER one must not become a second case of the same (model, dataset, strategy) in the NER suite.
    options = run_options_from({"model": ["tiny:qwen2.5-7b"], "dataset": ["bbc_news,ner_generated"], "strategy": ["closed_set,ner_prompt"]})
    ner = plan_suite(options, Suite(strategies=("ner_direct", "ner_prompt"), modality="text"))
    text = plan_suite(options, Suite(strategies=("closed_set",), modality="text"))
    assert {(c.dataset, c.strategy) for c in ner.cases} == {("ner_generated", "ner_prompt")}
    assert {(c.dataset, c.strategy) for c in text.cases} == {("bbc_news", "closed_set")}


def test_ner_prompt_named_by_the_suite_marker_gets_room_for_its_entities() -> None:
    """No --strategy: the NER suite's marker names ner_prompt, and its items generate up to 128
    tokens (a list of entities), not the 8 of a class name (before, only --strategy ner_prompt did)."""
    from pytest_vlmbench.models.base import LoadOptions
    from pytest_vlmbench.session.execution import DatasetCache, ModelLoader, run_case

    options = run_options_from({"model": ["tiny:qwen2.5-7b"], "dataset": ["ner_generated"], "limit": 2})
    [case] = plan_suite(options, Suite(strategies=("ner_direct", "ner_prompt"), modality="text")).cases
    loaded = ModelLoader(LoadOptions(device="cpu")).load("tiny:qwen2.5-7b")
    try:
        record = run_case(case, loaded, options, DatasetCache())
    finally:
        ModelLoader.release(loaded)
    assert case.strategy == "ner_prompt" and record.config.max_new_tokens == 128


@pytest.mark.parametrize("name", ["tiny:bert-ner", "tiny:distilbert-ner", "tiny:roberta-ner"])
def test_every_tiny_token_head_tags_every_token(name: str) -> None:
    from pytest_vlmbench.models.base import LoadOptions
    from pytest_vlmbench.models.catalog import load_model, resolve_model

    model, _ = load_model(resolve_model(name), LoadOptions(device="cpu"))
    record = evaluate(model, load_generated_ner().limited(6), "ner_direct", EvalConfig())
    model.close()
    assert record.model_info.family == "hf-token-cls" and record.n_items == 6
    assert all(isinstance(p.prediction, tuple) and len(p.prediction) == len(p.label) for p in record.predictions)
    assert all(set(p.prediction or ()) <= set(load_generated_ner().classes) for p in record.predictions)


def test_tiny_token_head_tags_every_token_and_finetune_learns_the_generated_set() -> None:
    from pytest_vlmbench.datasets.ner import load_generated_ner as loader
    from pytest_vlmbench.models.base import LoadOptions
    from pytest_vlmbench.models.catalog import load_model, resolve_model
    from pytest_vlmbench.training.pipeline import train_and_evaluate

    model, _ = load_model(resolve_model("tiny:bert-ner"), LoadOptions(device="cpu"))
    data = loader().limited(30)
    direct = evaluate(model, data, "ner_direct", EvalConfig())
    assert all(len(p.prediction or ()) == len(p.label) for p in direct.predictions)
    config = EvalConfig()
    training = dataclasses.replace(config.strategy.training, epochs=6, learning_rate=3e-3, batch_size=8, limit=120)
    config = dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, training=training))
    tuned = train_and_evaluate(model, data, "ner_finetune", config, load=LoadOptions(device="cpu"), load_split=lambda s: loader(s))
    assert tuned.training is not None and tuned.training.split == "train" and tuned.training.items == 120
    assert tuned.training.losses[-1] < tuned.training.losses[0] / 2
    assert tuned.ner is not None and direct.ner is not None
    assert tuned.ner.micro.f1 > max(0.3, direct.ner.micro.f1 + 0.2)
    model.close()


def test_a_conll_file_whose_sentences_share_one_tag_pattern_fine_tunes_and_scores(tmp_path: Path) -> None:
    """Every sentence tagged B-PER O O: one pattern, three tags. Counting joined tag strings as classes refused it
    ("cover fewer than two classes"); the training split now counts the tags the sentences use."""
    from pytest_vlmbench.models.base import LoadOptions
    from pytest_vlmbench.models.catalog import load_model, resolve_model
    from pytest_vlmbench.training.pipeline import train_and_evaluate

    names = ["Anna", "Tomas", "Maria", "Ken", "Lea", "Omar", "Ada", "Ivan", "Nora", "Emil", "Rosa", "Hugo"]
    path = tmp_path / "one-pattern.conll"
    path.write_text("\n\n".join(f"{name} B-PER\nsmiled O\n. O" for name in names * 2) + "\n")
    data = load_conll(path)
    assert data.task.name == "ner" and {p.label for p in data.items} == {("B-PER", "O", "O")}
    model, _ = load_model(resolve_model("tiny:bert-ner"), LoadOptions(device="cpu"))
    config = EvalConfig()
    training = dataclasses.replace(config.strategy.training, epochs=8, learning_rate=3e-3, batch_size=8)
    config = dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, training=training))
    record = train_and_evaluate(model, data, "ner_finetune", config, load=LoadOptions(device="cpu"))
    model.close()
    assert record.task == "ner" and record.training is not None and record.training.split == "holdout"
    assert record.n_items > 0 and record.ner is not None and record.ner.micro.support == record.n_items
    assert all(isinstance(p.label, tuple) and p.label == ("B-PER", "O", "O") for p in record.predictions)
    assert record.ner.micro.f1 > 0.5  # three words, one pattern: easy to learn
    assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_a_strategy_of_another_task_is_one_sentence() -> None:
    with pytest.raises(ValueError, match=r"^Strategy 'closed_set' evaluates classification and dataset 'ner_generated' is a ner "
                                         r"dataset; pick a ner strategy \(`vlmbench strategies` lists them\)\.$"):  # fmt: skip
        evaluate(ScriptedModel("s", lambda r: "O"), load_generated_ner().limited(2), "closed_set", EvalConfig())


def test_a_ner_datasets_fingerprint_is_what_it_was_when_labels_were_joined_strings() -> None:
    """Labels became tag tuples in schema 2; the fingerprint hashes them joined, as before, so a NER baseline
    recorded earlier still reads as the same data to the gate (not as a changed dataset)."""
    import hashlib

    from pytest_vlmbench.datasets.fingerprint import items_sha256

    data = load_generated_ner()
    joined = "".join(f"{it.id}\t{' '.join(NER.classes_of(it.label))}\n" for it in data.items)
    assert items_sha256(data) == hashlib.sha256(joined.encode()).hexdigest()
