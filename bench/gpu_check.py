"""What only a GPU can show: our evaluation path on CUDA with a Qwen2-VL-7B-sized model.

The model is the real Qwen2-VL-7B-Instruct architecture and size (text: 28 layers, 3584 wide,
152,064-token vocabulary; vision: 32 blocks, 1280 wide) with random bf16 weights created on
the GPU (no download), SDPA attention, fed 448x448 images (256 image tokens each, as a
Caltech-256 photo gives), 21 classes including a background class, as in the image
benchmark. The tokenizer and processor are the tiny Qwen2-VL build's (a real
``Qwen2VLProcessor``), so prompts are shorter in tokens than with the real tokenizer; the
output head is restricted to answer words, so answers name classes and say yes/no at random.

It runs ``pytest_vlmbench.evaluate`` itself (the code a suite item runs) for closed_set (3
permutations) and binary at several batch sizes, with prefix sharing off and on (one pass
over each item's image and common prompt start, issue #10), and prints, from each record:
items/s, prompts/s, batch latency percentiles, torch and NVML peak memory, NVML energy per
item, prompt tokens computed per item and the GPU's name. Random answers make binary ask nearly every question (no early yes): its
figures are an upper bound of its cost.

    python bench/gpu_check.py                     # on a CUDA machine; sharing off took ~4 minutes for 48 items on an H200
    python bench/gpu_check.py --size tiny --device cpu --items 4 --batch-sizes 2   # the same path on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pytest_vlmbench import Dataset, EvalConfig, Item, Record, StrategyConfig, evaluate  # noqa: E402
from pytest_vlmbench.models import tiny  # noqa: E402
from pytest_vlmbench.models.hf_vlm import HFVisionLanguageModel  # noqa: E402
from pytest_vlmbench.models.tiny_builders._common import answer_in_words  # noqa: E402
from pytest_vlmbench.session.summary import format_table  # noqa: E402

CLASSES = (
    "ak47", "backpack", "baseball bat", "bear", "bicycle", "binoculars", "butterfly", "camel", "canoe", "cactus",
    "chess board", "coffee mug", "dolphin", "elephant", "frog", "giraffe", "guitar", "helicopter", "ladder",
    "umbrella", "clutter",
)  # fmt: skip
"""21 Caltech-256 class names, the last one the background class (as in the image benchmark)."""

SIZES: dict[str, dict[str, Any]] = {
    # Qwen/Qwen2-VL-7B-Instruct's config.json.
    "7b": {
        "text": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
                 "num_key_value_heads": 4, "vocab_size": 152064, "mrope_section": [16, 24, 24], "rope_theta": 1e6},
        "vision": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "num_heads": 16, "mlp_ratio": 4},
    },
    # Small enough for a CPU, with image tokens that weigh like a real model's (bench/strategy_cost.py).
    "small": {
        "text": {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "vocab_size": 2048, "mrope_section": [8, 12, 12], "rope_theta": 1e4},
        "vision": {"depth": 2, "embed_dim": 128, "hidden_size": 256, "num_heads": 4, "mlp_ratio": 2},
    },
    # The same path on a CPU in seconds (for checking the script itself).
    "tiny": {
        "text": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "vocab_size": 2048, "mrope_section": [2, 3, 3], "rope_theta": 1e4},
        "vision": {"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2},
    },
}  # fmt: skip


def build_model(size: str, device: str, image_pixels: int, processor: Any = None) -> HFVisionLanguageModel:
    """A random-weight Qwen2-VL of ``size`` on ``device``, with the tiny build's processor (or ``processor``)."""
    import torch
    from transformers import AutoProcessor, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    if processor is None:
        processor = AutoProcessor.from_pretrained(tiny.build("qwen2-vl"), local_files_only=True)
    for sub in (processor.image_processor,):
        sub.min_pixels = sub.max_pixels = image_pixels
        if hasattr(sub, "size"):
            sub.size = {"shortest_edge": image_pixels, "longest_edge": image_pixels}
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in tiny.QWEN2_VL_SPECIAL}
    shape = SIZES[size]
    text = dict(shape["text"])
    vocab = max(int(text.pop("vocab_size")), len(tok))
    config = Qwen2VLConfig(
        text_config={
            **{k: v for k, v in text.items() if k not in ("mrope_section", "rope_theta")},
            "vocab_size": vocab,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": text["rope_theta"], "mrope_section": text["mrope_section"]},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config=shape["vision"],
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )  # fmt: skip
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration._from_config(config, attn_implementation="sdpa", dtype=dtype)
    answer_in_words(model, tok, eos=[ids["<|im_end|>"]], classes=CLASSES)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return HFVisionLanguageModel.from_loaded(f"random-qwen2-vl-{size}", model, processor, source=f"random weights, Qwen2-VL {size} config")


def photos(n: int, side: int) -> Dataset:
    """``n`` items over the 21 classes, each a ``side`` x ``side`` RGB image of seeded noise."""
    import numpy as np
    from PIL import Image

    def loader(k: int) -> Any:
        return lambda: Image.fromarray(np.random.default_rng(k).integers(0, 256, (side, side, 3), dtype=np.uint8))

    items = [Item(id=str(k), label=CLASSES[k % len(CLASSES)], load_image=loader(k)) for k in range(n)]
    return Dataset("noise-21", CLASSES, items, modality="image", background_class="clutter", source="generated noise")


def row(strategy: str, sharing: str, batch: int, record: Record) -> tuple[str, ...]:
    t, m = record.throughput, record.memory
    energy = f"{record.energy.joules / max(record.n_items, 1):.1f}" if record.energy else "-"
    computed = f"{record.tokens.computed / max(record.n_items, 1):.0f}" if record.tokens else "-"
    return (
        strategy, sharing, str(batch), str(record.n_items), f"{t.items_per_s:.2f}", f"{t.n_requests / t.wall_s:.1f}",
        f"{t.batch_latency_ms.p50:.0f}", f"{t.batch_latency_ms.p90:.0f}", f"{t.batch_latency_ms.p99:.0f}",
        "-" if m.torch_peak_mb is None else f"{m.torch_peak_mb / 1024:.1f}",
        "-" if m.nvml_peak_mb is None else f"{m.nvml_peak_mb / 1024:.1f}", energy, computed, str(t.oom_retries),
    )  # fmt: skip


HEADER = ("strategy", "sharing", "batch", "items", "items/s", "prompts/s", "p50 ms", "p90 ms", "p99 ms", "torch GB", "nvml GB",
          "J/item", "tokens/item", "OOM")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--items", type=int, default=32, help="items per configuration (default 32: 12 runs in < 8 minutes)")
    parser.add_argument("--batch-sizes", default="8,32,64")
    parser.add_argument("--strategies", default="closed_set,binary")
    parser.add_argument("--sharing", default="off,on", help="prefix sharing settings to run (default off,on)")
    parser.add_argument("--image-side", type=int, default=448, help="image side in pixels (448: 256 image tokens)")
    parser.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for gpu_check.json")
    parser.add_argument("--leave-free-gb", type=float, default=None,
                        help="fill the GPU after loading so only this much stays free: checks that a real CUDA "
                        "out-of-memory error halves the batch and the run goes on")  # fmt: skip
    args = parser.parse_args()
    # transformers deprecates min/max_pixels in favour of size; both are set for older releases.
    warnings.filterwarnings("ignore", category=FutureWarning)

    import torch
    import transformers

    t0 = time.perf_counter()
    model = build_model(args.size, args.device, args.image_side * args.image_side)
    build_s = time.perf_counter() - t0
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device: {gpu}; torch {torch.__version__}, transformers {transformers.__version__}; "
          f"{(model.info.parameters or 0) / 1e9:.2f} B parameters ({model.info.dtype}) built in {build_s:.1f} s", flush=True)  # fmt: skip
    dataset = photos(args.items, args.image_side)
    filler = None
    if args.leave_free_gb is not None:
        free, _ = torch.cuda.mem_get_info()
        filler = torch.empty(max(0, int(free - args.leave_free_gb * 2**30)), dtype=torch.uint8, device=args.device)
        print(f"filled {filler.numel() / 2**30:.1f} GiB; {torch.cuda.mem_get_info()[0] / 2**30:.1f} GiB left free", flush=True)
    # Warm-up: kernels, cuBLAS handles and the allocator, outside the measured runs.
    evaluate(model, dataset.limited(2), "closed_set", EvalConfig(batch_size=2, strategy=StrategyConfig(permutations=1)))
    rows, records = [], []
    for strategy in args.strategies.split(","):
        for sharing in args.sharing.split(","):
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                config = EvalConfig(batch_size=batch, strategy=StrategyConfig(permutations=3), prefix_sharing=sharing == "on")
                try:
                    record = evaluate(model, dataset, strategy, config)
                except Exception as exc:  # noqa: BLE001 - report and go on to the next configuration
                    print(f"{strategy} sharing {sharing} batch {batch}: {type(exc).__name__}: {exc}", flush=True)
                    continue
                rows.append(row(strategy, sharing, batch, record))
                records.append({"strategy": strategy, "sharing": sharing, "batch_size": batch, "record": record.to_json()})
                print("  ".join(rows[-1]), flush=True)
    print(f"\n{gpu}, Qwen2-VL {args.size} random bf16 weights, {args.image_side}px images, 21 classes:")
    print("\n".join(format_table(HEADER, rows)))
    out = Path(args.out) / "gpu_check.json"
    out.write_text(json.dumps({"gpu": gpu, "size": args.size, "build_s": build_s, "runs": records}, indent=1))
    print(f"records written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
