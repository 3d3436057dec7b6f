"""Intent cascade: choose the sparse-only confidence gate on the TRAINING examples, then report
the held-out figures with and without it.

The English intent model reads TF-IDF and MiniLM embeddings; its sparse-only partner
(``TextClassifier.sparse_svm_``) reads TF-IDF alone. Through the cascade a message whose
partner confidence reaches the gate skips MiniLM. The gate is chosen by 5-fold stratified
cross-validation on the domain's English training examples (the held-out test set is not
read for it): for each gate, in-scope accuracy, out-of-scope recall and the share of messages
still encoded, against "always embed". The chosen gate is the lowest whose cross-validated
accuracy and recall are each within ``--tolerance`` of always embedding. Then the NLU is
trained as ``ssmas assistant train`` trains it and ``assistant_nlu.domain_figures`` (the
held-out test set) runs with the gate off and on, so the cost of the choice is shown, not
chosen on.

Usage: .venv/bin/python benchmarks/assistant_cascade.py [--tolerance 0.005] [--no-held-out]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from sklearn.model_selection import StratifiedKFold

from _report import write_result
from assistant_nlu import domain_figures, held_out
from ssmas.assistant.dialogue import ANSWER_SCORE, ASK_SCORE, STRONG_SCORE
from ssmas.assistant.kb import KbHit, KnowledgeIndex, knowledge_index
from ssmas.assistant.kb.index import DENSE_LANGUAGES
from ssmas.assistant.nlu import corpora
from ssmas.assistant.nlu.analyser import NLU
from ssmas.assistant.nlu.bundle import read_bundle
from ssmas.assistant.nlu.corpora import OUT_OF_SCOPE
from ssmas.assistant.nlu.domain import Domain, Example, load_domain
from ssmas.assistant.nlu.training import (
    EMBED_LANGUAGES,
    INTENT_OOS_THRESHOLD,
    find_encoder,
    fit_intents,
    train_assistant,
)
from ssmas.settings import Settings

KB_GATES = [round(g, 2) for g in np.arange(0.30, 1.01, 0.05)]
GATES = [round(g, 2) for g in (*np.arange(0.30, 0.9, 0.05), *np.arange(0.90, 1.0, 0.01))]


def _label(proba_row: np.ndarray, classes: list[str]) -> str:
    best = int(proba_row.argmax())
    label = classes[best]
    return OUT_OF_SCOPE if proba_row[best] < INTENT_OOS_THRESHOLD else label


def cross_validate(settings: Settings, console: Console) -> dict[str, dict[str, float]]:
    """Per gate (and ``always``): in-scope accuracy, out-of-scope recall, share encoded."""
    domain = load_domain()
    encoder = find_encoder(settings, True)
    language = EMBED_LANGUAGES[0]
    examples = domain.classified_examples(language)
    texts = [e.text for e in examples]
    truth = [e.intent for e in examples]
    full_conf: list[np.ndarray] = [np.empty(0)] * len(texts)
    sparse_conf: list[np.ndarray] = [np.empty(0)] * len(texts)
    classes: list[str] = []
    folds = StratifiedKFold(5, shuffle=True, random_state=corpora.SEED)
    for k, (train, val) in enumerate(folds.split(texts, truth)):
        console.log(f"fold {k + 1}/5: {len(train)} training, {len(val)} validation examples")
        model = fit_intents([examples[i] for i in train], encoder, language)
        classes = model.classes_
        val_texts = [texts[i] for i in val]
        for i, full, sparse in zip(
            val, model.predict_proba(val_texts), model.sparse_proba(val_texts), strict=True
        ):
            full_conf[i], sparse_conf[i] = full, sparse
    save = getattr(encoder, "save", None)
    if callable(save):
        save()
    inscope = [i for i, y in enumerate(truth) if y != OUT_OF_SCOPE]
    oos = [i for i, y in enumerate(truth) if y == OUT_OF_SCOPE]
    out: dict[str, dict[str, float]] = {}
    for gate in [None, *GATES]:
        chosen = [
            sparse_conf[i] if gate is not None and sparse_conf[i].max() >= gate else full_conf[i]
            for i in range(len(texts))
        ]
        labels = [_label(p, classes) for p in chosen]
        encoded = [gate is None or sparse_conf[i].max() < gate for i in range(len(texts))]
        out["always" if gate is None else f"{gate:.2f}"] = {
            "acc": float(np.mean([labels[i] == truth[i] for i in inscope])),
            "oos_recall": float(np.mean([labels[i] == OUT_OF_SCOPE for i in oos])),
            "encoded_share": float(np.mean(encoded)),
        }
    return out


def _decision(hits: list[KbHit]) -> tuple[int | None, int]:
    """What the dialogue does with the hits: which passage, and which of its thresholds the
    best score passes (3: answer, 2: answer without a response, 1: ask, 0: none)."""
    if not hits:
        return None, 0
    score = hits[0].score
    bucket = sum(score >= t for t in (ASK_SCORE, ANSWER_SCORE, STRONG_SCORE))
    return (id(hits[0].passage) if bucket else None), bucket


def kb_texts(examples: list[Example], domain: Domain) -> list[str]:
    """The examples the dialogue searches the knowledge base for (``answer`` intents, and
    out of scope)."""
    return [
        e.text
        for e in examples
        if e.intent == OUT_OF_SCOPE or domain.action_for(e.intent, None) == "answer"
    ]


def kb_agreement(
    index: KnowledgeIndex, encoder: Any, texts: list[str]
) -> dict[str, dict[str, float]]:
    """Per BM25 gate: share of texts whose decision through the cascade equals the hybrid
    one's, and share still encoded."""
    language = DENSE_LANGUAGES[0]
    hybrid = [_decision(index.search(t, language, encoder)) for t in texts]
    sparse = [_decision(index.search(t, language, None)) for t in texts]
    top = [max((h.bm25 for h in index.search(t, language, None, k=1)), default=0.0) for t in texts]
    out: dict[str, dict[str, float]] = {}
    for gate in KB_GATES:
        chosen = [s if b >= gate else h for s, h, b in zip(sparse, hybrid, top, strict=True)]
        out[f"{gate:.2f}"] = {
            "agreement": float(np.mean([c == h for c, h in zip(chosen, hybrid, strict=True)])),
            "encoded_share": float(np.mean([b < gate for b in top])),
        }
    return out


