"""What each strategy costs, side by side in one run on the CPU, with prefix sharing off and on.

The model is a *small* random-weight Qwen2-VL (4 layers, 256 wide, a 2-block vision tower)
fed 448x448 images, so each prompt carries 256 image tokens as a real Qwen2-VL's does, and
the image and the shared prompt dominate the work as they do on a real model. Answers are
planted by a logits processor that exists only here: it reads the item (``photo N``) and the
question from the prompt and forces the right answer followed by end-of-sequence (binary:
yes exactly at the true class; closed_set: the true class's name). So binary asks as many
questions as an accurate model would (the true class's place in the item's seeded order),
and every answer ends as a real model's short answer does.

Printed, for sharing off and on (each ratio measured within one run, configurations
interleaved over ``--rounds``, medians), in wall-clock seconds and in the process's CPU
seconds (``--clock cpu``, the default), with one torch thread (``--threads 1``): on a CPU
shared with other work, two threads on two busy cores spun and made identical runs differ
by up to 10x, while one thread's CPU time holds within a few per cent:

- P1: ``evaluate()`` items/s over a hand-written batched ``generate`` loop on the same
  closed_set prompts (target >= 0.95);
- P2: binary seconds per item over closed_set with one permutation (target <= 2.0);
- P3: closed_set with 3 permutations over 1 (target <= 1.5);
- P4: prompt tokens per second at 200 classes over 10 classes, closed_set, 1 permutation
  (target >= 0.8: cost grows no faster than the prompt).

    .venv/bin/python bench/strategy_cost.py                # ~7 minutes on the 2-core CPU
    .venv/bin/python bench/strategy_cost.py --vocab 16000  # words priced by an English BPE (see docs/benchmarks.md)
    .venv/bin/python bench/strategy_cost.py --items 4 --rounds 1   # a quick look
    .venv/bin/python bench/strategy_cost.py --model ref:qwen2-vl-fashion --items 200

With ``--model ref:qwen2-vl-fashion`` the model is instead the project's trained reference VLM
(docs/reference_models.md) with its own tokenizer, on Fashion-MNIST's first test images:
nothing is planted, the answers (and so binary's questions per item) are its own, and every
answer ends when the model ends it. P4 needs 10 and 200 classes the model knows, so it is
left out there.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gpu_check import CLASSES, build_model  # noqa: E402

from pytest_vlmbench import Dataset, EvalConfig, Item, Record, StrategyConfig, evaluate  # noqa: E402
from pytest_vlmbench.models.hf_vlm import HFVisionLanguageModel  # noqa: E402
from pytest_vlmbench.session.summary import format_table  # noqa: E402
from pytest_vlmbench.strategies.base import Query  # noqa: E402
from pytest_vlmbench.strategies.closed_set import closed_set  # noqa: E402

MAX_NEW_TOKENS = 16
"""Room for the longest planted class name in the tiny build's tokens ("baseball bat" takes 9)."""
_ITEM = re.compile(r"photo (\d+)")
_ASKED = re.compile(r"Is the (.+?) in this photo|belong to the class (.+?)\?")
"""binary's question, in the image wording or the image+text one (these items carry text: ``photo N``)."""


