"""What the Phi-4-multimodal loader does beyond the ``hf-vlm`` adapter (``models/phi4_multimodal.py``).

Batch-1 == batch-8 answers and the closed_set/binary records are in
``tests/test_tiny_vlm_families.py``; here: the vision tower attends as the eager reference
does, the adapter family is found from a checkpoint's config, and the vision LoRA is
detected, loaded and active (with peft; skipped without) or, without peft, refused in one sentence.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

import pytest_vlmbench
from pytest_vlmbench.models import phi4_multimodal, tiny
from pytest_vlmbench.models.base import LoadOptions, Request
from pytest_vlmbench.models.zoo import family_for_config


def _one_digit(model: Any) -> Any:
    """The processed inputs of one question about one digit image, through the adapter's prompt."""
    image = pytest_vlmbench.load_dataset("digits").items[0].image()
    messages = model._messages(Request("What digit is this?", image))
    text = model.processor.apply_chat_template(messages, add_generation_prompt=True)
    return model.processor(text=[text], images=[image], return_tensors="pt")


def test_vision_tower_matches_the_eager_reference_for_an_unpadded_image() -> None:
    """SDPA without a mask must not turn the SigLIP tower causal (transformers marks it so)."""
    import torch
    from transformers import AutoModelForCausalLM

    spec = pytest_vlmbench.resolve_model("tiny:phi-4-multimodal")
    model = phi4_multimodal.load(str(tiny.build("phi-4-multimodal")), spec, LoadOptions(device="cpu"))
    eager = AutoModelForCausalLM.from_pretrained(str(model.info.source), attn_implementation="eager")  # in eval mode
    inputs = _one_digit(model)
    assert bool(inputs["image_attention_mask"].all())  # no padded patch: SDPA gets no mask at all
    with torch.inference_mode():
        ours, reference = model.model(**inputs).logits, eager(**inputs).logits
    assert torch.allclose(ours, reference, atol=1e-4)
    model.close()


def test_checkpoint_config_picks_the_phi4_loader() -> None:
    config = {"architectures": ["Phi4MultimodalForCausalLM"], "model_type": "phi4_multimodal", "vision_config": {}}
    assert family_for_config(config) == "hf-phi4-multimodal"
    assert pytest_vlmbench.resolve_model("phi-4-multimodal").factory == "pytest_vlmbench.models.phi4_multimodal:load"


def test_vision_lora_is_found_in_a_checkpoint_directory(tmp_path: Path) -> None:
    assert not phi4_multimodal.has_vision_lora(str(tmp_path))
    (tmp_path / "vision-lora").mkdir()
    (tmp_path / "vision-lora" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    assert phi4_multimodal.has_vision_lora(str(tmp_path))


def test_vision_lora_without_peft_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "peft" else real_find_spec(name))
    sentence = r"^phi-4-multimodal \(ckpt\) keeps its vision skills in a LoRA adapter \(vision-lora/\), which needs peft; "
    with pytest.raises(ModuleNotFoundError, match=sentence + r"run `pip install peft`\.$"):
        phi4_multimodal.load_vision_lora(object(), "ckpt", "phi-4-multimodal")


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # the test's own get_peft_model (peft 0.21)
def test_vision_lora_of_a_checkpoint_is_loaded_and_active(tmp_path: Path) -> None:
    """A checkpoint with ``vision-lora/`` answers through the adapter (peft needed; skipped without)."""
    pytest.importorskip("peft")
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    plain = tiny.build("phi-4-multimodal")
    shutil.copytree(plain, tmp_path / "ckpt")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
                      init_lora_weights=False)  # random, not the identity: the answers must change  # fmt: skip
    get_peft_model(AutoModelForCausalLM.from_pretrained(plain), lora).save_pretrained(str(tmp_path / "ckpt" / "vision-lora"))
    spec = pytest_vlmbench.resolve_model("tiny:phi-4-multimodal")
    with_lora = phi4_multimodal.load(str(tmp_path / "ckpt"), spec, LoadOptions(device="cpu"))
    without = phi4_multimodal.load(str(plain), spec, LoadOptions(device="cpu"))
    assert (with_lora.info.vision_lora, without.info.vision_lora) == (True, False)
    inputs = _one_digit(with_lora)
    with torch.inference_mode():
        assert not torch.allclose(with_lora.model(**inputs).logits, without.model(**inputs).logits)
