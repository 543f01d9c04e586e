"""One evaluation: a loaded model, a dataset and a strategy in; one typed record out.

No pytest here, and no torch until a model or a CUDA meter needs it.
"""

from __future__ import annotations

from .evaluate import AdapterError, EvalConfig, evaluate
from .progress import Progress, ProgressObserver

__all__ = ["AdapterError", "EvalConfig", "Progress", "ProgressObserver", "evaluate"]
