"""Promotion you can trust, end to end: real registry, real database (serving tables, audit log),
real bus. A challenger is promoted on live evidence only when it proves its margin; an operator
can approve one; every promotion and rollback is audited, recorded and notified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ssmas.core.db import UnitOfWork
from ssmas.core.notify import Notification
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry import ModelRegistry
from ssmas.core.security.audit import list_audit
from ssmas.pricing.lifecycle.alerts import PricingAlerts
from ssmas.pricing.lifecycle.promotion import (
    PromotionError,
    PromotionPolicy,
    approve_promotion,
    check_online_promotion,
    rollback_champion,
)
from ssmas.pricing.lifecycle.retrain_decisions import TOPIC_PROMOTED, recent_decisions
from ssmas.pricing.lifecycle.retraining import RetrainDeps
from ssmas.pricing.model.bundle import MODEL_NAME
from ssmas.pricing.model.training import train_from_lake
from ssmas.pricing.serving import store
from ssmas.settings import Settings

from .pricing_support import START, copy_lake, fresh_registry

pytestmark = pytest.mark.slow
FAST = {"num_boost_round": 20}
POLICY = PromotionPolicy(min_gain=0.02, alpha=0.05, min_outcomes=100)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = build_platform(Settings(profile="test", data_dir=tmp_path / "data"))
    yield p
    p.close()


@pytest.fixture()
def two_models(tmp_path: Path, platform: Platform) -> tuple[ModelRegistry, int, int]:
    registry = fresh_registry(tmp_path.parent, platform.settings)
    lake = copy_lake(tmp_path.parent, tmp_path / "lake")
    end = START + timedelta(days=2)
    first = train_from_lake(lake, START, end, registry=registry, params=FAST)
    second = train_from_lake(lake, START, end, registry=registry, params=FAST, seed=1)
    assert first.info is not None and second.info is not None
    assert second.alias == "challenger"
    return registry, first.info.version, second.info.version


def _post_outcomes(
    platform: Platform, variant: str, version: int, n: int, sd: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    at = datetime.now(UTC) + timedelta(seconds=5)
    price = rng.lognormal(0.0, 0.6, size=n)
    predicted = price + rng.normal(0.0, sd, size=n)
    rows = [
        {
            "received_at": at,
            "impression_id": f"{variant}-{seed}-{i}",
            "variant": variant,
            "model_version": str(version),
            "predicted_cpm": float(predicted[i]),
            "clearing_cpm": float(price[i]),
            "filled": True,
            "revenue_eur": float(price[i]) / 1000.0,
        }
        for i in range(n)
    ]
    store.insert_rows(platform.engine, store.outcomes, rows)


def _deps(platform: Platform, registry: ModelRegistry, recorder: Recorder) -> RetrainDeps:
    alerts = PricingAlerts(recorder)
    later = lambda: datetime.now(UTC) + timedelta(hours=1)  # noqa: E731
    return RetrainDeps(registry, platform.session_factory, platform.bus, later, alerts)


def _audit(platform: Platform) -> list[tuple[str, str, str]]:
    with UnitOfWork(platform.session_factory) as uow:
        return [(a.actor, a.action, a.target) for a in list_audit(uow.session)]


def test_a_challenger_worse_online_is_never_promoted(
    platform: Platform, two_models: tuple[ModelRegistry, int, int]
) -> None:
    registry, champion, challenger = two_models
    recorder = Recorder()
    deps = _deps(platform, registry, recorder)
    for look in range(6):  # the worker looks again and again as outcomes arrive
        _post_outcomes(platform, "champion", champion, 400, sd=0.40, seed=look)
        _post_outcomes(platform, "challenger", challenger, 400, sd=0.48, seed=100 + look)
        evidence, decision = check_online_promotion(deps, platform.engine, POLICY)
        assert decision is None
        assert evidence is not None and evidence.verdict != "promote"
    assert evidence.verdict == "worse"
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == champion  # type: ignore[union-attr]
    assert recent_decisions(platform.session_factory) == []
    assert _audit(platform) == [] and recorder.sent == []


def test_a_proven_challenger_is_promoted_audited_and_notified_then_rolled_back(
    platform: Platform, two_models: tuple[ModelRegistry, int, int]
) -> None:
    registry, champion, challenger = two_models
    recorder = Recorder()
    deps = _deps(platform, registry, recorder)
    _post_outcomes(platform, "champion", champion, 50, sd=0.5, seed=1)
    _post_outcomes(platform, "challenger", challenger, 50, sd=0.3, seed=2)
    evidence, decision = check_online_promotion(deps, platform.engine, POLICY)
    assert evidence is not None and evidence.verdict == "collecting" and decision is None

    _post_outcomes(platform, "champion", champion, 1500, sd=0.5, seed=3)
    _post_outcomes(platform, "challenger", challenger, 600, sd=0.3, seed=4)
    evidence, decision = check_online_promotion(deps, platform.engine, POLICY)
    assert evidence is not None and evidence.verdict == "promote"
    assert decision is not None and decision.promoted and decision.trigger == "online"
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == challenger  # type: ignore[union-attr]
    assert decision.details["evidence"]["n_challenger"] == 650
    promoted = [dict(m.payload) for m in platform.bus.replay(TOPIC_PROMOTED)]
    assert [p["model_version"] for p in promoted] == [challenger]

    rolled = rollback_champion(deps, actor="apikey:ops123", reason="revenue dipped")
    assert rolled.outcome == "rolled_back" and rolled.champion_version == champion
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == champion  # type: ignore[union-attr]
    assert _audit(platform) == [
        ("apikey:ops123", "pricing.rollback", f"{MODEL_NAME}/{champion}"),
        ("online-promotion", "pricing.promote", f"{MODEL_NAME}/{challenger}"),
    ]
    assert [n.title for n in recorder.sent] == [
        f"pricing model v{challenger} promoted to champion",
        f"pricing model rolled back to v{champion}",
    ]
    assert [d.outcome for d in recent_decisions(platform.session_factory)] == [
        "rolled_back",
        "promoted",
    ]


def test_an_approved_operator_promotes_and_is_audited_by_name(
    platform: Platform, two_models: tuple[ModelRegistry, int, int]
) -> None:
    registry, champion, challenger = two_models
    recorder = Recorder()
    deps = _deps(platform, registry, recorder)
    with pytest.raises(PromotionError):
        approve_promotion(deps, champion, actor="apikey:ops123")  # already champion
    with pytest.raises(PromotionError):
        approve_promotion(deps, None, actor=" ")
    decision = approve_promotion(deps, None, actor="apikey:ops123", reason="canary looked fine")
    assert decision.trigger == "approved" and decision.challenger_version == challenger
    assert decision.reason == "approved by apikey:ops123: canary looked fine"
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == challenger  # type: ignore[union-attr]
    assert _audit(platform) == [
        ("apikey:ops123", "pricing.promote", f"{MODEL_NAME}/{challenger}"),
    ]
    assert len(recorder.sent) == 1 and recorder.sent[0].fields["actor"] == "apikey:ops123"
