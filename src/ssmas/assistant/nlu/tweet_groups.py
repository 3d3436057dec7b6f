"""Near-duplicate tweets, grouped so a validation split never has a copy of a training tweet.

The airline tweet corpus holds retweets and campaign tweets many times over (one promotional
tweet 129 times), often with different labels. A plain random split puts copies on both sides
and measures memory, not generalisation; ``group_split`` keeps every group on one side.
Groups are the connected components of "cosine >= 0.9 on character 3-5-grams of the normalised
tweet" (URLs and mentions are placeholders, so copies differing only in a link or a handle
match).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedGroupKFold

from ssmas.assistant.nlu.corpora import SEED, VAL_FRACTION, Corpus
from ssmas.assistant.nlu.sentiment import normalise_tweet

NEAR_COPY = 0.9


def near_duplicate_groups(texts: list[str], threshold: float = NEAR_COPY) -> NDArray[np.int64]:
    """A group id per text; texts with no near copy get a group of their own."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    x = vectorizer.fit_transform([normalise_tweet(t) for t in texts])
    similar = (x @ x.T) >= threshold
    _, labels = connected_components(similar, directed=False)
    return np.asarray(labels, dtype=np.int64)


def group_split(
    corpus: Corpus, val_fraction: float = VAL_FRACTION, seed: int = SEED
) -> tuple[Corpus, Corpus]:
    """Train / validation parts, stratified by label, near-duplicate groups kept whole."""
    groups = near_duplicate_groups(corpus.texts)
    n_splits = max(2, round(1 / val_fraction))
    labels = np.array(corpus.labels)
    if len(set(groups.tolist())) < n_splits or min(Counter(corpus.labels).values()) < n_splits:
        raise ValueError("too few tweets or groups for a grouped split")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, val_index = next(folds.split(np.zeros(len(labels)), labels, groups))
    is_val = np.zeros(len(labels), dtype=bool)
    is_val[val_index] = True
    return corpus.where(~is_val), corpus.where(is_val)


def label_noise(corpus: Corpus, polar_only: bool = False) -> dict[str, float]:
    """How much the labels of near-duplicate tweets disagree, and the accuracy ceiling it sets.

    Within a group of copies no model can do better than the group's majority label, so the
    share of grouped tweets carrying their group's majority label bounds any model's accuracy on
    them. ``polar_only`` looks at negative and positive tweets only (the binary task).
    """
    if polar_only:
        corpus = corpus.where(y != "neutral" for y in corpus.labels)
    groups = near_duplicate_groups(corpus.texts)
    labels = np.array(corpus.labels)
    sizes = np.bincount(groups)
    in_groups = conflicting = majority = 0
    for group in np.flatnonzero(sizes > 1):
        counts = Counter(labels[groups == group].tolist())
        in_groups += int(sizes[group])
        majority += counts.most_common(1)[0][1]
        if len(counts) > 1:
            conflicting += int(sizes[group])
    n = max(len(corpus), 1)
    return {
        "grouped_share": in_groups / n,
        "conflicting_share": conflicting / n,
        "grouped_ceiling": majority / in_groups if in_groups else 1.0,
        "corpus_ceiling": (len(corpus) - in_groups + majority) / n,
    }
