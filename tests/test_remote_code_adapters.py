"""The remote-code adapters (MiniCPM-V-2.6, InternVL2, Phi-3-vision) against stand-ins of their code.

The real checkpoints cannot be downloaded here. Each stand-in has the signature of the real
method (``MiniCPMV.chat``, ``InternVLChatModel.chat``/``batch_chat``, ``Phi3VProcessor`` +
``generate``; the adapters cite the files), checks what the adapter passes the way the real
code needs it, and answers from what it *saw*: the grey level of the image names the class,
the question decides the form (closed_set: the class; binary: yes or no). A right answer
therefore proves that the right image reached the model together with the right question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate
from pytest_vlmbench.models import catalog
from pytest_vlmbench.models.base import Answer, GenerativeModel, LoadOptions, Request
from pytest_vlmbench.models.hf_common import RemoteCodeRequired
from pytest_vlmbench.models.remote_code import internvl_chat, minicpmv_chat, phi3_vision
from pytest_vlmbench.models.remote_code.internvl_chat import InternVLChat
from pytest_vlmbench.models.remote_code.internvl_tiles import IMAGENET_MEAN, IMAGENET_STD, dynamic_preprocess, load_image, tile_grid
from pytest_vlmbench.models.remote_code.minicpmv_chat import MiniCPMVChat
from pytest_vlmbench.models.remote_code.phi3_vision import Phi3Vision
from pytest_vlmbench.models.zoo import family_for_config, make_spec

CLASSES = ("cat", "dog", "bird")
GREY = {"cat": 40, "dog": 120, "bird": 200}


def texts(answers: list[Answer]) -> list[str]:
    """The answers' texts, in order."""
    return [a.text for a in answers]


def solid(label: str, size: tuple[int, int] = (32, 32)) -> Image.Image:
    return Image.new("RGB", size, (GREY[label],) * 3)


def seen_class(grey: float) -> str:
    return min(GREY, key=lambda c: abs(GREY[c] - grey))


def grey_of(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L"), dtype=np.float32).mean())


def answer_from(question: str, seen: str | None) -> str:
    """What a perfect model answers: the class it saw, or whether it is the class asked about."""
    if seen is None:
        return "text"
    if match := re.search(r"Is the (.+?) in this photo\?", question):
        return "yes" if match.group(1) == seen else "no"
    assert "Choose one from" in question, question
    return seen


class StandIn(torch.nn.Module):
    """What every stand-in model shares: one parameter (dtype, device, parameter count) and a memory limit."""

    def __init__(self, fail_above: int | None = None, fail_calls: Sequence[int] = ()) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(3))
        self.fail_above = fail_above
        self.fail_calls = set(fail_calls)
        self.batches: list[int] = []
        self.n_calls = 0

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def use_memory(self, batch: int) -> None:
        self.n_calls += 1
        if (self.fail_above is not None and batch > self.fail_above) or self.n_calls in self.fail_calls:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.batches.append(batch)


