"""Conversation analytics: topic clusters, intent transitions, outcome rates, sentiment per day.

A conversation counts as resolved on a day when the customer said so that day (a message the
NLU reads as thanks / confirmation, or the "solved" button: ``workspace.CONFIRM_INTENTS`` and
``CONFIRM_BUTTONS``) or answered the satisfaction survey with 4 or 5 of 5; who spoke last says
nothing about it.

The functions over texts and labels are pure; :func:`daily_report` reads one UTC day from the
database (decrypting message bodies in memory only, never logging them) and the ``*_png``
functions draw the report with matplotlib's Agg backend.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant.tables import ChatMessage, CsatAnswer, Handoff
from ssmas.assistant.workspace import CONFIRM_BUTTONS, CONFIRM_INTENTS, CSAT_SATISFIED
from ssmas.core.security import PiiCipher

SENTIMENT_SCORE = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
# Words of the support domain that general stop lists drop ("cuenta" is also a form of
# "contar"; "order" and "help" are English function words there) but that name topics here.
DOMAIN_TERMS = frozenset({"cuenta", "cuentas", "order", "help", "pago", "work", "report"})
TREND_DAYS = 14


class Cluster(BaseModel):
    label: int
    size: int
    top_terms: list[str]
    members: list[int]  # indices into the input texts


class Clustering(BaseModel):
    k: int
    silhouette: float | None
    clusters: list[Cluster]


class Outcome(BaseModel):
    """What happened to one conversation: escalated to a human, and whether the customer
    confirmed it resolved (in words, with the button, or a CSAT of 4-5)."""

    escalated: bool
    resolved: bool
    csat: int | None = None


class Rates(BaseModel):
    conversations: int
    resolution_rate: float
    escalation_rate: float
    csat_answers: int = 0
    csat_mean: float | None = None


class DailySentiment(BaseModel):
    day: date
    messages: int
    positive: int
    neutral: int
    negative: int
    mean_score: float  # positive = 1, neutral = 0, negative = -1


class DailyReport(BaseModel):
    day: date
    conversations: int
    inbound_messages: int
    outbound_messages: int
    rates: Rates
    clustering: Clustering
    transitions: dict[str, dict[str, int]]
    sentiment: list[DailySentiment]  # the TREND_DAYS days ending at ``day``


@functools.cache
def stop_words() -> frozenset[str]:
    """English (scikit-learn's list) and Spanish (stopwords-iso) function words, minus the
    domain's topic words: what a cluster is never labelled with."""
    import stopwordsiso
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    spanish = {w for w in stopwordsiso.stopwords("es") if w.isalpha()}
    return frozenset((set(ENGLISH_STOP_WORDS) | spanish) - DOMAIN_TERMS)


def distinctive_terms(
    matrix: Any, labels: Sequence[int], label: int, terms: Sequence[str], top_n: int
) -> list[str]:
    """The terms that set cluster ``label`` apart: mean TF-IDF inside it minus mean outside
    (a term frequent everywhere scores near zero however frequent it is)."""
    import numpy as np

    inside = np.array([lab == label for lab in labels])
    mean_in = np.asarray(matrix[inside].mean(axis=0)).ravel()
    outside = ~inside
    mean_out = (
        np.asarray(matrix[outside].mean(axis=0)).ravel()
        if outside.any()
        else np.zeros_like(mean_in)
    )
    score = mean_in - mean_out
    order = np.argsort(-score, kind="stable")
    return [str(terms[i]) for i in order[:top_n] if score[i] > 0]


FIT_MAX = 2000  # documents KMeans is fitted on (and the silhouette scored on); all are assigned


def cluster_texts(
    texts: Sequence[str],
    *,
    k_min: int = 2,
    k_max: int = 6,
    top_n: int = 5,
    seed: int = 0,
    fit_max: int = FIT_MAX,
) -> Clustering:
    """TF-IDF + KMeans; k is the silhouette-best value in ``[k_min, k_max]`` (capped by size).
    Spanish and English stop words are left out, and each cluster is labelled by its
    distinctive terms (``distinctive_terms``).

    A busy day's many conversations cost what ``fit_max`` of them do: KMeans is fitted, and
    the silhouette (quadratic in its points) scored, on an even sample of ``fit_max``; every
    document is then assigned to its nearest centre, so the cluster sizes count them all."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import silhouette_score

    docs = [t.strip() for t in texts]
    if not any(docs):
        return Clustering(k=0, silhouette=None, clusters=[])
    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        max_features=5000,
        token_pattern=r"(?u)\b\w\w+\b",
        stop_words=sorted(stop_words()),
        strip_accents=None,
    )
    try:
        matrix = vectorizer.fit_transform(docs)
    except ValueError:  # only stop words / one-letter tokens
        return Clustering(k=0, silhouette=None, clusters=[])
    terms = vectorizer.get_feature_names_out()
    distinct = matrix.shape[0]
    upper = min(k_max, distinct - 1)
    best: tuple[float, int, list[int], object] | None = None
    step = -(-distinct // fit_max)  # ceil: an even sample of at most fit_max rows
    sample = matrix[::step] if step > 1 else matrix
    upper = min(upper, sample.shape[0] - 1)
    for k in range(max(2, k_min), upper + 1):
        with warnings.catch_warnings():  # duplicate documents: fewer distinct points than k
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = KMeans(n_clusters=k, n_init=5, random_state=seed).fit(sample)
        sample_labels = [int(x) for x in model.labels_]
        if len(set(sample_labels)) < 2:
            continue
        score = float(silhouette_score(sample, sample_labels, metric="cosine"))
        labels = sample_labels if step == 1 else [int(x) for x in model.predict(matrix)]
        if best is None or score > best[0]:
            best = (score, k, labels, model.cluster_centers_)
    if best is None:
        centroid = matrix.mean(axis=0).A1
        top = [str(terms[i]) for i in centroid.argsort()[::-1][:top_n] if centroid[i] > 0]
        only = Cluster(label=0, size=distinct, top_terms=top, members=list(range(distinct)))
        return Clustering(k=1, silhouette=None, clusters=[only])
    score, k, labels, _centers = best
    clusters = []
    for label in range(k):
        top = distinctive_terms(matrix, labels, label, terms, top_n)
        members = [i for i, lab in enumerate(labels) if lab == label]
        clusters.append(Cluster(label=label, size=len(members), top_terms=top, members=members))
    clusters.sort(key=lambda c: -c.size)
    return Clustering(k=k, silhouette=round(score, 4), clusters=clusters)


def intent_transitions(sequences: Sequence[Sequence[str | None]]) -> dict[str, dict[str, int]]:
    """Counts of intent → next intent within each conversation (missing intents are skipped)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for sequence in sequences:
        labels = [s for s in sequence if s]
        for current, following in pairwise(labels):
            counts[current][following] += 1
    return {src: dict(sorted(dst.items())) for src, dst in sorted(counts.items())}


def outcome_rates(outcomes: Sequence[Outcome]) -> Rates:
    """Shares of conversations resolved and escalated (0 when there are none)."""
    total = len(outcomes)
    if total == 0:
        return Rates(conversations=0, resolution_rate=0.0, escalation_rate=0.0)
    scores = [o.csat for o in outcomes if o.csat is not None]
    return Rates(
        conversations=total,
        resolution_rate=sum(o.resolved for o in outcomes) / total,
        escalation_rate=sum(o.escalated for o in outcomes) / total,
        csat_answers=len(scores),
        csat_mean=round(sum(scores) / len(scores), 2) if scores else None,
    )


def confirms(message: ChatMessage) -> bool:
    """Whether an inbound message is the customer saying the problem is solved."""
    reply_id = (message.meta or {}).get("reply_id")
    return message.intent in CONFIRM_INTENTS or reply_id in CONFIRM_BUTTONS


def sentiment_by_day(
    labels: Sequence[tuple[datetime, str | None]], *, start: date, end: date
) -> list[DailySentiment]:
    """One row per UTC day in ``[start, end]``; unlabelled messages are ignored."""
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for at, label in labels:
        if label in SENTIMENT_SCORE:
            per_day[at.astimezone(UTC).date()][label] += 1
    rows = []
    day = start
    while day <= end:
        c = per_day.get(day, Counter())
        n = sum(c.values())
        mean = sum(SENTIMENT_SCORE[k] * v for k, v in c.items()) / n if n else 0.0
        rows.append(
            DailySentiment(
                day=day,
                messages=n,
                positive=c["positive"],
                neutral=c["neutral"],
                negative=c["negative"],
                mean_score=round(mean, 4),
            )
        )
        day += timedelta(days=1)
    return rows


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def daily_report(
    session_factory: sessionmaker[Session], cipher: PiiCipher, day: date
) -> DailyReport:
    """The report of one UTC day: conversations with messages that day and their outcomes."""
    start, end = _bounds(day)
    trend_start = start - timedelta(days=TREND_DAYS - 1)
    with session_factory() as session:
        rows = session.scalars(
            sa.select(ChatMessage)
            .where(ChatMessage.created_at >= start, ChatMessage.created_at < end)
            .order_by(ChatMessage.conversation_id, ChatMessage.created_at, ChatMessage.id)
        ).all()
        by_conv: dict[int, list[ChatMessage]] = defaultdict(list)
        for row in rows:
            by_conv[row.conversation_id].append(row)
        ids = sorted(by_conv)
        csat: dict[int, int] = {}
        answered = session.execute(
            sa.select(CsatAnswer.conversation_id, CsatAnswer.score)
            .where(
                CsatAnswer.conversation_id.in_(ids),
                CsatAnswer.answered_at >= start,
                CsatAnswer.answered_at < end,
            )
            .order_by(CsatAnswer.answered_at)
        ).tuples()
        for conversation_id, score in answered:
            if score is not None:
                csat[conversation_id] = score  # the day's last answer
        escalated = set(
            session.scalars(
                sa.select(Handoff.conversation_id).where(
                    Handoff.conversation_id.in_(ids), Handoff.opened_at < end
                )
            ).all()
        )
        trend = session.execute(
            sa.select(ChatMessage.created_at, ChatMessage.sentiment).where(
                ChatMessage.direction == "in",
                ChatMessage.created_at >= trend_start,
                ChatMessage.created_at < end,
            )
        ).all()
        texts = [
            " ".join(cipher.decrypt(m.body_enc) for m in by_conv[cid] if m.direction == "in")
            for cid in ids
        ]
    outcomes = [
        Outcome(
            escalated=cid in escalated,
            resolved=csat.get(cid, 0) >= CSAT_SATISFIED
            or any(m.direction == "in" and confirms(m) for m in by_conv[cid]),
            csat=csat.get(cid),
        )
        for cid in ids
    ]
    sequences = [[m.intent for m in by_conv[cid] if m.direction == "in"] for cid in ids]
    usable = [t for t in texts if t.strip()]
    clustering = (
        cluster_texts(usable) if len(usable) >= 3 else Clustering(k=0, silhouette=None, clusters=[])
    )
    return DailyReport(
        day=day,
        conversations=len(ids),
        inbound_messages=sum(1 for r in rows if r.direction == "in"),
        outbound_messages=sum(1 for r in rows if r.direction == "out"),
        rates=outcome_rates(outcomes),
        clustering=clustering,
        transitions=intent_transitions(sequences),
        sentiment=sentiment_by_day(
            [(at, label) for at, label in trend], start=trend_start.date(), end=day
        ),
    )


def _png(figure: object) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)  # type: ignore[attr-defined]
    return buffer.getvalue()


