"""Promotion you can trust: a challenger becomes champion on live evidence or an operator's word.

**Online evidence.** While a challenger prices its share of live traffic, every outcome posted
back (``pricing_outcomes``: the clearing price of an impression and what the variant that priced
it predicted) is one squared error for its variant. With ``m = min_gain`` the challenger must show
``RMSE_challenger <= (1 - m) RMSE_champion``, i.e. ``(1 - m)^2 MSE_champion - MSE_challenger > 0``:
that difference of two means gets an always-valid confidence sequence
(:func:`ssmas.core.stats.compare_means`, the normal-mixture boundary), so the worker may look
every few minutes and stop at the first look whose lower bound clears zero without inflating the
error rate ``alpha``. Revenue per outcome gets the same sequence: a challenger whose revenue is
confidently lower is not promoted whatever its RMSE. Fewer than ``min_outcomes`` per variant:
no verdict. A challenger confidently **worse** than the champion is reported ``worse`` and is
never promoted by this path.

**Approved operator.** ``ssmas pricing promote VERSION --approve --api-key KEY`` (a
``pricing:admin`` key; its prefix is the audited actor) or ``POST /v2/models/promote``.

Every promotion and rollback moves the registry alias, publishes the model event serving
processes reload on, writes the core's audit log (actor, version, evidence), records a workflow
decision (``pricing_retrain_decisions``, bus ``pricing.retrain_decided`` /
``pricing.model_promoted``) and notifies through :class:`PricingAlerts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine

from ssmas.core.registry import CHALLENGER, CHAMPION
from ssmas.core.security.audit import record_audit
from ssmas.core.stats import compare_means
from ssmas.pricing.lifecycle.retrain_decisions import RetrainDecision, Trigger, record_decision
from ssmas.pricing.lifecycle.retraining import RetrainDeps
from ssmas.pricing.model.bundle import MODEL_NAME
from ssmas.pricing.serving import store
from ssmas.pricing.serving.hot_reload import MODEL_PROMOTED, MODEL_ROLLED_BACK

Verdict = Literal["promote", "collecting", "worse", "no_challenger"]
ONLINE_ACTOR = "online-promotion"


class PromotionError(ValueError):
    """The promotion or rollback cannot be made (no such version, no challenger...)."""


class PromotionPolicy(BaseModel):
    """How much a challenger must prove, and how surely."""

    model_config = ConfigDict(extra="forbid")

    min_gain: float = Field(default=0.02, ge=0.0, lt=1.0)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    min_outcomes: int = Field(default=200, ge=2)
    tuning: float = Field(default=5000.0, gt=0.0)


class OnlineEvidence(BaseModel):
    """The live comparison of challenger and champion at one look."""

    champion_version: int
    challenger_version: int | None
    n_champion: int = 0
    n_challenger: int = 0
    champion_rmse: float | None = None
    challenger_rmse: float | None = None
    margin_ci: tuple[float, float] | None = None
    difference_ci: tuple[float, float] | None = None
    revenue_ci: tuple[float, float] | None = None
    p_value: float | None = None
    min_gain: float
    alpha: float
    verdict: Verdict
    reason: str


def _squared_errors(rows: Iterable[Mapping[str, Any]], variant: str, version: int) -> np.ndarray:
    errs = [
        (float(r["clearing_cpm"]) - float(r["predicted_cpm"])) ** 2
        for r in rows
        if r.get("variant") == variant
        and str(r.get("model_version")) == str(version)
        and r.get("filled")
        and r.get("clearing_cpm") is not None
        and r.get("predicted_cpm") is not None
    ]
    return np.asarray(errs, dtype=np.float64)


def _revenue(rows: Iterable[Mapping[str, Any]], variant: str, version: int) -> np.ndarray:
    return np.asarray(
        [
            float(r.get("revenue_eur") or 0.0)
            for r in rows
            if r.get("variant") == variant and str(r.get("model_version")) == str(version)
        ],
        dtype=np.float64,
    )


def online_evidence(
    rows: Sequence[Mapping[str, Any]],
    champion_version: int,
    challenger_version: int | None,
    policy: PromotionPolicy,
) -> OnlineEvidence:
    """Compare the two variants on the live outcomes ``rows`` (``store.read_outcomes`` rows)."""
    common = {
        "champion_version": champion_version,
        "challenger_version": challenger_version,
        "min_gain": policy.min_gain,
        "alpha": policy.alpha,
    }
    if challenger_version is None:
        return OnlineEvidence(**common, verdict="no_challenger", reason="no challenger deployed")
    champ = _squared_errors(rows, CHAMPION, champion_version)
    chall = _squared_errors(rows, CHALLENGER, challenger_version)
    counts = {"n_champion": int(champ.size), "n_challenger": int(chall.size)}
    if min(champ.size, chall.size) < policy.min_outcomes:
        reason = (
            f"{champ.size} champion and {chall.size} challenger outcomes with a price; "
            f"the test needs {policy.min_outcomes} of each"
        )
        return OnlineEvidence(**common, **counts, verdict="collecting", reason=reason)
    keep = (1.0 - policy.min_gain) ** 2
    margin = compare_means(keep * champ, chall, alpha=policy.alpha, tuning=policy.tuning)
    diff = compare_means(champ, chall, alpha=policy.alpha, tuning=policy.tuning)
    rev_champ = _revenue(rows, CHAMPION, champion_version)
    rev_chall = _revenue(rows, CHALLENGER, challenger_version)
    revenue = None
    if min(rev_champ.size, rev_chall.size) >= 2:
        revenue = compare_means(rev_chall, rev_champ, alpha=policy.alpha, tuning=policy.tuning)
    rmse_champ = float(np.sqrt(champ.mean()))
    rmse_chall = float(np.sqrt(chall.mean()))
    figures = (
        f"live RMSE challenger v{challenger_version} {rmse_chall:.4f} vs champion "
        f"v{champion_version} {rmse_champ:.4f} ({chall.size} / {champ.size} outcomes)"
    )
    verdict: Verdict
    if diff.ci_high < 0:
        verdict, why = "worse", "the challenger is worse than the champion"
    elif revenue is not None and revenue.ci_high < 0:
        verdict, why = "worse", "the challenger earns less revenue per impression"
    elif margin.ci_low > 0:
        verdict = "promote"
        why = f"the challenger beats the champion by more than {policy.min_gain:.0%}"
    else:
        verdict, why = "collecting", f"no proof yet of a gain above {policy.min_gain:.0%}"
    return OnlineEvidence(
        **common,
        **counts,
        champion_rmse=rmse_champ,
        challenger_rmse=rmse_chall,
        margin_ci=(margin.ci_low, margin.ci_high),
        difference_ci=(diff.ci_low, diff.ci_high),
        revenue_ci=None if revenue is None else (revenue.ci_low, revenue.ci_high),
        p_value=margin.p_value,
        verdict=verdict,
        reason=f"{why} (always-valid {1 - policy.alpha:.0%}): {figures}",
    )


def check_online_promotion(
    deps: RetrainDeps, engine: Engine, policy: PromotionPolicy
) -> tuple[OnlineEvidence | None, RetrainDecision | None]:
    """Look at the live evidence since the challenger was registered; promote it if it proved
    its gain. Returns the evidence (None without a champion) and the decision of a promotion."""
    champion = deps.registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    if champion is None:
        return None, None
    challenger = deps.registry.get_version_by_alias(MODEL_NAME, CHALLENGER)
    if challenger is None:
        return online_evidence([], champion.version, None, policy), None
    rows = store.read_outcomes(engine, challenger.created_at, deps.clock())
    evidence = online_evidence(rows, champion.version, challenger.version, policy)
    if evidence.verdict != "promote":
        return evidence, None
    decision = _change_champion(
        deps,
        challenger.version,
        previous=champion.version,
        actor=ONLINE_ACTOR,
        trigger="online",
        reason=evidence.reason,
        details={"evidence": evidence.model_dump(mode="json")},
    )
    return evidence, decision


def approve_promotion(
    deps: RetrainDeps, version: int | None, *, actor: str, reason: str = ""
) -> RetrainDecision:
    """An operator's promotion of ``version`` (default: the challenger), audited as ``actor``."""
    if not actor.strip():
        raise PromotionError("an approved promotion needs the operator's identity")
    champion = deps.registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    if version is None:
        challenger = deps.registry.get_version_by_alias(MODEL_NAME, CHALLENGER)
        if challenger is None:
            raise PromotionError("no challenger to promote: give a version")
        version = challenger.version
    if champion is not None and champion.version == version:
        raise PromotionError(f"v{version} is already champion")
    why = f"approved by {actor}" + (f": {reason}" if reason else "")
    return _change_champion(
        deps,
        version,
        previous=None if champion is None else champion.version,
        actor=actor,
        trigger="approved",
        reason=why,
        details={"approved_by": actor},
    )


