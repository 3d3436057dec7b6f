"""Lead-quality models in the registry: train on simulated leads, register, champion or challenger.

The pattern is pricing's (``ssmas.core.registry``): a new version is logged with its metrics;
the first one becomes ``champion``; a later one is scored with the champion on the same fresh
held-out leads and is promoted only if its AUC is higher by at least ``min_improvement``,
otherwise it stays as ``challenger``. ``ModelRegistry.rollback`` puts back the previous champion.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ssmas.campaigns.quality.ensemble import MEMBERS, LeadQualityEnsemble, Progress
from ssmas.campaigns.quality.evaluation import evaluate
from ssmas.campaigns.quality.features import LEAD_FIELDS
from ssmas.campaigns.quality.simulator import simulate_leads
from ssmas.core.registry import CHALLENGER, CHAMPION, ModelNotFound, ModelVersionInfo

if TYPE_CHECKING:
    from ssmas.core.registry import ModelRegistry

MODEL_NAME = "campaigns-lead-quality"
SCHEMA_VERSION = "lead-quality-v1"
_BOOL = {"phone_valid", "whatsapp_active", "instagram_active", "facebook_active",
         "google_active", "apple_active"}  # fmt: skip
_TEXT = {"line_type", "lada", "source"}


class QualityModelError(ValueError):
    """A registered version is not a lead-quality ensemble."""


class TrainConfig(BaseModel):
    """How many simulated leads to train and judge on, and how cautious promotion is."""

    model_config = ConfigDict(extra="forbid")

    leads: int = Field(default=20_000, ge=200, le=2_000_000)
    test_leads: int = Field(default=20_000, ge=200, le=2_000_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    test_seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    folds: int = Field(default=5, ge=2, le=10)
    rounds: int = Field(default=200, ge=1, le=2000)
    min_improvement: float = Field(default=0.0, ge=0.0, lt=0.5)


class QualityDecision(BaseModel):
    """What one training run registered and decided."""

    version: int
    outcome: Literal["bootstrapped", "promoted", "kept_champion"]
    champion_version: int | None = None
    auc: float
    champion_auc: float | None = None
    reason: str
    metrics: dict[str, float]


def feature_schema() -> dict[str, Any]:
    """The raw lead fields the registered model reads (also its MLflow signature)."""

    def kind(name: str) -> str:
        if name in _BOOL:
            return "bool"
        if name in _TEXT:
            return "string"
        return "double" if name == "avg_response_time_h" else "int64"

    return {
        "version": SCHEMA_VERSION,
        "features": [{"name": name, "type": kind(name)} for name in LEAD_FIELDS],
    }


def register(
    registry: ModelRegistry,
    ensemble: LeadQualityEnsemble,
    metrics: dict[str, float],
    *,
    tags: dict[str, str] | None = None,
) -> ModelVersionInfo:
    """Log ``ensemble`` (pyfunc flavor) with its metrics, CV scores and weights."""
    from ssmas.campaigns.quality.mlflow_model import LeadQualityPyfunc

    logged = {**metrics}
    for name in ensemble.members:
        logged[f"cv_auc_{name}"] = ensemble.cv_auc_[name]
        logged[f"weight_{name}"] = ensemble.weights_[name]
    params = {"seed": ensemble.seed, "folds": ensemble.folds, "rounds": ensemble.rounds,
              "members": ",".join(ensemble.members), **{f"trees_{k}": v for k, v in
              ensemble.tree_counts().items()}}  # fmt: skip
    return registry.log_model(
        MODEL_NAME,
        LeadQualityPyfunc(ensemble),
        flavor="pyfunc",
        feature_schema=feature_schema(),
        metrics={k: float(v) for k, v in logged.items() if math.isfinite(float(v))},
        params=params,
        tags=tags,
    )


def load(registry: ModelRegistry, ref: str = CHAMPION) -> tuple[LeadQualityEnsemble, int]:
    """The ensemble of a registered version (number, alias or ``latest``) and its number."""
    versions = {v.version: v for v in registry.list_versions(MODEL_NAME)}
    if ref.isdigit():
        found = versions.get(int(ref))
    elif ref == "latest":
        found = versions[max(versions)] if versions else None
    else:
        found = registry.get_version_by_alias(MODEL_NAME, ref)
    if found is None:
        raise ModelNotFound(f"model {MODEL_NAME!r} has no version {ref!r}")
    pyfunc = registry.load(MODEL_NAME, found.version)
    ensemble = getattr(pyfunc.unwrap_python_model(), "ensemble", None)
    if not isinstance(ensemble, LeadQualityEnsemble):
        raise QualityModelError(f"{MODEL_NAME} v{found.version} is not a lead-quality ensemble")
    return ensemble, found.version


def train_and_decide(
    registry: ModelRegistry, config: TrainConfig, progress: Progress | None = None
) -> QualityDecision:
    """Train on ``config.leads`` simulated leads, register, and decide champion or challenger."""
    from ssmas.campaigns.quality.features import lead_matrix

    train = simulate_leads(config.leads, seed=config.seed)
    test_seed = config.test_seed if config.test_seed is not None else config.seed + 1_000_003
    test = simulate_leads(config.test_leads, seed=test_seed)
    ensemble = LeadQualityEnsemble(seed=config.seed, folds=config.folds, rounds=config.rounds)
    ensemble.fit(lead_matrix(train), train["converted"], progress=progress)
    metrics = evaluate(ensemble, test)
    info = register(
        registry,
        ensemble,
        {f"test_{k}": v for k, v in metrics.items()},
        tags={"test_seed": str(test_seed), "train_leads": str(config.leads)},
    )
    champion_info = registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    if champion_info is None:
        registry.promote(MODEL_NAME, info.version)
        return QualityDecision(
            version=info.version,
            outcome="bootstrapped",
            auc=metrics["auc"],
            reason="no champion: the first model becomes champion",
            metrics=metrics,
        )
    champion, champion_version = load(registry, CHAMPION)
    champion_auc = evaluate(champion, test)["auc"]
    better = metrics["auc"] > champion_auc + config.min_improvement
    verdict = "promoted" if better else "kept as challenger"
    reason = (
        f"v{info.version} AUC {metrics['auc']:.4f} vs champion v{champion_version} "
        f"{champion_auc:.4f} on the same {config.test_leads} held-out leads: {verdict}"
    )
    if better:
        registry.promote(MODEL_NAME, info.version)
    else:
        registry.set_alias(MODEL_NAME, CHALLENGER, info.version)
    return QualityDecision(
        version=info.version,
        outcome="promoted" if better else "kept_champion",
        champion_version=champion_version,
        auc=metrics["auc"],
        champion_auc=champion_auc,
        reason=reason,
        metrics=metrics,
    )


__all__ = ["MEMBERS", "MODEL_NAME", "QualityDecision", "TrainConfig", "load", "train_and_decide"]
