"""Offline NLU for the assistant: language (es/en), intent with out-of-scope, sentiment.

Train with ``train_nlu`` (``ssmas assistant train-nlu``); use with ``load_nlu(settings).analyse``.
"""

from __future__ import annotations

from ssmas.assistant.nlu.analyser import NLU, NluResult, NluUnavailable, load_nlu
from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE, CorpusMissing
from ssmas.assistant.nlu.training import TrainReport, train_nlu

__all__ = [
    "NLU",
    "OUT_OF_SCOPE",
    "CorpusMissing",
    "NluResult",
    "NluUnavailable",
    "TrainReport",
    "load_nlu",
    "train_nlu",
]
