"""``linear_probe``: a scikit-learn logistic regression on frozen embeddings.

The encoder the session loaded (``minilm``, CLIP, SigLIP) embeds the training items once;
a multinomial logistic regression (``lbfgs``, ``C`` = ``probe_c``, 1.0 by default) is fitted
on them, and the evaluated items are classified by the same encoder and the fitted
weights. For text+image items the text and image embeddings are concatenated (the
CLIP-based fake-news baselines). The weights (a few KB) are kept in the weights cache,
so an unchanged rerun embeds only the evaluated items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..datasets.base import Dataset
from ..evaluation.answer_cache import model_identity
from ..models.base import Adapter, DirectClassifier, GenerativeModel, LoadOptions, Provides, Request
from ..record import ModelInfo, Training
from ..strategies.base import StrategyConfig
from .embed import Embedder, as_embedder, embed_items, to_numpy
from .split import data_sha256
from .trained import TrainedClassifier, TrainingError, from_meta, measured, split_name, to_meta
from .weights_cache import CachedTraining, training_key

WEIGHTS = "probe.npz"
MAX_ITER = 2000


class ProbeClassifier(Adapter):
    """The encoder's embeddings scored by the fitted weights: one class per request."""

    provides: Provides = "classify"

    def __init__(
        self, encoder: Embedder, coef: Any, intercept: Any, classes: Sequence[str], with_text: bool, info: ModelInfo
    ) -> None:
        self.name = encoder.name
        self.info = info
        self.encoder = encoder
        self.coef = coef
        self.intercept = intercept
        self.classes = list(classes)
        self.with_text = with_text

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        if not requests:
            return []
        scores = to_numpy(self.encoder.embed_requests(requests, self.with_text)) @ self.coef.T + self.intercept
        # Only classes of the evaluated dataset compete (the same rule as a classifier head's labels).
        columns = [i for i, c in enumerate(self.classes) if c in set(classes)]
        if not columns:
            return [None] * len(requests)
        best = scores[:, columns].argmax(axis=1)
        return [self.classes[columns[int(b)]] for b in best]

    def close(self) -> None:
        """Nothing of its own to free: the encoder belongs to the session's model loader."""


def fit(features: Any, labels: Sequence[int], c: float, seed: int) -> tuple[Any, Any, list[int], float]:
    """``(coef, intercept, class indices, training accuracy)``; two classes get a second, zero row so every case scores alike."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed).fit(features, labels)
    coef, intercept = lr.coef_.astype(np.float32), lr.intercept_.astype(np.float32)
    if coef.shape[0] == 1:  # binary: sklearn keeps one row, the log-odds of the second class
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1, np.float32), intercept])
    return coef, intercept, [int(i) for i in lr.classes_], float(lr.score(features, labels))


def train_probe(
    model: GenerativeModel | DirectClassifier, train: Dataset, config: StrategyConfig, load: LoadOptions, split_detail: dict[str, Any]
) -> TrainedClassifier:
    """The ``linear_probe`` trainer: the probe from the cache, else embedded, fitted and cached now."""
    import numpy as np

    encoder = as_embedder(model)
    settings = config.training
    with_text = train.modality == "image+text"
    hyper = {**settings.probe_json(), "probe_features": "image+text" if with_text else train.modality}
    data = data_sha256(train)
    key = training_key("linear_probe", model_identity(model), data, hyper, config.seed)
    entry = CachedTraining.for_key("linear_probe", key)
    if entry.ready:
        meta = entry.meta()
        training = from_meta(meta, str(entry.path))
    else:
        meta = {}
        device = encoder.info.device or "cpu"
        with entry.build(meta) as staging:  # meta is written when the block ends: fill it inside
            with measured(device) as cost:
                features, kept = embed_items(encoder, train.items, with_text, settings.batch_size)
                labels = [train.classes.index(it.label) for it in kept]
                if len(set(labels)) < 2:
                    raise TrainingError(f"The readable training items of {train.name!r} cover fewer than two classes.")
                coef, intercept, indices, accuracy = fit(features, labels, settings.probe_c, config.seed)
            np.savez(staging / WEIGHTS, coef=coef, intercept=intercept)
            detail = {**split_detail, "unreadable": len(train.items) - len(kept)} if len(kept) < len(train.items) else split_detail
            training = Training(
                method="linear_probe", split=split_name(split_detail), items=len(kept), seconds=cost.seconds,
                items_per_s=len(kept) / cost.seconds if cost.seconds > 0 else 0.0, peak_memory_mb=cost.peak_memory_mb,
                device=device, hyperparameters={**hyper, "base": encoder.info.source or model.name},
                reused=False, cache_key=key, data_sha256=data, train_accuracy=accuracy,
                energy_joules=cost.energy_joules, split_detail=detail,
            )  # fmt: skip
            meta.update(training=to_meta(training), classes=[train.classes[i] for i in indices], with_text=with_text)
    weights = np.load(entry.path / WEIGHTS)
    # The probe's folder is its source: the answer cache keys its answers by the fitted weights.
    info = replace(encoder.info, source=str(entry.path), family="linear-probe", encoder_source=encoder.info.source)
    probe = ProbeClassifier(encoder, weights["coef"], weights["intercept"], meta["classes"], bool(meta["with_text"]), info)
    return TrainedClassifier(probe, training, info, owns_inner=False)