def rollback_champion(deps: RetrainDeps, *, actor: str, reason: str = "") -> RetrainDecision:
    """Put back the champion the last promotion replaced; audited, notified, recorded."""
    current = deps.registry.get_version_by_alias(MODEL_NAME, CHAMPION)
    info = deps.registry.rollback(MODEL_NAME)
    deps.announce(MODEL_ROLLED_BACK, info.version, actor=actor)
    why = f"rolled back by {actor}" + (f": {reason}" if reason else "")
    previous = None if current is None else current.version
    _audit(deps, actor, "pricing.rollback", info.version, {"replaced": previous, "reason": why})
    decision = record_decision(
        deps.sessions,
        deps.bus,
        RetrainDecision(
            decided_at=deps.clock(),
            trigger="approved",
            action="rollback",
            outcome="rolled_back",
            champion_version=info.version,
            challenger_version=previous,
            reason=why,
            details={"actor": actor},
        ),
    )
    if deps.alerts is not None:
        deps.alerts.event(
            f"pricing-rollback-{decision.id}",
            f"pricing model rolled back to v{info.version}",
            body=why,
            severity="warning",
            fields={"version": info.version, "replaced": previous, "actor": actor},
        )
    return decision


def _change_champion(
    deps: RetrainDeps,
    version: int,
    *,
    previous: int | None,
    actor: str,
    trigger: Trigger,
    reason: str,
    details: dict[str, Any],
) -> RetrainDecision:
    info = deps.registry.promote(MODEL_NAME, version)
    deps.announce(MODEL_PROMOTED, info.version, actor=actor)
    _audit(deps, actor, "pricing.promote", info.version, {"replaced": previous, **details})
    decision = record_decision(
        deps.sessions,
        deps.bus,
        RetrainDecision(
            decided_at=deps.clock(),
            trigger=trigger,
            action="promote",
            outcome="promoted",
            champion_version=previous,
            challenger_version=info.version,
            promoted=True,
            reason=reason,
            details={"actor": actor, **details},
        ),
    )
    if deps.alerts is not None:
        deps.alerts.event(
            f"pricing-promotion-{decision.id}",
            f"pricing model v{info.version} promoted to champion",
            body=reason,
            fields={"version": info.version, "replaced": previous, "actor": actor},
        )
    return decision


