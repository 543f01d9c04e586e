"""vLLM as the engine of generative models: ``--engine vllm`` (docs/scale.md).

The same ``--model`` names (``qwen2.5-7b``, ``tiny:qwen2.5-7b``, a directory, a hub id) load
through ``vllm.LLM`` instead of transformers when the run says ``--engine vllm``; only
generative Hugging Face families can (text LLMs and VLMs), anything else is refused with
one sentence. vLLM lives in its own environment (``make install-vllm``): nothing here
imports it until a model loads.

- Greedy (``temperature=0``), automatic prefix caching on (the permutations and binary
  questions of one item share their long prefix), one engine per model, shut down by
  :meth:`VLLMModel.close` before the next model loads (its processes end and their memory,
  GPU memory included, is returned).
- Prompts: through the tokenizer's chat template when it has one, as vLLM's ``chat``
  applies it (images as ``image_pil`` content parts, i.e. multi-modal data), else as the
  plain text, exactly what the Hugging Face adapters send.
- ``--tensor-parallel-size``, ``--gpu-memory-utilization`` and ``--max-model-len`` are
  passed through; on a CPU the engine runs eager (no CUDA graphs) in float32, as the HF
  adapters do there.
- ``info.engine`` states the engine and the settings that may change an answer; the
  record copies it into its ``config`` (:class:`~pytest_vlmbench.record.Record`), so a vLLM
  run is never matched with a Hugging Face baseline. The vLLM version and the memory share
  are recorded beside it in ``model_info``, outside the key, like library versions.
- Each answer's tokens: the prompt tokens, those served from the prefix cache and the
  generated tokens, as vLLM counted them.
"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from ..record import EngineInfo, ModelInfo, Tokens
from .base import Adapter, Answer, LoadOptions, ModelFactory, ModelSpec, PromptTooLong, Reads, Request

ENGINES = ("hf", "vllm")
"""``--engine`` values: ``hf`` (transformers, the default) and ``vllm``."""

GENERATIVE_FAMILIES = ("hf-causal-lm", "hf-vlm")
"""Families whose checkpoints vLLM can serve: text LLMs and vision-language models."""


TOO_LONG = ("maximum context length", "maximum model length")
"""Words of vLLM's refusals of a prompt over ``max_model_len`` (chat and plain prompts say it differently)."""


class EngineError(RuntimeError):
    """The model cannot run on the chosen engine; the message says why and what to do."""


def factory_for(spec: ModelSpec, engine: str) -> ModelFactory | None:
    """The vLLM factory for ``spec`` when ``engine`` is ``vllm``; ``None`` for the model's own adapter."""
    if engine != "vllm":
        return None
    if spec.family not in GENERATIVE_FAMILIES:
        raise EngineError(
            f"--engine vllm runs generative Hugging Face models (text LLMs and VLMs), and {spec.name} is a "
            f"{spec.family} model; evaluate it in a run without --engine vllm."
        )
    if importlib.util.find_spec("vllm") is None:
        raise EngineError(
            "--engine vllm needs vLLM, which this environment does not have; run `make install-vllm` and run "
            "pytest from .venv-vllm (docs/scale.md)."
        )
    return load


def engine_kwargs(source: str, options: LoadOptions, device_type: str) -> dict[str, Any]:
    """The ``vllm.LLM`` arguments for ``source`` under ``options`` on a ``cpu`` or ``cuda`` platform."""
    on_cpu = device_type == "cpu"
    dtype = options.dtype if options.dtype != "auto" else ("float32" if on_cpu else "auto")
    kwargs: dict[str, Any] = {
        "model": source,
        "dtype": dtype,
        "trust_remote_code": options.trust_remote_code,
        "enable_prefix_caching": True,
        "tensor_parallel_size": options.tensor_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        # CUDA graphs pay off on a GPU; on a CPU there are none, and compiling costs minutes.
        "enforce_eager": on_cpu,
        "seed": 0,
    }
    if options.max_model_len is not None:
        kwargs["max_model_len"] = options.max_model_len
    return kwargs


def conversation(request: Request) -> list[dict[str, Any]]:
    """One user turn in OpenAI form: the image (a PIL image vLLM turns into multi-modal data) and the text."""
    content: list[dict[str, Any]] = []
    if request.image is not None:
        content.append({"type": "image_pil", "image_pil": request.image})
    content.append({"type": "text", "text": request.prompt})
    return [{"role": "user", "content": content}]


def token_count(output: Any) -> Tokens:
    """The tokens of one ``vllm.RequestOutput``: prompt, served from the prefix cache, generated."""
    prompt = len(output.prompt_token_ids or ())
    generated = len(output.outputs[0].token_ids) if output.outputs else 0
    return Tokens(prompt=prompt, shared=min(int(output.num_cached_tokens or 0), prompt), generated=generated)


