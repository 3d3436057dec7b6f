"""Pure analytics over a small synthetic corpus: clusters, transitions, rates, daily sentiment."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ssmas.assistant.analytics import (
    Clustering,
    Outcome,
    cluster_texts,
    clusters_png,
    intent_transitions,
    outcome_rates,
    sentiment_by_day,
    sentiment_png,
)

REFUNDS = [
    "I want a refund for my broken order",
    "refund please, the order arrived broken",
    "how do I get a refund for this order",
    "my order is broken and I need a refund",
]
PASSWORDS = [
    "I forgot my password and cannot log in",
    "reset my password, login fails",
    "password reset link does not work for login",
    "cannot login, need a new password",
]
SHIPPING = [
    "where is my package delivery tracking",
    "tracking number for the package delivery",
    "package delivery is late, tracking shows nothing",
    "delivery tracking of my package please",
]


def test_clusters_separate_obviously_different_topics() -> None:
    texts = REFUNDS + PASSWORDS + SHIPPING
    result = cluster_texts(texts)
    assert result.k == 3
    assert result.silhouette is not None and result.silhouette > 0
    groups = sorted(sorted(c.members) for c in result.clusters)
    assert groups == [list(range(0, 4)), list(range(4, 8)), list(range(8, 12))]
    terms = {frozenset(c.top_terms[:2]) for c in result.clusters}
    assert any("refund" in t for t in terms)
    assert any("password" in t for t in terms)
    assert any({"package", "delivery", "tracking"} & t for t in terms)


def test_clusters_are_labelled_by_distinctive_words_not_stop_words() -> None:
    spanish = [
        "¿Cuándo me van a pagar la factura de este mes?",
        "No me ha llegado el pago de la factura",
        "Necesito la factura del pago de marzo",
        "El pago de la factura está retrasado",
    ]
    english = [
        "The ads.txt file is not found on my site",
        "How do I update the ads.txt file on the site",
        "My ads.txt file has an error on the site",
        "Where do I put the ads.txt file for my site",
    ]
    result = cluster_texts(spanish + english)
    assert result.k == 2
    words = {w for c in result.clusters for w in c.top_terms}
    assert not words & {"de", "la", "el", "me", "the", "is", "on", "my", "do", "for"}
    by_first = {c.members[0]: c.top_terms for c in result.clusters}
    assert {"factura", "pago"} <= set(by_first[0][:3])
    assert {"ads", "txt", "file", "site"} & set(by_first[4][:2])
    # a word in every text of both clusters is not distinctive of either
    shared = cluster_texts([t + " ayuda" for t in spanish + english])
    assert all("ayuda" not in c.top_terms for c in shared.clusters)


def test_clustering_is_deterministic_and_handles_degenerate_input() -> None:
    texts = REFUNDS + PASSWORDS
    assert cluster_texts(texts) == cluster_texts(texts)
    assert cluster_texts(["", "  "]) == Clustering(k=0, silhouette=None, clusters=[])
    same = cluster_texts(["refund order"] * 4)
    assert same.k == 1 and same.clusters[0].size == 4


def test_intent_transitions_are_exact() -> None:
    sequences: list[list[str | None]] = [
        ["greet", "refund", "refund", "goodbye"],
        ["greet", None, "refund"],
        ["goodbye"],
        [],
    ]
    assert intent_transitions(sequences) == {
        "greet": {"refund": 2},
        "refund": {"goodbye": 1, "refund": 1},
    }


def test_rates_are_exact() -> None:
    outcomes = [
        Outcome(escalated=False, resolved=True),
        Outcome(escalated=False, resolved=True),
        Outcome(escalated=True, resolved=True),
        Outcome(escalated=True, resolved=False),
        Outcome(escalated=False, resolved=False),
    ]
    rates = outcome_rates(outcomes)
    assert rates.conversations == 5
    assert rates.resolution_rate == pytest.approx(0.6)
    assert rates.escalation_rate == pytest.approx(0.4)
    empty = outcome_rates([])
    assert (empty.resolution_rate, empty.escalation_rate) == (0.0, 0.0)


def test_sentiment_by_day_fills_every_day() -> None:
    labels = [
        (datetime(2026, 3, 1, 9, tzinfo=UTC), "positive"),
        (datetime(2026, 3, 1, 10, tzinfo=UTC), "negative"),
        (datetime(2026, 3, 1, 11, tzinfo=UTC), "negative"),
        (datetime(2026, 3, 3, 23, 59, tzinfo=UTC), "neutral"),
        (datetime(2026, 3, 3, 12, tzinfo=UTC), None),
    ]
    rows = sentiment_by_day(labels, start=date(2026, 3, 1), end=date(2026, 3, 3))
    assert [r.day.day for r in rows] == [1, 2, 3]
    assert (rows[0].positive, rows[0].negative, rows[0].messages) == (1, 2, 3)
    assert rows[0].mean_score == pytest.approx(-1 / 3, abs=1e-4)
    assert rows[1].messages == 0 and rows[1].mean_score == 0.0
    assert (rows[2].neutral, rows[2].mean_score) == (1, 0.0)
    png = sentiment_png(rows)
    assert png.startswith(b"\x89PNG")
    assert clusters_png(cluster_texts(REFUNDS + PASSWORDS)).startswith(b"\x89PNG")
    assert clusters_png(Clustering(k=0, silhouette=None, clusters=[])).startswith(b"\x89PNG")


def test_a_sample_fits_the_clusters_and_every_text_is_assigned() -> None:
    texts = REFUNDS + PASSWORDS + SHIPPING
    result = cluster_texts(texts, fit_max=6)  # fitted on every other text
    assert result.k == 3
    groups = sorted(sorted(c.members) for c in result.clusters)
    assert groups == [list(range(0, 4)), list(range(4, 8)), list(range(8, 12))]