def english_processor(vocab: int) -> Any:
    """The tiny build's Qwen2-VL processor with a byte-level BPE of ``vocab`` tokens trained on real
    English -- the 2,225 BBC News articles that ship offline -- instead of its 500-token one, so a
    prompt's words cost about what a real tokenizer charges. Nothing here is tuned to the prompts:
    the class list comes out near a 30k WordPiece's count (printed), where the 500-token BPE
    spends three times as many tokens on it."""
    from transformers import Qwen2VLProcessor

    from pytest_vlmbench.datasets.resolve import load_dataset
    from pytest_vlmbench.models import tiny
    from pytest_vlmbench.models.tiny_builders.vlm import _qwen_processor

    articles = [it.text or "" for it in load_dataset("bbc_news").items]
    tokenizer = tiny.byte_level_bpe(articles, vocab, tiny.QWEN2_VL_SPECIAL, tiny.QWEN2_VL_CHAT_TEMPLATE,
                                    eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left")  # fmt: skip
    return _qwen_processor(Qwen2VLProcessor, tokenizer)


def plant_answers(adapter: HFVisionLanguageModel, labels: dict[str, str]) -> None:
    """Wrap the model's ``generate`` so that every call forces the right answers (see the docstring)."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    tokenizer, eos = adapter.tokenizer, int(adapter.model.generation_config.eos_token_id)

    class Planted(LogitsProcessor):
        def __init__(self) -> None:
            self.prompt_len = -1
            self.targets: list[list[int]] = []

        def _target(self, row: Any) -> list[int]:
            text = tokenizer.decode(row, skip_special_tokens=True)
            item = _ITEM.search(text)
            asked = _ASKED.search(text)
            label = labels[item.group(1)] if item else ""
            answer = ("yes" if (asked.group(1) or asked.group(2)) == label else "no") if asked else label
            return [*tokenizer.encode(answer, add_special_tokens=False), eos]

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if self.prompt_len < 0:
                self.prompt_len = input_ids.shape[1]
                self.targets = [self._target(row) for row in input_ids]
            step = input_ids.shape[1] - self.prompt_len
            forced = torch.full_like(scores, float("-inf"))
            for row, target in enumerate(self.targets):
                forced[row, target[step] if step < len(target) else eos] = 0.0
            return forced

    original = adapter.model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        return original(*args, logits_processor=LogitsProcessorList([Planted()]), **kwargs)

    adapter.model.generate = generate


def photos(n: int, side: int, classes: tuple[str, ...]) -> Dataset:
    """``n`` items (seeded noise images, ``side`` px) whose text names them (``photo N``), for the planter."""
    import numpy as np
    from PIL import Image

    def loader(k: int) -> Any:
        return lambda: Image.fromarray(np.random.default_rng(k).integers(0, 256, (side, side, 3), dtype=np.uint8))

    items = [Item(id=str(k), label=classes[k % len(classes)], text=f"photo {k}", load_image=loader(k)) for k in range(n)]
    background = "clutter" if "clutter" in classes else None
    return Dataset(f"noise-{len(classes)}", classes, items, modality="image+text", background_class=background)


def hand_loop_s(adapter: HFVisionLanguageModel, dataset: Dataset, batch: int, permutations: int) -> float:
    """Seconds for a plain batched ``generate`` loop over closed_set's prompts (no library around it)."""
    import torch

    queries: list[Query] = []

    class Recorder:  # stands in for the channel (strategies.base.Ask): keeps the prompts, answers nothing
        def ask(self, qs: Any) -> list[str]:
            queries.extend(qs)
            return [""] * len(qs)

    closed_set(dataset, list(dataset.items), Recorder(), StrategyConfig(permutations=permutations))
    start = time.perf_counter()
    for at in range(0, len(queries), batch):
        chunk = queries[at : at + batch]
        messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q.prompt}]}] for q in chunk]
        texts = [adapter.processor.apply_chat_template(m, add_generation_prompt=True) for m in messages]
        inputs = adapter.processor(text=texts, images=[q.item.image() for q in chunk], padding=True, return_tensors="pt")
        with torch.inference_mode():
            adapter.model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=adapter.tokenizer.pad_token_id)
    return time.perf_counter() - start


def run(adapter: HFVisionLanguageModel, dataset: Dataset, strategy: str, permutations: int, batch: int, sharing: bool) -> Record:
    config = EvalConfig(StrategyConfig(permutations=permutations), batch_size=batch, max_new_tokens=MAX_NEW_TOKENS, prefix_sharing=sharing)
    return evaluate(adapter, dataset, strategy, config)


