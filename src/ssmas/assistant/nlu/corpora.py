"""Readers for the public NLU corpora in ``shared/data`` and the seeded splits every model uses.

Each reader returns a ``Corpus`` (texts and labels). ``split`` is stratified and seeded, and the
validation part is never seen by training, so the figures in the benchmark are honest.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

OUT_OF_SCOPE = "out_of_scope"
SEED = 13
VAL_FRACTION = 0.2
# Customer-support intents taken from Bitext beside Banking77; those Banking77 already has take
# its label, so one meaning never has two competing classes.
BITEXT_INTENTS = {
    "cancel_order": "cancel_order",
    "complaint": "complaint",
    "contact_human_agent": "contact_human_agent",
    "contact_customer_service": "contact_customer_service",
    "get_invoice": "get_invoice",
    "track_order": "track_order",
    "get_refund": "request_refund",
    "track_refund": "refund_not_showing_up",
    "delete_account": "terminate_account",
    "recover_password": "passcode_forgotten",
}
BITEXT_PER_INTENT = 100


class CorpusMissing(FileNotFoundError):
    """The shared data folder (or one file of it) is not where it should be."""


@dataclass(frozen=True)
class Corpus:
    """Parallel lists of utterances and their labels."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: Corpus) -> Corpus:
        return Corpus(self.texts + other.texts, self.labels + other.labels)

    def where(self, keep: Iterable[bool]) -> Corpus:
        pairs = [(t, y) for t, y, k in zip(self.texts, self.labels, keep, strict=True) if k]
        return Corpus([t for t, _ in pairs], [y for _, y in pairs])


def data_root(shared_data: Path | None = None) -> Path:
    """``shared_data`` (``settings.shared_data``, ``SSMAS_SHARED_DATA``) or ``shared/data``
    beside the repository."""
    if shared_data is not None:
        return shared_data
    return Path(__file__).resolve().parents[5] / "shared" / "data"


def _path(root: Path | None, *parts: str) -> Path:
    path = (root or data_root()).joinpath(*parts)
    if not path.is_file():
        raise CorpusMissing(f"NLU corpus not found: {path} (set SSMAS_SHARED_DATA)")
    return path


def banking77(root: Path | None = None) -> Corpus:
    with _path(root, "intents", "banking77", "train.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return Corpus([r["text"] for r in rows], [r["category"] for r in rows])


def bitext_support(root: Path | None = None, per_intent: int = BITEXT_PER_INTENT) -> Corpus:
    """A seeded sample of the Bitext customer-service utterances for ``BITEXT_INTENTS``."""
    path = _path(root, "intents", "bitext", "bitext_8k_customer_service.csv")
    with path.open(encoding="utf-8-sig") as fh:
        rows = [r for r in csv.DictReader(fh) if r["intent"] in BITEXT_INTENTS]
    rng = np.random.default_rng(SEED)
    texts: list[str] = []
    labels: list[str] = []
    for intent in BITEXT_INTENTS:
        mine = [r["utterance"] for r in rows if r["intent"] == intent]
        for i in sorted(rng.permutation(len(mine))[:per_intent]):
            texts.append(mine[i])
            labels.append(BITEXT_INTENTS[intent])
    return Corpus(texts, labels)


def clinc150(part: str, root: Path | None = None) -> Corpus:
    """CLINC150 ``train`` or ``val`` with its out-of-scope part labelled ``out_of_scope``."""
    with _path(root, "intents", "clinc150", "data_train_val.json").open(encoding="utf-8") as fh:
        data = json.load(fh)
    rows = data[part] + data[f"oos_{part}"]
    return Corpus([r[0] for r in rows], [OUT_OF_SCOPE if r[1] == "oos" else r[1] for r in rows])


def tod_es(root: Path | None = None) -> Corpus:
    """Spanish task-oriented utterances, train and eval files together (``split`` divides them)."""
    texts: list[str] = []
    labels: list[str] = []
    for name in ("train-es.tsv", "eval-es.tsv"):
        with _path(root, "intents", "tod_es", name).open(encoding="utf-8") as fh:
            for line in fh:
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 3 and cols[2].strip():
                    texts.append(cols[2].strip())
                    labels.append(cols[0].replace("/", ":"))
    return Corpus(texts, labels)


def tweets_es(root: Path | None = None) -> Corpus:
    path = _path(root, "sentiment", "airline_tweets_es_train.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return Corpus([r["text"] for r in rows], [r["airline_sentiment"] for r in rows])


def support_seeds(language: str) -> Corpus:
    """Hand-written support utterances shipped with the package (``data/support_intents.json``)."""
    raw = (
        resources.files("ssmas.assistant.data")
        .joinpath("support_intents.json")
        .read_text(encoding="utf-8")
    )
    seeds: dict[str, dict[str, list[str]]] = json.loads(raw)
    texts: list[str] = []
    labels: list[str] = []
    for intent, by_language in seeds.items():
        for text in by_language.get(language, []):
            texts.append(text)
            labels.append(intent)
    return Corpus(texts, labels)


def split(
    corpus: Corpus, val_fraction: float = VAL_FRACTION, seed: int = SEED
) -> tuple[Corpus, Corpus]:
    """Stratified, seeded train / validation split; classes too small to split stay in train."""
    rng = np.random.default_rng(seed)
    labels = np.array(corpus.labels)
    is_val = np.zeros(len(labels), dtype=bool)
    for label in sorted(set(corpus.labels)):
        members = np.flatnonzero(labels == label)
        n_val = round(len(members) * val_fraction)
        if len(members) >= 5 and n_val > 0:
            is_val[rng.permutation(members)[:n_val]] = True
    return corpus.where(~is_val), corpus.where(is_val)
