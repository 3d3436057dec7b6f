"""NLU end to end on real files: train from a small cut of the shared corpora, save, load, analyse,
register in MLflow; language detection on held-out sentences of the full corpora."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ssmas.assistant.knowledge import KnowledgeBase
from ssmas.assistant.nlu import NluUnavailable, load_nlu, train_nlu
from ssmas.assistant.nlu.bundle import bundle_path
from ssmas.assistant.nlu.corpora import data_root
from ssmas.assistant.nlu.language import LanguageDetector
from ssmas.assistant.nlu.training import Splits, language_corpus
from ssmas.assistant.respond import answer_message
from ssmas.settings import Settings

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
)
BANKING = (
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "request_refund",
    "terminate_account",
)
TOD = ("alarm/set_alarm", "reminder/set_reminder", "weather/find")


def _cut_corpora(root: Path) -> Path:
    """A few classes of every corpus, same formats, so training takes seconds."""
    intents = root / "intents"
    (intents / "banking77").mkdir(parents=True)
    with (SHARED / "intents/banking77/train.csv").open(encoding="utf-8") as fh:
        every = list(csv.DictReader(fh))
    rows = [r for label in BANKING for r in [x for x in every if x["category"] == label][:50]]
    with (intents / "banking77/train.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    (intents / "bitext").mkdir()
    src = SHARED / "intents/bitext/bitext_8k_customer_service.csv"
    with src.open(encoding="utf-8-sig") as fh:
        keep = [r for r in csv.DictReader(fh) if r["intent"] in ("complaint", "cancel_order")]
    with (intents / "bitext" / src.name).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["flags", "utterance", "category", "intent"])
        writer.writeheader()
        writer.writerows(keep)
    (intents / "clinc150").mkdir()
    clinc = json.loads((SHARED / "intents/clinc150/data_train_val.json").read_text())
    small = {k: v[:40] for k, v in clinc.items()}
    (intents / "clinc150/data_train_val.json").write_text(json.dumps(small))
    (intents / "tod_es").mkdir()
    for name in ("train-es.tsv", "eval-es.tsv"):
        lines = (SHARED / "intents/tod_es" / name).read_text(encoding="utf-8").splitlines()
        picked = [line for line in lines if line.split("\t")[0] in TOD][:120]
        (intents / "tod_es" / name).write_text("\n".join(picked) + "\n", encoding="utf-8")
    (root / "sentiment").mkdir()
    tweets = (SHARED / "sentiment/airline_tweets_es_train.csv").read_text(encoding="utf-8")
    with (SHARED / "sentiment/airline_tweets_es_train.csv").open(encoding="utf-8") as fh:
        reader = list(csv.DictReader(fh))
    assert tweets
    with (root / "sentiment/airline_tweets_es_train.csv").open(
        "w", encoding="utf-8", newline=""
    ) as fh:
        writer = csv.DictWriter(fh, fieldnames=["tweet_id", "airline_sentiment", "text"])
        writer.writeheader()
        writer.writerows(reader[:300])
    return root


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _cut_corpora(tmp_path_factory.mktemp("corpora"))


def test_train_save_load_analyse(settings: Settings, corpus_root: Path) -> None:
    report = train_nlu(settings, use_embeddings=False, register_model=False, root=corpus_root)
    assert report.path == bundle_path(settings) and report.path.is_file()
    assert not report.embeddings
    for key in (
        "intent_acc_en",
        "intent_acc_es",
        "oos_recall_bot",
        "language_acc",
        "sentiment_3class_acc_es",
        "sentiment_binary_acc_es",
    ):
        assert 0.0 <= report.metrics[key] <= 1.0, key
    assert report.metrics["intent_acc_es"] > 0.9
    saved_at = report.path.stat().st_mtime_ns

    nlu = load_nlu(settings)
    assert report.path.stat().st_mtime_ns == saved_at  # loaded, not retrained
    lost = nlu.analyse("My card was stolen yesterday, please block it")
    assert (lost.language, lost.intent) == ("en", "lost_or_stolen_card")
    assert 0.0 < lost.intent_confidence <= 1.0
    alarm = nlu.analyse("Pon una alarma para mañana a las siete")
    assert (alarm.language, alarm.intent) == ("es", "alarm:set_alarm")
    angry = nlu.analyse("This is terrible and unacceptable, nobody helps me!")
    assert angry.sentiment == "negative" and angry.negative_score > 0.8
    forced = nlu.analyse("hola", language="en")
    assert forced.language == "en"
    empty = nlu.analyse("   ")
    assert empty.out_of_scope and empty.intent_confidence == 0.0

    kb = KnowledgeBase.shipped()
    angry = answer_message(
        "I want a refund, this is terrible and unacceptable!", nlu, kb, context_length=3
    )
    assert angry.escalation.escalate and angry.escalation.score >= 65
    assert angry.reply.source == "handoff" and angry.reply.language == "en"
    calm = answer_message("¿Cuál es el pago mínimo?", nlu, kb, context_length=1)
    assert not calm.escalation.escalate
    assert (calm.reply.language, calm.reply.faq_id) == ("es", "payment_threshold")


def test_load_nlu_trains_on_first_use(settings: Settings, corpus_root: Path) -> None:
    settings = settings.model_copy(update={"shared_data": corpus_root})
    assert data_root(settings.shared_data) == corpus_root
    assert data_root() == SHARED  # the default: shared/data beside the repository
    assert not bundle_path(settings).exists()
    nlu = load_nlu(settings)
    assert bundle_path(settings).is_file()
    assert nlu.analyse("I lost my card").language == "en"


def test_no_model_and_no_corpus_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"shared_data": tmp_path / "nowhere"})
    with pytest.raises(NluUnavailable, match="no corpus"):
        load_nlu(settings)
    with pytest.raises(NluUnavailable, match="train-nlu"):
        load_nlu(settings, train_if_missing=False)


def test_corrupt_model_file_is_retrained(settings: Settings, corpus_root: Path) -> None:
    settings = settings.model_copy(update={"shared_data": corpus_root})
    bundle_path(settings).parent.mkdir(parents=True)
    bundle_path(settings).write_bytes(b"not a joblib file")
    assert load_nlu(settings).analyse("Pon una alarma").language == "es"


def test_registered_in_mlflow_and_served_by_pyfunc(settings: Settings, corpus_root: Path) -> None:
    import pandas as pd

    from ssmas.core.registry import registry_from_settings

    report = train_nlu(settings, use_embeddings=False, register_model=True, root=corpus_root)
    assert report.registered_version == 1
    registry = registry_from_settings(settings)
    (version,) = registry.list_versions("assistant-nlu")
    assert version.version == 1
    model = registry.load("assistant-nlu", 1)
    out = model.predict(pd.DataFrame({"text": ["I lost my card", "Pon una alarma"]}))
    assert list(out["language"]) == ["en", "es"]


def test_language_detection_on_held_out_sentences() -> None:
    splits = Splits.load()
    train, held = language_corpus(splits, 0), language_corpus(splits, 1)
    detector = LanguageDetector().fit(train.texts, train.labels)
    predicted = detector.detect_many(held.texts)
    accuracy = sum(p == y for p, y in zip(predicted, held.labels, strict=True)) / len(held)
    assert accuracy >= 0.98
    support = {
        "Hola, mi pedido llegó roto y quiero que me devuelvan el dinero": "es",
        "Quiero hablar con un agente": "es",
        "Mi pago no ha llegado todavía": "es",
        "Hi, where is my order?": "en",
        "I want to talk to a manager": "en",
        "My payment still has not arrived": "en",
        "¿Qué tal?": "es",
    }
    for text, language in support.items():
        assert detector.detect(text)[0] == language, text
    assert detector.detect("👍", default="en") == ("en", 0.5)