def sentiment_png(rows: Sequence[DailySentiment]) -> bytes:
    """Mean sentiment per day (line) over message counts (bars), as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.8))
    axis = figure.add_subplot()
    days = [r.day.isoformat()[5:] for r in rows]
    bars = axis.twinx()
    bars.bar(days, [r.messages for r in rows], color="#d0d7e2")
    bars.set_ylabel("messages")
    axis.set_zorder(bars.get_zorder() + 1)
    axis.patch.set_visible(False)
    axis.plot(days, [r.mean_score for r in rows], marker="o", color="#2a62c9")
    axis.set_ylim(-1.05, 1.05)
    axis.set_ylabel("mean sentiment")
    axis.tick_params(axis="x", labelrotation=45, labelsize=7)
    figure.tight_layout()
    return _png(figure)


def clusters_png(clustering: Clustering) -> bytes:
    """Cluster sizes labelled with their top terms, as a PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.8))
    axis = figure.add_subplot()
    labels = [", ".join(c.top_terms[:3]) or f"cluster {c.label}" for c in clustering.clusters]
    axis.barh(labels or ["no data"], [c.size for c in clustering.clusters] or [0], color="#2a62c9")
    axis.invert_yaxis()
    axis.set_xlabel("conversations")
    axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    return _png(figure)