def record_operator_change(
    deps: RetrainDeps, *, rolled_back: bool, version: int, actor: str
) -> RetrainDecision:
    """Record and notify a champion change an operator made elsewhere (the admin routes, which
    move the alias and write the audit entry themselves)."""
    what = "rolled back to" if rolled_back else "promoted to champion:"
    decision = record_decision(
        deps.sessions,
        deps.bus,
        RetrainDecision(
            decided_at=deps.clock(),
            trigger="approved",
            action="rollback" if rolled_back else "promote",
            outcome="rolled_back" if rolled_back else "promoted",
            champion_version=version if rolled_back else None,
            challenger_version=None if rolled_back else version,
            promoted=not rolled_back,
            reason=f"{what} v{version} by {actor}",
            details={"actor": actor},
        ),
    )
    if deps.alerts is not None:
        title = (
            f"pricing model rolled back to v{version}"
            if rolled_back
            else f"pricing model v{version} promoted to champion"
        )
        deps.alerts.event(
            f"pricing-{decision.action}-{decision.id}",
            title,
            body=decision.reason,
            severity="warning" if rolled_back else "info",
            fields={"version": version, "actor": actor},
        )
    return decision


def _audit(
    deps: RetrainDeps, actor: str, action: str, version: int, details: dict[str, Any]
) -> None:
    with deps.sessions() as session:
        record_audit(
            session,
            actor=actor,
            action=action,
            target=f"{MODEL_NAME}/{version}",
            details=details,
            at=deps.clock(),
        )
        session.commit()


def policy_from_settings(min_gain: float, alpha: float, min_outcomes: int) -> PromotionPolicy:
    """The policy of ``settings.pricing``'s ``promotion_*`` fields."""
    return PromotionPolicy(min_gain=min_gain, alpha=alpha, min_outcomes=min_outcomes)