class FakeMiniCPMV(StandIn):
    """``MiniCPMV.chat`` of MiniCPM-V-2.6: one conversation, or a list of them with ``image=None``."""

    tokenizer = object()
    processor = object()

    def __init__(self, fail_above: int | None = None) -> None:
        super().__init__(fail_above)
        self.generation: list[dict[str, Any]] = []
        self.max_new_tokens: list[int] = []

    def chat(
        self, image: Any, msgs: Any, tokenizer: Any, processor: Any = None, vision_hidden_states: Any = None,
        max_new_tokens: int = 2048, min_new_tokens: int = 0, sampling: bool = True, max_inp_length: int = 8192,
        system_prompt: str = "", stream: bool = False, max_slice_nums: Any = None, use_image_id: Any = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        batched = isinstance(msgs[0], list)
        assert not batched or image is None, "Please integrate image to msgs when using batch inference."
        assert tokenizer is self.tokenizer and processor is self.processor
        # As the real chat: sampling=False is 3-beam search with penalty 1.2 unless kwargs replace those keys.
        generation: dict[str, Any] = {"do_sample": True} if sampling else {"num_beams": 3, "repetition_penalty": 1.2}
        generation.update((k, kwargs[k]) for k in generation.keys() & kwargs.keys())
        self.generation.append(generation)
        self.max_new_tokens.append(max_new_tokens)
        conversations = msgs if batched else [msgs]
        self.use_memory(len(conversations))
        answers = []
        for conversation in conversations:
            (turn,) = conversation
            assert turn["role"] == "user"
            images = [c for c in turn["content"] if isinstance(c, Image.Image)]
            texts = [c for c in turn["content"] if isinstance(c, str)]
            assert len(texts) == 1 and len(images) + 1 == len(turn["content"])
            if images:  # the card's order: the image, then the question
                assert turn["content"][0] is images[0] and images[0].mode == "RGB"
            seen = seen_class(grey_of(images[0])) if images else None
            answers.append(answer_from(texts[0], seen))
        return answers if batched else answers[0]


class FakeInternVL(StandIn):
    """``InternVLChatModel.chat`` and ``batch_chat``: tiles of every image concatenated, counted per question."""

    tokenizer = object()
    num_image_token = 256

    def __init__(self, fail_above: int | None = None) -> None:
        super().__init__(fail_above)
        self.seen: list[tuple[int | None, str]] = []
        """(tiles, question) per question, in the order the model read them."""

    def chat(
        self, tokenizer: Any, pixel_values: Any, question: str, generation_config: dict[str, Any], history: Any = None,
        return_history: bool = False, num_patches_list: Any = None, IMG_START_TOKEN: str = "<img>",
        IMG_END_TOKEN: str = "</img>", IMG_CONTEXT_TOKEN: str = "<IMG_CONTEXT>", verbose: bool = False,
    ) -> str:  # fmt: skip
        if num_patches_list is None:
            num_patches_list = [pixel_values.shape[0]] if pixel_values is not None else []
        self.use_memory(1)
        return self._answers(tokenizer, pixel_values, [question], generation_config, num_patches_list or [0])[0]

    def batch_chat(
        self, tokenizer: Any, pixel_values: Any, questions: list[str], generation_config: dict[str, Any],
        num_patches_list: Any = None, history: Any = None, return_history: bool = False, IMG_START_TOKEN: str = "<img>",
        IMG_END_TOKEN: str = "</img>", IMG_CONTEXT_TOKEN: str = "<IMG_CONTEXT>", verbose: bool = False, image_counts: Any = None,
    ) -> list[str]:  # fmt: skip
        assert len(num_patches_list) == len(questions)
        self.use_memory(len(questions))
        return self._answers(tokenizer, pixel_values, questions, generation_config, num_patches_list)

    def _answers(self, tokenizer: Any, pixels: Any, questions: list[str], config: dict[str, Any], patches: list[int]) -> list[str]:
        assert tokenizer is self.tokenizer and config["do_sample"] is False and config["max_new_tokens"] > 0
        assert "eos_token_id" not in config  # a fresh dict each call: the real code writes it in
        config["eos_token_id"] = 2
        assert pixels is None or (pixels.shape[1:] == (3, 448, 448) and pixels.dtype == self.dtype and len(pixels) == sum(patches))
        answers, start = [], 0
        for question, n in zip(questions, patches):
            # The real code prepends "<image>\n" to every question when pixel_values is given.
            assert question.startswith("<image>\n") == (pixels is not None)
            seen = None
            if pixels is not None:
                grey = (pixels[start, 0].mean().item() * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255
                seen, start = seen_class(grey), start + n
            self.seen.append((n if pixels is not None else None, question))
            answers.append(answer_from(question, seen))
        return answers


class CharTokenizer:
    """A tokenizer of code points, with Phi-3's chat layout and end-of-text id 0."""

    eos_token_id = 0

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = True, add_generation_prompt: bool = False) -> str:
        assert tokenize is False
        text = "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return "".join(chr(i) for i in ids if i > 0 or (i == 0 and not skip_special_tokens))


class FakePhi3Processor:
    """``Phi3VProcessor``: one prompt string, each ``<|image_N|>`` tag replaced by that image's tokens (negative ids)."""

    num_img_tokens = 16

    def __init__(self) -> None:
        self.tokenizer = CharTokenizer()

    def __call__(self, text: str, images: Any = None, padding: bool = False, return_tensors: str | None = None) -> Any:
        from transformers import BatchFeature

        assert isinstance(text, str) and return_tensors == "pt"
        tags = re.findall(r"<\|image_\d+\|>", text)
        if not images:
            assert not tags
            ids = [ord(c) for c in text]
            return BatchFeature({"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids))})
        (image,) = images
        assert tags == ["<|image_1|>"] and image.mode == "RGB"
        before, after = re.split(r"<\|image_\d+\|>", text)
        ids = [ord(c) for c in before] + [-1] * self.num_img_tokens + [ord(c) for c in after]
        grey = torch.tensor(grey_of(image) / 255)
        return BatchFeature({
            "input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids)),
            "pixel_values": grey.view(1, 1, 1, 1, 1).expand(1, 1, 3, 4, 4), "image_sizes": torch.tensor([[image.height, image.width]]),
        })  # fmt: skip

    def batch_decode(self, ids: Any, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True) -> list[str]:
        return [self.tokenizer.decode(row.tolist(), skip_special_tokens) for row in ids]


class FakePhi3(StandIn):
    """Phi-3-vision's ``generate``: reads the prompt and the image, appends the answer and end-of-text."""

    def generate(self, input_ids: Any, attention_mask: Any, pixel_values: Any = None, image_sizes: Any = None, *,
                 eos_token_id: int, max_new_tokens: int, do_sample: bool) -> Any:  # fmt: skip
        assert eos_token_id == 0 and do_sample is False and input_ids.shape[0] == 1
        self.use_memory(1)
        ids = input_ids[0].tolist()
        text = "".join(chr(i) for i in ids if i > 0)
        match = re.fullmatch(r"<\|user\|>\n(.*)<\|end\|>\n<\|assistant\|>\n", text, re.S)
        assert match, text
        question = match.group(1)
        seen = None
        if pixel_values is not None:  # the image tokens sit where the tag was, before "\n" + question
            assert ids.count(-1) == FakePhi3Processor.num_img_tokens and question.startswith("\n")
            seen = seen_class(pixel_values.mean().item() * 255)
        new = [ord(c) for c in answer_from(question.strip(), seen)][:max_new_tokens] + [eos_token_id]
        return torch.cat([input_ids, torch.tensor([new])], dim=1)


def minicpmv(fail_above: int | None = None) -> tuple[MiniCPMVChat, FakeMiniCPMV]:
    model = FakeMiniCPMV(fail_above)
    return MiniCPMVChat.from_loaded("minicpm-v", model, model.tokenizer, model.processor), model


def internvl(fail_above: int | None = None) -> tuple[InternVLChat, FakeInternVL]:
    model = FakeInternVL(fail_above)
    return InternVLChat.from_loaded("internvl2", model, model.tokenizer), model


def phi3(fail_calls: Sequence[int] = ()) -> tuple[Phi3Vision, FakePhi3]:
    model = FakePhi3(fail_calls=fail_calls)
    return Phi3Vision.from_loaded("phi-3-vision", model, FakePhi3Processor()), model


ADAPTERS: dict[str, Callable[..., tuple[Any, Any]]] = {"minicpm-v": minicpmv, "internvl2": internvl, "phi-3-vision": phi3}
FAMILIES = {"minicpm-v": minicpmv_chat.FAMILY, "internvl2": internvl_chat.FAMILY, "phi-3-vision": phi3_vision.FAMILY}


def dataset(n: int = 9) -> Dataset:
    items = [Item(id=str(i), label=CLASSES[i % 3], load_image=partial(solid, CLASSES[i % 3])) for i in range(n)]
    return Dataset(name="greys", classes=CLASSES, items=items, modality="image", source="test")


# -- InternVL's tiling, against grids worked out by hand from the reference algorithm --------------


@pytest.mark.parametrize(
    ("size", "grid", "tiles"),
    [
        ((448, 448), (1, 1), 1),  # ratio 1: (1,1) first; (2,2) needs area > 0.5*448²*4, 448² is not: no thumbnail
        ((28, 28), (1, 1), 1),  # Fashion-MNIST: one tile, upscaled
        ((900, 900), (2, 2), 5),  # 810000 > 401408 (half of 2x2) but not > 903168 (half of 3x3): 4 + thumbnail
        ((1000, 1000), (3, 3), 10),  # 1e6 > 903168: the 3x3 tie wins too
        ((800, 400), (2, 1), 3),  # ratio 2: (2,1); the (4,2) tie needs 802816 pixels, 320000 is not
        ((3000, 1000), (6, 2), 13),  # ratio 3: (3,1), then the (6,2) tie: 3e6 > 1204224
        ((100, 1000), (1, 10), 11),  # ratio 0.1: (1,10) exactly (10 <= 12 tiles)
        ((1000, 300), (3, 1), 4),  # ratio 3.33: (3,1) is 0.33 off, (4,1) 0.67: three tiles + thumbnail
    ],
)
def test_tiles_follow_the_reference_grid(size: tuple[int, int], grid: tuple[int, int], tiles: int) -> None:
    assert tile_grid(*size) == grid
    pixels = load_image(Image.new("RGB", size, (90, 90, 90)))
    assert pixels.shape == (tiles, 3, 448, 448) and pixels.dtype == torch.float32


def test_tiles_are_cut_row_by_row_then_the_thumbnail() -> None:
    image = Image.new("RGB", (896, 896))
    for k, (x, y) in enumerate([(0, 0), (448, 0), (0, 448), (448, 448)]):
        image.paste((40 * (k + 1),) * 3, (x, y, x + 448, y + 448))
    tiles = dynamic_preprocess(image, max_num=12, use_thumbnail=True)
    assert [t.getpixel((224, 224)) for t in tiles[:4]] == [(40, 40, 40), (80, 80, 80), (120, 120, 120), (160, 160, 160)]
    assert len(tiles) == 5 and tiles[4].size == (448, 448) and tiles[4].getpixel((100, 100)) == (40, 40, 40)


def test_tile_transform_equals_the_cards_torchvision_transform() -> None:
    transforms = pytest.importorskip("torchvision.transforms")
    from torchvision.transforms.functional import InterpolationMode

    card = transforms.Compose([
        transforms.Resize((448, 448), interpolation=InterpolationMode.BICUBIC),
        transforms.ToTensor(), transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ])  # fmt: skip
    gradient = Image.linear_gradient("L").resize((300, 200)).convert("RGB")
    ours = load_image(gradient, max_num=1)  # max_num=1: the whole image as one tile, as the card's transform sees it
    assert torch.allclose(ours[0], card(gradient), atol=1e-5)


# -- The calls each adapter makes ------------------------------------------------------------------


def test_minicpmv_sends_image_then_question_and_decodes_greedily() -> None:
    adapter, model = minicpmv()
    grey = Image.new("L", (20, 30), GREY["dog"])  # converted to RGB, as the card does
    answers = adapter.generate([Request("Choose one from cat, dog, bird.", grey, 5), Request("Is the cat in this photo?", solid("cat"), 3)])
    assert texts(answers) == ["dog", "yes"] and all(a.tokens is None for a in answers)  # chat() returns text only
    assert model.generation == [{"num_beams": 1, "repetition_penalty": 1.0}] and model.max_new_tokens == [5]
    assert adapter.messages(Request("q")) == [{"role": "user", "content": ["q"]}]  # text alone is allowed
    assert texts(adapter.generate([Request("a text question")])) == ["text"]


def test_internvl_one_request_goes_through_chat_with_its_tiles() -> None:
    adapter, model = internvl()
    assert texts(adapter.generate([Request("Is the bird in this photo?", solid("bird", (800, 400)))])) == ["yes"]
    assert model.seen == [(3, "<image>\nIs the bird in this photo?")]  # 2 tiles + thumbnail
    assert texts(adapter.generate([Request("plain text")])) == ["text"] and model.seen[-1] == (None, "plain text")


def test_internvl_batch_goes_through_batch_chat_with_patch_counts() -> None:
    adapter, model = internvl()
    sizes = [(448, 448), (900, 900), (800, 400)]
    requests = [Request("Choose one from cat, dog, bird.", solid(c, s)) for c, s in zip(CLASSES, sizes)]
    requests.insert(1, Request("a text question"))  # sent in its own call: batch_chat tags every question with <image>
    assert texts(adapter.generate(requests)) == ["cat", "text", "dog", "bird"]
    assert [n for n, _ in model.seen] == [1, 5, 3, None] and model.batches == [3, 1]


def test_phi3_prompt_has_the_image_tag_and_tokens_are_counted() -> None:
    adapter, model = phi3()
    requests = [Request("Is the dog in this photo?", solid("dog")), Request("Choose one from cat, dog, bird.", solid("bird"), 2)]
    assert adapter.prompt(requests[0]) == "<|user|>\n<|image_1|>\nIs the dog in this photo?<|end|>\n<|assistant|>\n"
    answers = adapter.generate(requests)
    assert texts(answers) == ["yes", "bi"]  # max_new_tokens is the request's own
    prompt = len("<|user|>\n\nIs the dog in this photo?<|end|>\n<|assistant|>\n") + FakePhi3Processor.num_img_tokens
    tokens = [a.tokens for a in answers]
    assert tokens[0] is not None and tokens[0].prompt == prompt and [t.generated if t else None for t in tokens] == [4, 3]
    assert texts(adapter.generate([Request("a text question")])) == ["text"] and model.batches == [1, 1, 1]


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@pytest.mark.parametrize("batch", [1, 8])
def test_answers_come_back_in_input_order(name: str, batch: int) -> None:
    adapter, _ = ADAPTERS[name]()
    assert isinstance(adapter, GenerativeModel)
    labels = [CLASSES[(2 * i + i // 4) % 3] for i in range(8)]  # cat bird dog cat cat bird dog cat
    requests = [Request("Choose one from cat, dog, bird.", solid(c, (32 + 8 * i,) * 2)) for i, c in enumerate(labels)]
    answers = [a.text for start in range(0, 8, batch) for a in adapter.generate(requests[start : start + batch])]
    assert answers == labels
    assert adapter.info.family == FAMILIES[name] and adapter.info.parameters == 3 and adapter.info.dtype == "float32"


# -- The evaluation around them: OOM halving, closed_set and binary end to end ----------------------


@pytest.mark.parametrize("name", ["minicpm-v", "internvl2"])
def test_out_of_memory_propagates_and_the_batch_is_halved(name: str) -> None:
    adapter, model = ADAPTERS[name](fail_above=2)
    with pytest.raises(torch.OutOfMemoryError):
        adapter.generate([Request("Choose one from cat, dog, bird.", solid("cat"))] * 3)
    record = evaluate(adapter, dataset(), "closed_set", EvalConfig(batch_size=8))
    assert record.metrics.accuracy == 1.0
    assert record.throughput.oom_retries == 2 and record.throughput.final_batch_size == 2 and max(model.batches) == 2


def test_out_of_memory_inside_phi3s_loop_propagates_and_the_batch_is_halved() -> None:
    adapter, model = phi3(fail_calls=[3])  # the third request of the first batch runs out of memory
    record = evaluate(adapter, dataset(), "closed_set", EvalConfig(batch_size=8))
    assert record.metrics.accuracy == 1.0 and record.throughput.oom_retries == 1 and record.throughput.final_batch_size == 4
    adapter, _ = phi3(fail_calls=[1])
    with pytest.raises(torch.OutOfMemoryError):
        adapter.generate([Request("x", solid("cat"))])


@pytest.mark.parametrize("name", sorted(ADAPTERS))
@pytest.mark.parametrize("strategy", ["closed_set", "binary"])
def test_evaluate_end_to_end(name: str, strategy: str) -> None:
    records = []
    for batch in (1, 8):
        adapter, _ = ADAPTERS[name]()
        records.append(evaluate(adapter, dataset(), strategy, EvalConfig(batch_size=batch)))
        adapter.close()
        assert adapter.model is None
    one, eight = records
    assert one.metrics.accuracy == 1.0 and one.metrics.invalid_rate == 0.0
    assert [p.answers for p in one.predictions] == [p.answers for p in eight.predictions]
    assert one.model_info.family == FAMILIES[name]


# -- Loading: the flag, the zoo, hub ids --------------------------------------------------------------


@pytest.mark.parametrize("alias", ["minicpm-v-2.6", "internvl2-2b", "phi-3-vision"])
def test_without_the_flag_the_zoo_entry_fails_in_one_sentence(alias: str) -> None:
    spec = catalog.resolve_model(alias)
    assert spec.trust_remote_code and spec.family in {"hf-minicpmv-chat", "hf-internvl-chat", "hf-phi3-vision"}
    with pytest.raises(RemoteCodeRequired) as info:
        catalog.load_model(spec, LoadOptions(device="cpu"))
    message = str(info.value)
    assert "\n" not in message and message.endswith("--trust-remote-code allows (off by default).")


@pytest.mark.parametrize("module", [minicpmv_chat, internvl_chat, phi3_vision])
def test_each_factory_checks_the_flag_itself(module: Any) -> None:
    """A hub id outside the zoo reaches the factory directly; nothing is fetched before the refusal."""
    spec = make_spec("org/some-remote-vlm", "org/some-remote-vlm", module.FAMILY)
    with pytest.raises(RemoteCodeRequired, match=r"^org/some-remote-vlm \(org/some-remote-vlm\) runs model code"):
        module.load("org/some-remote-vlm", spec, LoadOptions(device="cpu"))


def test_internvl_refuses_cpu_in_one_sentence() -> None:
    spec = catalog.resolve_model("internvl2")
    with pytest.raises(RuntimeError, match=r"needs a CUDA device.*--device auto or cuda on a GPU machine\.$") as info:
        internvl_chat.load(spec.source, spec, LoadOptions(device="cpu", trust_remote_code=True))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("model_type", "family"),
    [("minicpmv", "hf-minicpmv-chat"), ("internvl_chat", "hf-internvl-chat"), ("phi3_v", "hf-phi3-vision")],
)
def test_remote_code_checkpoints_outside_the_zoo_get_their_adapter(model_type: str, family: str) -> None:
    assert family_for_config({"model_type": model_type, "architectures": ["Anything"], "vision_config": {}}) == family


def test_cli_lists_them_with_their_family(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_vlmbench.cli import main

    assert main(["models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "minicpm-v-2.6" in lines["minicpm-v"] and "hf-minicpmv-chat" in lines["minicpm-v"]
    assert "internvl2-2b" in lines["internvl2"] and "hf-internvl-chat" in lines["internvl2"]
    assert "hf-phi3-vision" in lines["phi-3-vision"] and lines["phi-3-vision"].rstrip().endswith("yes")
