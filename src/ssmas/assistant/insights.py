"""The predictive parts of the assistant's analytics, each only when the data supports it.

- **Intent trends**: for every intent with enough messages over the last ``TREND_DAYS`` days,
  its daily counts, the Theil-Sen slope (messages per day, robust to a single odd day) and
  Kendall's tau against time with its p-value; an intent is *rising* or *falling* only when
  ``p < 0.05``, else *steady*. Fewer than ``MIN_TREND_MESSAGES`` messages: no verdict.
- **Escalation risk**: a logistic regression fitted on the conversations of the last
  ``RISK_DAYS`` days (did a person have to take over?) from what the bot sees before it
  decides: turns so far, share of negative messages, the lowest and the mean NLU confidence,
  the longest run of negative messages. It scores the conversations still with the bot. It is
  fitted only with at least ``MIN_RISK_CONVERSATIONS`` conversations and ``MIN_RISK_EVENTS``
  escalations among them, and reports its cross-validated AUC so a reader can judge it;
  otherwise the page says there is not enough history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant.tables import STATE_BOT, ChatMessage, Conversation, Handoff

TREND_DAYS = 14
MIN_TREND_MESSAGES = 20
TREND_ALPHA = 0.05
RISK_DAYS = 30
MIN_RISK_CONVERSATIONS = 40
MIN_RISK_EVENTS = 8
RISK_FEATURES = ("turns", "negative_share", "min_confidence", "mean_confidence", "negative_run")


class IntentTrend(BaseModel):
    intent: str
    total: int
    daily: list[int]
    slope_per_day: float
    tau: float
    p_value: float
    direction: str  # rising | falling | steady


class AtRisk(BaseModel):
    conversation_id: int
    risk: float
    turns: int
    negative_share: float


class RiskModel(BaseModel):
    fitted: bool
    reason: str
    conversations: int
    escalations: int
    cv_auc: float | None = None
    coefficients: dict[str, float] = {}
    at_risk: list[AtRisk] = []


class Insights(BaseModel):
    day: date
    trends: list[IntentTrend]
    risk: RiskModel


def trend_of(intent: str, daily: Sequence[int]) -> IntentTrend:
    """Theil-Sen slope and Kendall's tau of one intent's daily counts."""
    from scipy import stats

    days = np.arange(len(daily), dtype=float)
    counts = np.asarray(daily, dtype=float)
    if np.ptp(counts) == 0:
        slope, tau, p = 0.0, 0.0, 1.0
    else:
        slope = float(stats.theilslopes(counts, days)[0])
        result = stats.kendalltau(days, counts)
        tau, p = float(result.statistic), float(result.pvalue)
    direction = "steady"
    if p < TREND_ALPHA:
        direction = "rising" if tau > 0 else "falling"
    return IntentTrend(
        intent=intent,
        total=int(counts.sum()),
        daily=[int(c) for c in daily],
        slope_per_day=round(slope, 3),
        tau=round(tau, 4),
        p_value=round(p, 4),
        direction=direction,
    )


def intent_trends(rows: Sequence[tuple[datetime, str | None]], end: date) -> list[IntentTrend]:
    """Trends of every intent with at least ``MIN_TREND_MESSAGES`` messages in the
    ``TREND_DAYS`` days ending at ``end`` (``rows``: inbound message times and intents)."""
    start = end - timedelta(days=TREND_DAYS - 1)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * TREND_DAYS)
    for at, intent in rows:
        offset = (at.date() - start).days
        if intent and 0 <= offset < TREND_DAYS:
            counts[intent][offset] += 1
    found = [trend_of(i, d) for i, d in counts.items() if sum(d) >= MIN_TREND_MESSAGES]
    order = {"rising": 0, "falling": 1, "steady": 2}
    return sorted(found, key=lambda t: (order[t.direction], -t.total, t.intent))


def conversation_features(
    messages: Sequence[tuple[str | None, float | None]],
) -> list[float]:
    """``RISK_FEATURES`` of one conversation from its inbound (sentiment, confidence) pairs."""
    turns = len(messages)
    negative = [s == "negative" for s, _ in messages]
    confidences = [c for _, c in messages if c is not None] or [1.0]
    run = best = 0
    for flag in negative:
        run = run + 1 if flag else 0
        best = max(best, run)
    return [
        float(turns),
        sum(negative) / turns if turns else 0.0,
        float(min(confidences)),
        float(np.mean(confidences)),
        float(best),
    ]


def fit_risk(
    features: np.ndarray, escalated: np.ndarray
) -> tuple[object | None, float | None, str]:
    """A standardised logistic regression and its 5-fold cross-validated AUC, or why not."""
    n, events = len(escalated), int(escalated.sum())
    if n < MIN_RISK_CONVERSATIONS:
        return None, None, f"{n} conversations (needs {MIN_RISK_CONVERSATIONS})"
    if events < MIN_RISK_EVENTS or n - events < MIN_RISK_EVENTS:
        return None, None, f"{events} escalations of {n} (needs {MIN_RISK_EVENTS} of each kind)"
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    auc = float(np.mean(cross_val_score(model, features, escalated, cv=folds, scoring="roc_auc")))
    model.fit(features, escalated)
    return model, round(auc, 4), "fitted"


def insights(session_factory: sessionmaker[Session], day: date, *, top: int = 20) -> Insights:
    """Intent trends up to ``day`` and the escalation-risk model over the last ``RISK_DAYS``."""
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    trend_start = end - timedelta(days=TREND_DAYS)
    risk_start = end - timedelta(days=RISK_DAYS)
    with session_factory() as session:
        trend_rows = session.execute(
            sa.select(ChatMessage.created_at, ChatMessage.intent).where(
                ChatMessage.direction == "in",
                ChatMessage.created_at >= trend_start,
                ChatMessage.created_at < end,
            )
        ).all()
        rows = session.execute(
            sa.select(ChatMessage.conversation_id, ChatMessage.sentiment, ChatMessage.confidence)
            .where(
                ChatMessage.direction == "in",
                ChatMessage.created_at >= risk_start,
                ChatMessage.created_at < end,
            )
            .order_by(ChatMessage.conversation_id, ChatMessage.id)
        ).all()
        escalated = set(
            session.scalars(sa.select(Handoff.conversation_id).where(Handoff.opened_at < end))
        )
        with_bot = set(
            session.scalars(sa.select(Conversation.id).where(Conversation.state == STATE_BOT))
        )
    trends = intent_trends([(at, intent) for at, intent in trend_rows], day)
    by_conv: dict[int, list[tuple[str | None, float | None]]] = defaultdict(list)
    for cid, sentiment, confidence in rows:
        by_conv[cid].append((sentiment, confidence))
    ids = sorted(by_conv)
    if not ids:
        return Insights(
            day=day,
            trends=trends,
            risk=RiskModel(
                fitted=False, reason="no conversations yet", conversations=0, escalations=0
            ),
        )
    x = np.array([conversation_features(by_conv[c]) for c in ids])
    y = np.array([c in escalated for c in ids], dtype=int)
    model, auc, reason = fit_risk(x, y)
    risk = RiskModel(
        fitted=model is not None,
        reason=reason,
        conversations=len(ids),
        escalations=int(y.sum()),
        cv_auc=auc,
    )
    if model is not None:
        coefs = model[-1].coef_[0]  # type: ignore[index]
        risk.coefficients = {
            n: round(float(c), 4) for n, c in zip(RISK_FEATURES, coefs, strict=True)
        }
        open_ids = [i for i, c in enumerate(ids) if c in with_bot and c not in escalated]
        if open_ids:
            scores = model.predict_proba(x[open_ids])[:, 1]  # type: ignore[attr-defined]
            ranked = sorted(zip(open_ids, scores, strict=True), key=lambda p: -p[1])[:top]
            risk.at_risk = [
                AtRisk(
                    conversation_id=ids[i],
                    risk=round(float(s), 4),
                    turns=int(x[i][0]),
                    negative_share=round(float(x[i][1]), 3),
                )
                for i, s in ranked
            ]
    return Insights(day=day, trends=trends, risk=risk)
