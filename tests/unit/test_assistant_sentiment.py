"""Spanish tweet sentiment parts: cue tokens, near-duplicate groups, grouped split, the model."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.assistant.nlu.corpora import Corpus
from ssmas.assistant.nlu.sentiment import normalise_tweet
from ssmas.assistant.nlu.sentiment_model import TweetSentimentModel
from ssmas.assistant.nlu.tweet_cues import mark_cues
from ssmas.assistant.nlu.tweet_groups import group_split, label_noise, near_duplicate_groups


def test_negation_scope_marks_three_words_until_punctuation() -> None:
    cued = mark_cues(normalise_tweet("No me gusta nada este vuelo, gracias"))
    assert cued.startswith("no me gusta nada este vuelo, gracias ")
    cues = cued.split()[7:]
    # "nada" is a negator too: it restarts the scope, which the comma then ends.
    assert cues[:5] == ["xneg", "neg_me", "neg_gusta", "xlexneg", "xneg"]
    assert "neg_este" in cues and "neg_vuelo" in cues and "neg_gracias" not in cues
    assert cues.count("xlexpos") == 1  # "gracias", outside the scope


def test_lexicon_and_emoji_cues() -> None:
    assert mark_cues(normalise_tweet("Qué vergüenza, otro retraso 😡")).split()[-3:] == [
        "xlexneg",
        "xlexneg",
        "xemoneg",
    ]
    assert mark_cues(normalise_tweet("Genial el servicio :) 👍")).count("xemopos") == 2
    assert "xlexpos_neg" in mark_cues("no es malo")
    assert mark_cues("hola que tal") == "hola que tal"


def test_near_duplicates_share_a_group_and_stay_on_one_side() -> None:
    base = "Con @Iberia mi destino a un solo click, deseadme suerte https://t.co/{}"
    copies = [base.format(i) for i in range(6)]
    others = [f"mi maleta numero {i} no ha llegado a {city}" for i, city in enumerate("ABCDEFGHIJ")]
    others += [f"gracias por el vuelo {w}" for w in ("uno", "dos", "tres", "cuatro", "cinco")]
    others += [f"hoy vuelo a {c} con mi familia" for c in ("roma", "paris", "lima", "quito")]
    texts = copies + others
    groups = near_duplicate_groups(texts)
    assert len(set(groups[:6].tolist())) == 1
    assert groups[6] not in groups[:6]
    labels = ["neutral", "positive"] * 3 + ["negative"] * 10 + ["positive"] * 5 + ["neutral"] * 4
    train, val = group_split(Corpus(texts, labels), val_fraction=0.2, seed=3)
    assert len(train) + len(val) == len(texts) and len(val) > 0
    in_train = sum(t in train.texts for t in copies)
    assert in_train in (0, len(copies))


def test_label_noise_ceiling() -> None:
    texts = ["el vuelo sale a las diez xurl"] * 4 + ["otra cosa distinta del todo"]
    labels = ["neutral", "neutral", "positive", "negative", "neutral"]
    noise = label_noise(Corpus(texts, labels))
    assert noise["grouped_share"] == pytest.approx(0.8)
    assert noise["conflicting_share"] == pytest.approx(0.8)
    assert noise["grouped_ceiling"] == pytest.approx(0.5)
    assert noise["corpus_ceiling"] == pytest.approx(3 / 5)
    polar = label_noise(Corpus(texts, labels), polar_only=True)
    assert polar["grouped_ceiling"] == pytest.approx(0.5)


def _toy() -> Corpus:
    negative = [
        f"{a} retraso {b}"
        for a in ("otro", "vaya", "menudo", "horrible")
        for b in ("hoy", "ayer", "siempre", "en madrid", "sin avisar")
    ]
    neutral = [
        f"{a} sale el vuelo {b}"
        for a in ("a que hora", "cuando", "desde donde", "por que puerta")
        for b in ("a lima", "a roma", "de bilbao", "de noche", "mañana")
    ]
    positive = [
        f"{a} gracias {b}"
        for a in ("muchas", "mil", "genial", "perfecto")
        for b in ("equipo", "iberia", "por todo", "de verdad", "😍")
    ]
    texts = [normalise_tweet(t) for t in negative + neutral + positive]
    return Corpus(texts, ["negative"] * 20 + ["neutral"] * 20 + ["positive"] * 20)


def test_sentiment_model_probabilities_and_labels() -> None:
    toy = _toy()
    model = TweetSentimentModel().fit(toy.texts, toy.labels)
    assert model.classes_ == ["negative", "neutral", "positive"]
    probe = [normalise_tweet(t) for t in ("Otro retraso más", "Mil gracias!", "¿Cuándo sale?")]
    proba = model.predict_proba(probe)
    assert proba.shape == (3, 3)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    assert model.labels(probe) == ["negative", "positive", "neutral"]
    assert [p.label for p in model.predict(probe)] == ["negative", "positive", "neutral"]
    assert model.labels([]) == []


def test_sentiment_model_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="sentiment labels"):
        TweetSentimentModel().fit(["hola", "adios"], ["neutral", "angry"])


def test_sentiment_model_needs_every_label() -> None:
    with pytest.raises(ValueError, match="at least"):
        TweetSentimentModel().fit(["uno", "dos", "tres"], ["negative", "neutral", "positive"])
