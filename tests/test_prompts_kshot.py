"""Task prompts, k-shot as the benchmarks mean it, and prompts that do not fit (issue #12, points 1, 2, 7)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import re

import pytest

from pytest_vlmbench import DATASETS
from pytest_vlmbench.datasets.base import Dataset, DatasetError, Item
from pytest_vlmbench.datasets.resolve import DatasetOptions, clear_cache, load_base, with_exemplars
from pytest_vlmbench.datasets.subsets import exemplar_counts, select_exemplars
from pytest_vlmbench.evaluation.channel import AdapterError
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.evaluation.evaluate import evaluate
from pytest_vlmbench.models.base import IMAGE_SLOT, Answer, PromptTooLong, Request
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.options import OptionError, run_options_from
from pytest_vlmbench.session.plan import PlanError, Suite, plan_suite
from pytest_vlmbench.strategies.base import StrategyConfig
from pytest_vlmbench.strategies.binary import BINARY, binary
from pytest_vlmbench.strategies.closed_set import CLOSED_SET, closed_set
from pytest_vlmbench.strategies.prompts import CLOSED_SET_TEMPLATE, PromptError, build_prompt, fill

from helpers import ScriptedChannel

pytest_plugins = ["pytester"]

CLASSES = ("cat", "dog", "bird", "fish", "frog")


def toy(modality: Any = "text", n: int = 10, task: str | None = None) -> Dataset:
    items = [Item(id=f"i{k}", label=CLASSES[k % 5], text=f"about a {CLASSES[k % 5]}") for k in range(n)]
    return Dataset("toy", CLASSES, items, modality=modality, question=task)


def prompts_of(execute: Any, dataset: Dataset, config: StrategyConfig) -> list[str]:
    channel = ScriptedChannel(lambda queries: ["no"] * len(queries))
    execute(dataset, dataset.items[:1], channel, config)
    return [q.prompt for batch in channel.asked for q in batch]


# -- 1. task prompts -----------------------------------------------------------------------


def test_each_modality_gets_its_own_wording_and_a_task_question_replaces_it() -> None:
    one = StrategyConfig(permutations=1)
    image, text, post = (prompts_of(closed_set, toy(m), one)[0] for m in ("image", "text", "image+text"))
    assert "What type of object is in this photo?" in image  # the image benchmark's wording, unchanged
    assert "photo" not in text and "Which class does this text belong to?" in text
    assert "Which class does this post (its text and its picture) belong to?" in post
    assert "Does this text belong to the class" in prompts_of(binary, toy("text"), one)[0]
    assert "Is the" in prompts_of(binary, toy("image"), one)[0]

    dataset_task = prompts_of(closed_set, toy(task="Which animal is meant?"), one)[0]
    assert "Which animal is meant? Choose one from" in dataset_task
    suite_task = prompts_of(closed_set, toy(task="Which animal is meant?"), StrategyConfig(permutations=1, question="Who?"))[0]
    assert "Who? Choose one from" in suite_task and "Which animal" not in suite_task
    override = StrategyConfig(permutations=1, question="Who?", prompt_template="Pick one of {classes}!")
    assert prompts_of(closed_set, toy(), override)[0].endswith("!") and "Who?" not in prompts_of(closed_set, toy(), override)[0]


def test_a_registry_entry_declares_its_task_question() -> None:
    DATASETS.register("tasked-toy", lambda: toy(), modality="text", offline=True, question="Which pet?", replace=True)
    clear_cache()
    assert load_base("tasked-toy").question == "Which pet?"
    assert DATASETS.find("bbc_news").meta["question"] == "What is the topic of this news article?"  # type: ignore[union-attr]


def test_templates_without_their_placeholder_fail_in_one_sentence() -> None:
    with pytest.raises(PromptError, match=r"^The --prompt-template 'Which\?' has no \{classes\} placeholder, which closed_set fills in; add it where the classes go\.$"):
        CLOSED_SET.template(StrategyConfig(prompt_template="Which?"))
    with pytest.raises(PromptError, match=r"has no \{cls\} placeholder, which binary fills in; add it where the class goes\.$"):
        BINARY.template(StrategyConfig(prompt_template="Pick {classes}"))
    with pytest.raises(OptionError, match=r"^--prompt-template 'Which\?' has neither \{classes\} .* nor \{cls\} .*; add the placeholder"):
        run_options_from({"prompt_template": "Which?"})
    assert run_options_from({"prompt_template": "Is it {cls}?"}).prompt_template == "Is it {cls}?"
    with pytest.raises(PlanError, match=re.escape("vlmbench marker's prompt_template 'Is it {cls}?' has no {classes} placeholder")):
        plan_suite(run_options_from({"model": ["tiny:qwen2.5-7b"], "dataset": ["bbc_news"], "strategy": ["closed_set"]}),
                   Suite(prompt_template="Is it {cls}?"))  # fmt: skip
    with pytest.raises(OptionError, match="--k-shot .* and --k-shot-per-class .* exclude each other"):
        run_options_from({"k_shot": 5, "k_shot_per_class": 1})


def test_the_recorded_template_is_exactly_the_one_sent() -> None:
    config = StrategyConfig(permutations=1, answer_style="json", prompt_template='Pick from {classes}; braces {kept}.')
    [prompt] = prompts_of(closed_set, toy(), config)
    recorded = CLOSED_SET.describe(config, toy())["prompt_template"]
    assert recorded == 'Pick from {classes}; braces {kept}. Respond only with JSON: {"answer": "<one of the classes>"}'
    order = prompt.split("Pick from ", 1)[1].split(";")[0]
    assert prompt.endswith(fill(recorded, classes=order))  # what the model received, braces and all
    assert "{{" not in prompt


def test_the_suite_marker_reaches_the_cases() -> None:
    suite = Suite.from_marker({"question": "Which topic?", "prompt_template": "Is it {cls}?"})
    plan = plan_suite(run_options_from({"model": ["tiny:qwen2.5-7b"], "dataset": ["bbc_news"], "strategy": ["binary"]}), suite)
    assert [(c.question, c.prompt_template) for c in plan.cases] == [("Which topic?", "Is it {cls}?")]
    with pytest.raises(PlanError, match="question must be a string"):
        Suite.from_marker({"question": 3})
    with pytest.raises(PlanError, match=r"^the vlmbench marker's task= is now question= \(the question closed_set asks\)$"):
        Suite.from_marker({"task": "Which topic?"})  # "task" now names what is evaluated


# -- 2. k-shot as the benchmarks mean it ---------------------------------------------------


def test_k_shot_is_k_in_all_stratified_and_k_shot_per_class_keeps_its_meaning() -> None:
    pool = toy(n=50)
    five = select_exemplars(pool, 5, 0, per_class=False)
    assert len(five) == 5 and Counter(e.label for e in five) == Counter(CLASSES)
    seven = Counter(e.label for e in select_exemplars(pool, 7, 3, per_class=False))
    assert sum(seven.values()) == 7 and sorted(seven.values()) == [1, 1, 1, 2, 2]
    three = [e.label for e in select_exemplars(pool, 3, 1, per_class=False)]
    assert len(three) == 3 == len(set(three))  # fewer than the classes: distinct, seeded classes
    assert three == [e.label for e in select_exemplars(pool, 3, 1, per_class=False)]
    assert len(select_exemplars(pool, 2, 0)) == 10  # per class: 2 x 5
    assert exemplar_counts(CLASSES, 10, 0, per_class=False) == dict.fromkeys(CLASSES, 2)


def test_exemplars_never_come_from_the_evaluated_items_and_are_recorded() -> None:
    DATASETS.register("kshot-toy", lambda: toy(n=40), modality="text", offline=True, replace=True)
    clear_cache()
    for seed in range(4):
        evaluated, exemplars = with_exemplars("kshot-toy", DatasetOptions(seed=seed), 5)
        assert len(exemplars) == 5 and len(evaluated.items) == 35
        assert not {e.id for e in exemplars} & {it.id for it in evaluated.items}
        assert evaluated.provenance["exemplar_split"]["k_total"] == 5
    model = ScriptedModel("says-cat", lambda r: "cat")
    record = evaluate(model, evaluated, "closed_set", EvalConfig(strategy=StrategyConfig(exemplars=exemplars)))
    assert record.config.exemplar_ids == tuple(e.id for e in exemplars)
    assert model.batches[0][0].prompt.count("Class: ") == 5
    leaked = StrategyConfig(exemplars=(evaluated.items[0],))
    with pytest.raises(AdapterError, match=r"k-shot exemplar\(s\) \['i\d+'\] are also evaluated items"):
        evaluate(model, evaluated, "closed_set", EvalConfig(strategy=leaked))


def test_image_exemplars_reach_the_model_as_images_in_their_slots() -> None:
    clear_cache()
    evaluated, exemplars = with_exemplars("digits", DatasetOptions(seed=0, per_class=3), 3)
    assert len(exemplars) == 3 and all(e.load_image is not None for e in exemplars)
    prompt = build_prompt(CLOSED_SET_TEMPLATE, evaluated.items[0], exemplars, classes="zero, one")
    assert prompt.count(IMAGE_SLOT) == 4 and prompt.index(IMAGE_SLOT, prompt.rindex("Class: ")) > 0  # the item's image last
    one_image = ScriptedModel("one-image", lambda r: "no")
    config = EvalConfig(strategy=StrategyConfig(exemplars=exemplars), limit=2)
    with pytest.raises(AdapterError, match="^Model 'one-image' takes one image per prompt, so it cannot be shown 3 image exemplars; run it with --k-shot 0"):
        evaluate(one_image, evaluated, "binary", config)
    several = ScriptedModel("several", lambda r: "no")
    several.several_images = True
    evaluate(several, evaluated, "binary", config)
    request = several.batches[0][0]
    assert len(request.exemplar_images) == 3 and request.image is not None and request.prompt.count(IMAGE_SLOT) == 4


@pytest.mark.parametrize("name", ["tiny:qwen2-vl", "tiny:qwen2.5-vl", "tiny:qwen3-vl", "tiny:smolvlm", "tiny:llava-1.6-mistral",
                                  "tiny:llama-3.2-vision", "tiny:gemma-3", "tiny:llava-onevision", "tiny:internvl3"])
def test_a_several_image_vlm_sees_every_exemplar_image_and_sharing_changes_nothing(name: str) -> None:
    from pytest_vlmbench import LoadOptions, load_model, resolve_model

    clear_cache()
    evaluated, exemplars = with_exemplars("digits", DatasetOptions(seed=0, per_class=3), 2)
    model, _ = load_model(resolve_model(name), LoadOptions(device="cpu"))
    try:
        assert model.several_images is True
        item = evaluated.items[0]
        with_shots = Request(build_prompt(CLOSED_SET_TEMPLATE, item, exemplars, classes="zero, one"), item.image(), 4,
                             exemplar_images=tuple(i for e in exemplars if (i := e.image()) is not None))  # fmt: skip
        zero = Request(build_prompt(CLOSED_SET_TEMPLATE, item, (), classes="zero, one"), item.image(), 4)
        vision = getattr(model, "_vision_tokens")

        def image_tokens(request: Request) -> int:
            ids = getattr(model, "_inputs")([request])["input_ids"][0].tolist()
            return sum(i in vision for i in ids)

        assert image_tokens(with_shots) == 3 * image_tokens(zero) > 0
        text = getattr(model, "processor").apply_chat_template(getattr(model, "_messages")(with_shots), add_generation_prompt=True)
        assert IMAGE_SLOT not in text and "vlmbench" not in text
        records = [
            evaluate(model, evaluated, "closed_set", EvalConfig(strategy=StrategyConfig(exemplars=exemplars), limit=2, prefix_sharing=on))
            for on in (True, False)
        ]
        assert [p.answers for p in records[0].predictions] == [p.answers for p in records[1].predictions]
    finally:
        model.close()


# -- 7. prompts that do not fit ------------------------------------------------------------


class Windowed(ScriptedModel):
    """Refuses, before running anything, every prompt longer than ``window`` characters."""

    window = 60

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        long = {i: f"its prompt has {len(r.prompt)} tokens, over the {self.window}-token context window"
                for i, r in enumerate(requests) if len(r.prompt) > self.window}  # fmt: skip
        if long:
            raise PromptTooLong(long)
        return super().generate(requests)


def test_a_prompt_over_the_window_is_that_items_error_and_the_others_go_on() -> None:
    items = [Item(id=f"i{k}", label=CLASSES[k % 5], text=f"about a {CLASSES[k % 5]}") for k in range(6)]
    items[2] = Item(id="long", label="bird", text="about a bird " + "and more " * 40)
    dataset = Dataset("toy", CLASSES, items, modality="text")
    model = Windowed("windowed", lambda r: r.prompt.split("about a ")[1].split()[0])
    record = evaluate(model, dataset, "closed_set", EvalConfig(strategy=StrategyConfig(prompt_template="{classes}?"), batch_size=4))
    assert [(e.id, e.error) for e in record.errors] == [("long", "its prompt has 407 tokens, over the 60-token context window")]
    assert record.n_items == 5 and record.metrics.accuracy == 1.0
    assert all(r.prompt.count("and more") == 0 for batch in model.batches for r in batch)  # never sent


def test_a_real_adapter_checks_the_tokenized_length_against_its_window() -> None:
    from pytest_vlmbench import LoadOptions, load_model, resolve_model

    model, _ = load_model(resolve_model("tiny:qwen2.5-7b"), LoadOptions(device="cpu"))
    try:
        assert getattr(model, "context_window") == 8192  # max_position_embeddings of the tiny build's config
        model.context_window = 120  # type: ignore[union-attr]
        items = [Item(id=f"i{k}", label=CLASSES[k % 5], text=f"about a {CLASSES[k % 5]}") for k in range(4)]
        items[1] = Item(id="long", label="dog", text="about a dog " + "business news " * 100)
        dataset = Dataset("toy", CLASSES, items, modality="text")
        record = evaluate(model, dataset, "binary", EvalConfig(batch_size=4))
        [error] = record.errors
        assert error.id == "long" and error.error.startswith("its prompt has ")
        assert "over the 120-token context window of tiny:qwen2.5-7b; show fewer exemplars (--k-shot) or shorten the text" in error.error
        assert record.n_items == 3 and {p.id for p in record.predictions} == {"i0", "i2", "i3"}
    finally:
        model.close()


def test_with_exemplars_refuses_too_few_items_for_k_in_all() -> None:
    DATASETS.register("tiny-toy", lambda: toy(n=6), modality="text", offline=True, replace=True)
    clear_cache()
    with pytest.raises(DatasetError, match=r"has 1 exemplar item\(s\) of class '\w+'; 10-shot \(2 of class"):
        with_exemplars("tiny-toy", DatasetOptions(), 10)


def test_image_text_exemplars_show_their_picture_then_their_text() -> None:
    from PIL import Image

    def picture() -> Image.Image:
        return Image.new("RGB", (4, 4))

    shot = Item(id="e", label="fake", text="Sharks in the mall", load_image=picture)
    item = Item(id="i", label="real", text="Sunny", load_image=picture)
    prompt = build_prompt("Pick {classes}", item, (shot,), classes="fake, real")
    assert prompt == f"{IMAGE_SLOT}Text: Sharks in the mall\nClass: fake\n\n{IMAGE_SLOT}Text: Sunny\nPick fake, real"


# -- through the plugin --------------------------------------------------------------------

CONFTEST = """
import json
from pytest_vlmbench import DATASETS, MODELS
from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.models.scripted import scripted_spec

