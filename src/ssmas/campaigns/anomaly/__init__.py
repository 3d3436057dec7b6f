"""Anomaly detection on phone validations and campaign metrics (issue 17, item 5): Isolation
Forest, One-Class SVM, LOF and an autoencoder, rank-normalised to [0, 1] and averaged; flagged
rows are published as ``AnomalyDetected`` events on ``campaigns.anomalies`` for AdOps' rules."""

from ssmas.campaigns.anomaly.detectors import DETECTORS
from ssmas.campaigns.anomaly.ensemble import (
    AnomalyEnsemble,
    AnomalyInputError,
    Scores,
    rank_normalise,
)
from ssmas.campaigns.anomaly.events import (
    TOPIC_ANOMALIES,
    AnomalyDetected,
    detect_anomalies,
    publish_anomalies,
)
from ssmas.campaigns.anomaly.features import (
    CAMPAIGN_COUNTS,
    campaign_features,
    validation_features,
)

__all__ = [
    "CAMPAIGN_COUNTS",
    "DETECTORS",
    "TOPIC_ANOMALIES",
    "AnomalyDetected",
    "AnomalyEnsemble",
    "AnomalyInputError",
    "Scores",
    "campaign_features",
    "detect_anomalies",
    "publish_anomalies",
    "rank_normalise",
    "validation_features",
]
