"""The record of one evaluation and its parts: the one place the results' JSON shape is defined.

- :mod:`.core`: :class:`Record` and the parts every record has (metrics, per-class scores,
  confusion, throughput, memory, predictions, config), the one :data:`SCHEMA_VERSION`;
- :mod:`.model_info`: :class:`ModelInfo`, the facts an adapter states about its model;
- :mod:`.tokens`, :mod:`.cost`, :mod:`.training`, :mod:`.ner`: the optional sections;
- :mod:`.jsonio`: how typed parts are written to and read from plain JSON.

Everything else imports from this package, never from its modules.
"""

from .core import (
    READABLE_SCHEMAS,
    SCHEMA_VERSION,
    TASKS,
    ClassScores,
    Confusion,
    Label,
    LatencyMs,
    Memory,
    Metrics,
    Prediction,
    Record,
    RecordConfig,
    Throughput,
    Unreadable,
    check_schema,
    label_text,
)
from .cost import Cost, Energy
from .jsonio import Reader, RecordError, plain_json
from .model_info import EngineInfo, ModelInfo
from .ner import NerScores, TypeScores
from .tokens import Tokens
from .training import Training

__all__ = [
    "READABLE_SCHEMAS", "SCHEMA_VERSION", "TASKS", "Label", "ClassScores", "Confusion", "Cost", "Energy", "EngineInfo",
    "LatencyMs", "Memory", "Metrics", "ModelInfo", "NerScores",
    "Prediction", "Reader", "Record", "RecordConfig", "RecordError", "Throughput", "Tokens", "Training", "TypeScores",
    "Unreadable", "check_schema", "label_text", "plain_json",
]  # fmt: skip