def pets():
    items = [Item(id=f"p{k}", label=("cat", "dog")[k % 2], text=f"a {('cat', 'dog')[k % 2]}") for k in range(12)]
    return Dataset("pets", ("cat", "dog"), items, modality="text", source="generated")

DATASETS.register("pets", pets, modality="text", offline=True, replace=True)
PROMPTS = []

def recording(request):
    PROMPTS.append(request.prompt)
    return "cat"

MODELS.register("recording", scripted_spec("recording", recording, modalities=frozenset({"text"})), replace=True)

def pytest_sessionfinish(session):
    with open("prompts.json", "w") as fh:
        json.dump(PROMPTS, fh)
"""


def test_the_marker_task_and_the_command_line_template_reach_the_prompts(pytester: pytest.Pytester) -> None:
    import json

    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_pets='import pytest\npytestmark = pytest.mark.vlmbench(models=["recording"], datasets=["pets"], '
                        'strategies=["closed_set"], question="Which pet is it?")\ndef test_pets(vlmbench):\n    vlmbench.run()\n')  # fmt: skip
    result = pytester.runpytest("--k-shot", "2", "--permutations", "1", "--vlmbench-json", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    prompts = json.loads((pytester.path / "prompts.json").read_text())
    assert len(prompts) == 10 and all(p.count("Class: ") == 2 and "Which pet is it? Choose one from" in p for p in prompts)
    record = json.loads((pytester.path / "out.json").read_text())["benchmarks"][0]["extra_info"]["vlmbench"]
    assert record["config"]["prompt_template"] == "Question: Answer this question in one word: Which pet is it? Choose one from {classes}. Answer:"
    assert len(record["config"]["exemplar_ids"]) == 2 and record["n_items"] == 10

    result = pytester.runpytest("--prompt-template", 'Say {"answer": one of {classes}}', "--vlmbench-json", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    record = json.loads((pytester.path / "out.json").read_text())["benchmarks"][0]["extra_info"]["vlmbench"]
    assert record["config"]["prompt_template"] == 'Say {"answer": one of {classes}}'
    assert json.loads((pytester.path / "prompts.json").read_text())[0].endswith('Say {"answer": one of cat, dog}')

    result = pytester.runpytest("--prompt-template", "Is it {cls}?")  # closed_set needs {classes}
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*The --prompt-template 'Is it {cls}?' has no {classes} placeholder, which closed_set fills in*"])
    assert "Traceback" not in result.stdout.str()
