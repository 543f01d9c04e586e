"""Loading pieces shared by every Hugging Face adapter: device, dtype, placement, errors.

Kept apart from the adapters so that each adapter module stays about *its* family's
inputs and outputs, and so that the rules (prefer safetensors, never fetch when offline,
``device_map="auto"`` for models larger than one GPU) are written once.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from ..hub import hub_offline
from ..record import ModelInfo
from .base import LoadOptions


class RemoteCodeRequired(RuntimeError):
    """The checkpoint's architecture lives in code on the hub and ``--trust-remote-code`` is off."""


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; other values are checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for, but torch sees no CUDA device; use --device cpu.")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        # Checkpoints' own dtype on GPU; float32 on CPU, where half precision is slow or unsupported.
        return "auto" if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def local_only(source: str) -> bool:
    """True when nothing may be fetched: a local directory, or the hub switched off."""
    return os.path.isdir(source) or hub_offline()


def pretrained_kwargs(source: str, options: LoadOptions) -> dict[str, Any]:
    """Arguments for every ``from_pretrained`` call of a processor, tokenizer or config."""
    return {"trust_remote_code": options.trust_remote_code, "local_files_only": local_only(source)}


def wants_device_map(options: LoadOptions) -> bool:
    """``--device auto`` on a CUDA machine with accelerate: let accelerate spread the layers.

    That is what lets an 11B model run on GPUs smaller than it (layers go to the other
    GPUs, then to CPU memory); on one large-enough GPU it places everything there.
    """
    import torch

    return options.device == "auto" and torch.cuda.is_available() and importlib.util.find_spec("accelerate") is not None


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 asks a transformers 5 model a deprecated question (``is_gradient_checkpointing``):
    a FutureWarning per model that the user can do nothing about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_weights(auto_class: Any, source: str, options: LoadOptions, **extra: Any) -> tuple[Any, str]:
    """``auto_class.from_pretrained`` placed on the chosen device; returns the model and its device."""
    device = resolve_device(options.device)
    kwargs: dict[str, Any] = {
        "dtype": resolve_dtype(options.dtype, device),
        "use_safetensors": None,  # prefer safetensors, fall back to .bin only when it is all there is
        **pretrained_kwargs(source, options),
        **extra,
    }
    if wants_device_map(options):
        kwargs["device_map"] = "auto"
    model = from_pretrained(auto_class, source, **kwargs)
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    return model, str(getattr(model, "device", device))


def from_pretrained(auto_class: Any, source: str, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained`` with transformers' remote-code error turned into one sentence."""
    try:
        return auto_class.from_pretrained(source, **kwargs)
    except ValueError as exc:
        raise_if_remote_code(exc, source)
        raise
    except OSError as exc:
        if local_only(source) and not os.path.isdir(source):  # the hub is off and the cache lacks it
            raise OSError(
                f"{source} is not in the local Hugging Face cache and the hub is offline (HF_HUB_OFFLINE=1); "
                f"download it where there is a network (or unset HF_HUB_OFFLINE there), or pass a local directory to --model."
            ) from exc
        raise


def load_preprocessor(auto_class: Any, source: str, options: LoadOptions) -> Any:
    """The tokenizer or processor of a checkpoint (``AutoTokenizer``, ``AutoProcessor``)."""
    return from_pretrained(auto_class, source, **pretrained_kwargs(source, options))


def raise_if_remote_code(exc: Exception, source: str) -> None:
    """Turn transformers' long remote-code message into one sentence about the flag."""
    if "trust_remote_code" in str(exc):
        raise RemoteCodeRequired(
            f"{source} runs model code from its hub repository, which --trust-remote-code allows (off by default)."
        ) from None


def model_info(model: Any, source: str, family: str, device: str) -> ModelInfo:
    """The facts about a loaded model that every record carries."""
    return ModelInfo(
        source=source,
        family=family,
        architecture=type(model).__name__,
        device=device,
        dtype=str(model.dtype).replace("torch.", ""),
        parameters=int(sum(p.numel() for p in model.parameters())),
    )


def head_info(model: Any, source: str, family: str, device: str) -> ModelInfo:
    """:func:`model_info` of a classification head, with its labels in id order (what ``--label-map`` maps)."""
    labels = model.config.id2label
    return replace(model_info(model, source, family, device), labels=tuple(str(labels[i]) for i in sorted(labels)))


def greedy_answers(model: Any, tokenizer: Any, inputs: Any, max_new_tokens: int) -> list[str]:
    """Greedy generation from a left-padded batch; only the new tokens, decoded and stripped."""
    import torch

    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new_tokens = out[:, inputs["input_ids"].shape[1] :]
    return [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def release(torch_module: Any) -> None:
    """Collect garbage and return cached CUDA memory after a model's references are dropped."""
    import gc

    gc.collect()
    if torch_module.cuda.is_available():
        torch_module.cuda.empty_cache()
