"""Offline NLU for the assistant: language (es/en), intent with out-of-scope, sentiment.

Train with ``train_assistant`` (``ssmas assistant train``); use with ``load_nlu(settings).analyse``.
"""

from __future__ import annotations

from ssmas.assistant.nlu.analyser import NLU, NluResult, NluUnavailable, load_nlu
from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE, CorpusMissing
from ssmas.assistant.nlu.domain import DomainError, load_domain
from ssmas.assistant.nlu.training import TrainReport, train_assistant, train_nlu

__all__ = [
    "NLU",
    "OUT_OF_SCOPE",
    "CorpusMissing",
    "DomainError",
    "NluResult",
    "NluUnavailable",
    "TrainReport",
    "load_domain",
    "load_nlu",
    "train_assistant",
    "train_nlu",
]