def choose_kb(agreement: dict[str, dict[str, float]], tolerance: float) -> float | None:
    fits = [float(g) for g, row in agreement.items() if row["agreement"] >= 1 - tolerance]
    return min(fits) if fits else None


def choose(cv: dict[str, dict[str, float]], tolerance: float) -> float | None:
    base = cv["always"]
    fits = [
        float(g)
        for g, row in cv.items()
        if g != "always"
        and row["acc"] >= base["acc"] - tolerance
        and row["oos_recall"] >= base["oos_recall"] - tolerance
    ]
    return min(fits) if fits else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=0.005)
    parser.add_argument("--no-held-out", action="store_true", help="cross-validation only")
    args = parser.parse_args()
    console = Console()
    load_before = os.getloadavg()[0]
    settings = Settings()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="ssmas-cascade-") as tmp:
        bench = settings.model_copy(update={"data_dir": Path(tmp) / "data"})
        bench.ensure_dirs()
        cv = cross_validate(bench, console)
        for gate, row in cv.items():
            console.print(
                f"gate {gate:>6}: acc {row['acc']:.4f}  oos recall {row['oos_recall']:.4f}"
                f"  encoded {row['encoded_share']:.3f}"
            )
        gate = choose(cv, args.tolerance)
        console.print(f"chosen gate (tolerance {args.tolerance}): {gate}")
        figures["cv"] = cv
        figures["chosen_gate"] = gate
        domain = load_domain()
        kb_encoder = find_encoder(bench, True)
        index = knowledge_index(bench, kb_encoder)
        train_kb = kb_texts(domain.classified_examples(EMBED_LANGUAGES[0]), domain)
        agreement = kb_agreement(index, kb_encoder, train_kb)
        for kb_gate, row in agreement.items():
            console.print(
                f"kb gate {kb_gate}: agreement {row['agreement']:.4f}"
                f"  encoded {row['encoded_share']:.3f}"
            )
        chosen_kb = choose_kb(agreement, args.tolerance)
        console.print(f"chosen kb gate ({len(train_kb)} training texts): {chosen_kb}")
        figures["kb_agreement"] = agreement
        figures["kb_chosen_gate"] = chosen_kb
        test_kb = kb_texts(held_out(domain, EMBED_LANGUAGES[0]), domain)
        if chosen_kb is not None:
            figures["kb_held_out"] = kb_agreement(index, kb_encoder, test_kb)[f"{chosen_kb:.2f}"]
            console.print(f"kb held out ({len(test_kb)} texts): {figures['kb_held_out']}")
        if not args.no_held_out:
            report = train_assistant(bench, register_model=False, root=None)
            bundle = read_bundle(report.path)
            assert bundle is not None
            nlu = NLU(bundle)
            model = bundle.intents[EMBED_LANGUAGES[0]]
            for name, use in (("always", None), ("cascade", gate)):
                model.cascade_gate = use
                measured, _ = domain_figures(nlu, console)
                keys = ("domain_intent_acc_es", "domain_intent_acc_en", "domain_oos_recall")
                figures[f"held_out_{name}"] = {k: round(measured[k], 4) for k in keys} | {
                    "slot_f1": round(measured["slot_f1"], 4)
                }
                console.print(name, figures[f"held_out_{name}"])
            english = [e.text for e in held_out(bundle.domain, EMBED_LANGUAGES[0])]
            confident = model.sparse_proba(english).max(axis=1) >= (gate or 2.0)
            figures["held_out_encoded_share_en"] = round(1 - float(np.mean(confident)), 4)
    figures["load_avg_1m_before"] = round(load_before, 2)
    figures["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    write_result(
        "assistant_cascade",
        figures,
        "English intent cascade: gate chosen by 5-fold stratified cross-validation on the "
        "domain's English training examples (lowest gate within the tolerance of always "
        f"embedding in accuracy and out-of-scope recall; tolerance {args.tolerance}); "
        "held_out_*: benchmarks/assistant_nlu.py's domain_figures on the held-out test set.",
    )


if __name__ == "__main__":
    main()