def answer(output: Any) -> Answer:
    """One ``vllm.RequestOutput`` as an answer: its text, stripped, with its tokens."""
    return Answer(str(output.outputs[0].text).strip() if output.outputs else "", token_count(output))


class VLLMModel(Adapter):
    """A :class:`~pytest_vlmbench.models.base.GenerativeModel` running on an in-process ``vllm.LLM``."""

    reads: Reads = frozenset({"text", "image"})
    counts_tokens = True
    # shares_prefix stays False: it asks the strategies to send one item's requests together for an
    # adapter that computes their prefix once itself; vLLM's prefix cache finds shared prefixes alone.

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import vllm
        from vllm.platforms import current_platform

        self.name = spec.name
        device_type = str(current_platform.device_type or "cpu")
        self._llm: Any = vllm.LLM(**engine_kwargs(source, options, device_type))
        self._sampling = vllm.SamplingParams
        self.uses_chat_template = bool(getattr(self._llm.get_tokenizer(), "chat_template", None))
        config = self._llm.llm_engine.model_config
        architectures = getattr(config.hf_config, "architectures", None) or [type(config.hf_config).__name__]
        self.max_model_len = int(config.max_model_len)
        """The engine's window: prompt plus answer, in tokens."""
        self.info = ModelInfo(
            source=source,
            # Not the HF family: the answer cache and the record tell the two engines apart.
            family="vllm",
            architecture=str(architectures[0]),
            device=device_type,
            dtype=str(config.dtype).replace("torch.", ""),
            # What may change an answer; the record copies it into its config (the baseline key).
            engine=EngineInfo("vllm", options.tensor_parallel_size, self.max_model_len, prefix_caching=True),
            # Facts only, like the batch size and library versions: a gate compares across them.
            engine_version=str(vllm.__version__),
            gpu_memory_utilization=options.gpu_memory_utilization,
        )

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if not requests:
            return []
        params = [self._sampling(temperature=0.0, max_tokens=r.max_new_tokens) for r in requests]
        try:
            if self.uses_chat_template:
                outputs = self._llm.chat([conversation(r) for r in requests], params, use_tqdm=False)
            else:  # a base model: the plain text, as the HF adapter sends it
                outputs = self._llm.generate([r.prompt for r in requests], params, use_tqdm=False)
        except Exception as exc:  # vLLM's VLLMValidationError; it checks every prompt before running any
            if not any(words in str(exc) for words in TOO_LONG):
                raise
            reasons = self.too_long(requests)
            if reasons:  # those items' errors; the channel sends the rest again
                raise PromptTooLong(reasons) from None
            limit = self.max_model_len
            raise EngineError(
                f"{self.name}: a prompt is longer than the engine's {limit} tokens ({str(exc).split('. ')[0]}); raise "
                f"--max-model-len up to the model's own limit, or shorten the prompts (fewer --k-shot exemplars)."
            ) from None
        return [answer(o) for o in outputs]

    def too_long(self, requests: Sequence[Request]) -> dict[int, str]:
        """The text-only requests whose prompt alone fills the engine's window (vLLM refuses a prompt
        of ``max_model_len`` tokens or more), by position, with a sentence each.

        Counted only after vLLM has refused the batch, so a normal batch is tokenized once, by the
        engine. Image tokens are the engine's to count: a batch refused for an image prompt stays
        one :class:`EngineError`.
        """
        tokenizer = self._llm.get_tokenizer()
        limit = self.max_model_len
        reasons = {}
        for i, request in enumerate(requests):
            if request.image is not None or request.exemplar_images:
                continue
            if self.uses_chat_template:
                ids: Any = tokenizer.apply_chat_template([{"role": "user", "content": request.prompt}], add_generation_prompt=True, tokenize=True)
                ids = ids["input_ids"] if isinstance(ids, Mapping) else ids
            else:
                ids = tokenizer(request.prompt)["input_ids"]
            if len(ids) >= limit:
                reasons[i] = (
                    f"its prompt has {len(ids)} tokens, which fills the {limit}-token window of {self.name} on vLLM "
                    f"(--max-model-len); show fewer exemplars (--k-shot), shorten the text, or raise --max-model-len"
                )  # fmt: skip
        return reasons

    def close(self) -> None:
        """Shut the engine's processes down and return their memory before the next model loads."""
        llm, self._llm = self._llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()
        del llm
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

        # An engine run in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0) keeps its process
        # groups here; without this the next model's engine cannot initialise them again.
        destroy_model_parallel()
        destroy_distributed_environment()
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load(source: str, spec: ModelSpec, options: LoadOptions) -> VLLMModel:
    return VLLMModel(source, spec, options)