def clocked(clock: str, work: Any) -> tuple[float, Any]:
    """Seconds ``work()`` took on ``clock`` (``wall`` or the process's ``cpu`` time), and its result."""
    read = time.process_time if clock == "cpu" else time.perf_counter
    start = read()
    result = work()
    return read() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=12, help="items per configuration (default 12)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-side", type=int, default=448)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: on a shared CPU, more "
                        "threads than free cores spin and multiply both clocks by up to 10)")  # fmt: skip
    parser.add_argument("--model", default="", help="a trained model to measure on Fashion-MNIST instead of the planted "
                        "random one (ref:qwen2-vl-fashion); P4 is then left out")  # fmt: skip
    parser.add_argument("--vocab", type=int, default=0, help="train a byte-level BPE of this size on BBC News for the "
                        "model (e.g. 16000); 0 (default): the tiny build's 500-token tokenizer")  # fmt: skip
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    import torch

    torch.set_num_threads(args.threads)
    labels: dict[str, str] = {}
    if args.model:  # a trained model on its own data: nothing planted, no P4
        from pytest_vlmbench import load_dataset, load_model, resolve_model
        from pytest_vlmbench.models.base import LoadOptions

        loaded, _ = load_model(resolve_model(args.model), LoadOptions(device="cpu"))
        assert isinstance(loaded, HFVisionLanguageModel)
        loaded.shares_prefix = True  # the reference VLM declares it off (it does not pay there); this measures both
        adapter, main_data = loaded, load_dataset("fashion_mnist").limited(args.items)
        data = {len(main_data.classes): main_data}
        what = f"{args.model} on Fashion-MNIST, its own tokenizer"
    else:
        processor = english_processor(args.vocab) if args.vocab else None
        adapter = build_model("small", "cpu", args.image_side * args.image_side, processor)
        classes_200 = tuple(f"object{k:03d}" for k in range(200))
        data = {21: photos(args.items, args.image_side, CLASSES), 10: photos(args.items, args.image_side, CLASSES[:9] + ("clutter",)),
                200: photos(args.items, args.image_side, classes_200)}  # fmt: skip
        main_data = data[21]
        labels.update({it.id: it.label for it in main_data.items})
        plant_answers(adapter, labels)
        what = f"{f'{args.vocab}-token BPE on BBC News' if args.vocab else 'the tiny build'}'s tokenizer"
    n_main = len(main_data.classes)
    listed = len(adapter.tokenizer(", ".join(main_data.classes), add_special_tokens=False)["input_ids"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {(adapter.info.parameters or 0) / 1e6:.1f} M "
          f"parameters; {args.items} items, batch {args.batch_size}, {args.rounds} rounds; {what}, the {n_main} class "
          f"names in {listed} tokens", flush=True)  # fmt: skip
    run(adapter, main_data.limited(2), "closed_set", 1, 2, True)  # warm-up
    seconds: dict[str, list[float]] = {}
    facts: dict[str, Any] = {}

    def timed(key: str, work: Any) -> None:
        spent, result = clocked(args.clock, work)
        seconds.setdefault(key, []).append(spent)
        facts[key] = result

    for _ in range(args.rounds):
        timed("hand", lambda: hand_loop_s(adapter, main_data, args.batch_size, 3))
        for sharing in (False, True):
            s = "on" if sharing else "off"
            configs = [("closed_set", 3, n_main), ("closed_set", 1, n_main), ("binary", 1, n_main)]
            configs += [] if args.model else [("closed_set", 1, 10), ("closed_set", 1, 200)]
            for strategy, perms, n in configs:
                if not args.model:
                    labels.update({it.id: it.label for it in data[n].items})
                timed(f"{strategy}-{perms}-{n}-{s}", lambda: run(adapter, data[n], strategy, perms, args.batch_size, sharing))
    med = {k: statistics.median(v) for k, v in seconds.items()}
    rows = []
    for s in ("off", "on"):
        c3k, c1k, b1k = (f"{k}-{n_main}-{s}" for k in ("closed_set-3", "closed_set-1", "binary-1"))
        c3, c1, b1 = facts[c3k], facts[c1k], facts[b1k]
        p4 = "-"
        if not args.model:
            t10, t200 = facts[f"closed_set-1-10-{s}"].tokens, facts[f"closed_set-1-200-{s}"].tokens
            assert t10 is not None and t200 is not None
            p4 = f"{(t200.prompt / med[f'closed_set-1-200-{s}']) / (t10.prompt / med[f'closed_set-1-10-{s}']):.2f}"
        questions = b1.throughput.n_requests / b1.n_items
        rows.append((
            s, f"{med['hand'] / med[c3k]:.2f}", f"{med[b1k] / med[c1k]:.2f}", f"{med[c3k] / med[c1k]:.2f}", p4,
            f"{questions:.1f}", f"{c3.n_items / med[c3k]:.2f}", f"{c1.metrics.accuracy:.2f}/{b1.metrics.accuracy:.2f}",
        ))  # fmt: skip
    print(f"{args.clock} seconds; hand-written loop, closed_set 3 permutations: {args.items / med['hand']:.2f} items/s")
    header = ("sharing", "P1 evaluate/hand", "P2 binary/closed_set-1", "P3 closed_set 3/1", "P4 tok/s 200/10",
              "binary prompts/item", "closed_set-3 items/s", "accuracy c/b")  # fmt: skip
    print("\n".join(format_table(header, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
