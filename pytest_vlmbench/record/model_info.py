"""The record's ``model_info``: the facts an adapter states about the model it loaded.

Every adapter fills a :class:`ModelInfo` (``Model.info``) and the evaluation copies it into
the record, adding this run's ``retries``. The JSON is the same object as before the type
existed: the same keys in the same order, a key left out where its value is ``None``, and
keys this version does not know (a newer version's, an old record's) kept in ``extra`` and
written back after the known ones, so a record survives a read and write unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .jsonio import FLATTEN, OMIT_IF_NONE, Reader, RecordError

_OMIT = OMIT_IF_NONE


@dataclass(frozen=True)
class EngineInfo:
    """What runs a generative model when it is not transformers (``--engine vllm``), and the
    settings that may change an answer; the record copies it into ``config`` (the baseline key)."""

    name: str
    tensor_parallel_size: int | None = field(default=None, metadata=_OMIT)
    max_model_len: int | None = field(default=None, metadata=_OMIT)
    prefix_caching: bool | None = field(default=None, metadata=_OMIT)
    extra: Mapping[str, Any] = field(default_factory=dict, metadata=FLATTEN)
    """Keys this version does not know."""

    @classmethod
    def from_json(cls, r: Reader) -> EngineInfo:
        return cls(
            r.text("name"), r.opt_whole("tensor_parallel_size"), r.opt_whole("max_model_len"), _opt_flag(r, "prefix_caching"),
            _unknown(cls, r),
        )  # fmt: skip


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model, as the record's ``model_info`` holds them.

    Only ``device`` is read by every consumer (the cost meter, the gate's device check); the
    identity facts (``source``, ``family``, ``architecture``, ``dtype``, ``api_base``, ``labels``,
    ``label_template``, ``max_tokens``) also key the answer cache. The field order is the
    JSON's key order.
    """

    source: str | None = field(default=None, metadata=_OMIT)
    """The resolved hub id, directory or API model id the weights came from."""
    family: str | None = field(default=None, metadata=_OMIT)
    """The adapter family (``hf-vlm``, ``vllm``, ``linear-probe`` ...)."""
    api_base: str | None = field(default=None, metadata=_OMIT)
    """API adapters: the base URL, credentials removed."""
    architecture: str | None = field(default=None, metadata=_OMIT)
    """The model class (``Qwen2VLForConditionalGeneration``)."""
    device: str | None = field(default=None, metadata=_OMIT)
    """``cpu``, ``cuda:0``, ``api`` ...; ``None``: the cost meter's device counts."""
    dtype: str | None = field(default=None, metadata=_OMIT)
    parameters: int | None = field(default=None, metadata=_OMIT)
    labels: tuple[str, ...] | None = field(default=None, metadata=_OMIT)
    """Classifier heads: the head's labels in id order (what ``--label-map`` maps)."""
    label_template: str | None = field(default=None, metadata=_OMIT)
    """Zero-shot classifiers: the caption or description each class becomes."""
    max_tokens: int | None = field(default=None, metadata=_OMIT)
    """Sentence embeddings: tokens embedded per text."""
    vision_lora: bool | None = field(default=None, metadata=_OMIT)
    """Phi-4-multimodal: whether the checkpoint's vision LoRA adapter was loaded."""
    max_tiles: int | None = field(default=None, metadata=_OMIT)
    """InternVL (remote code): the most 448-px tiles an image is cut into."""
    engine: EngineInfo | None = field(default=None, metadata=_OMIT)
    engine_version: str | None = field(default=None, metadata=_OMIT)
    gpu_memory_utilization: float | None = field(default=None, metadata=_OMIT)
    """vLLM: the share of GPU memory the engine took (a fact, outside the baseline key)."""
    concurrency: int | None = field(default=None, metadata=_OMIT)
    """API adapters: requests in flight at once."""
    gpu_name: str | None = field(default=None, metadata=_OMIT)
    """The GPU's name, where the adapter knows it (the cost meter records it too: ``memory.gpu_name``)."""
    base_source: str | None = field(default=None, metadata=_OMIT)
    """Trained classifiers: the checkpoint training started from (``source`` is the trained weights)."""
    adapter: str | None = field(default=None, metadata=_OMIT)
    """Trained classifiers: ``lora`` for a LoRA fine-tune."""
    lora_target_modules: tuple[str, ...] | None = field(default=None, metadata=_OMIT)
    encoder_source: str | None = field(default=None, metadata=_OMIT)
    """Linear probes: the encoder's source (``source`` is the probe's weights)."""
    retries: int | None = field(default=None, metadata=_OMIT)
    """Requests retried during this evaluation (adapters that retry: the API); set by the evaluation."""
    extra: Mapping[str, Any] = field(default_factory=dict, metadata=FLATTEN)
    """Keys this version does not know, kept as read."""

    @classmethod
    def from_json(cls, r: Reader) -> ModelInfo:
        """Read ``model_info``; a known key of the wrong kind is a :class:`RecordError` naming it."""
        engine = r.opt_obj("engine")
        return cls(
            source=r.opt_text("source"),
            family=r.opt_text("family"),
            api_base=r.opt_text("api_base"),
            architecture=r.opt_text("architecture"),
            device=r.opt_text("device"),
            dtype=r.opt_text("dtype"),
            parameters=r.opt_whole("parameters"),
            labels=r.strings("labels") if r.data.get("labels") is not None else None,
            label_template=r.opt_text("label_template"),
            max_tokens=r.opt_whole("max_tokens"),
            vision_lora=_opt_flag(r, "vision_lora"),
            max_tiles=r.opt_whole("max_tiles"),
            engine=EngineInfo.from_json(engine) if engine is not None else None,
            engine_version=r.opt_text("engine_version"),
            gpu_memory_utilization=r.opt_num("gpu_memory_utilization"),
            concurrency=r.opt_whole("concurrency"),
            gpu_name=r.opt_text("gpu_name"),
            base_source=r.opt_text("base_source"),
            adapter=r.opt_text("adapter"),
            lora_target_modules=r.strings("lora_target_modules") if r.data.get("lora_target_modules") is not None else None,
            encoder_source=r.opt_text("encoder_source"),
            retries=r.opt_whole("retries"),
            extra=_unknown(cls, r),
        )


def _opt_flag(r: Reader, key: str) -> bool | None:
    value = r.data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RecordError(f"{r.where}: '{r.path}.{key}' should be true or false, not {value!r:.60}.")


def _unknown(cls: type, r: Reader) -> dict[str, Any]:
    """The keys of ``r`` that are no field of ``cls`` (a dataclass with an ``extra`` mapping)."""
    known = {f.name for f in fields(cls)} - {"extra"}
    return {k: v for k, v in r.data.items() if k not in known}
