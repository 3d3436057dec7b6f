"""Sentiment: a trained Spanish model (airline tweets) and a small English lexicon scorer.

Both return ``SentimentScores`` (probabilities of negative / neutral / positive). The Spanish
texts are normalised the way tweets need: URLs and mentions become placeholders, letters
repeated for emphasis are cut to two, emoji and ``! ?`` become tokens of their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LABELS = ("negative", "neutral", "positive")
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]|[\U0001F300-\U0001FAFF\u2600-\u27BF]"
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(.)\1{2,}")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_WORD = re.compile(r"[a-z']+|[!]")


@dataclass(frozen=True)
class SentimentScores:
    negative: float
    neutral: float
    positive: float

    @property
    def label(self) -> str:
        values = (self.negative, self.neutral, self.positive)
        return LABELS[values.index(max(values))]

    @property
    def score(self) -> float:
        return max(self.negative, self.neutral, self.positive)


def normalise_tweet(text: str) -> str:
    """Lower-case, accent-free text with placeholders for URLs and mentions."""
    text = _URL.sub(" xurl ", text.lower())
    text = _MENTION.sub(" xuser ", text)
    text = _REPEAT.sub(r"\1\1", text)
    text = _EMOJI.sub(lambda m: f" {m.group(0)} ", text)
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return text.replace("!", " ! ").replace("?", " ? ")


_POSITIVE = frozenset(
    [
        "good",
        "great",
        "excellent",
        "amazing",
        "awesome",
        "perfect",
        "love",
        "loved",
        "lovely",
        "happy",
        "glad",
        "thanks",
        "thank",
        "thankful",
        "helpful",
        "quick",
        "fast",
        "easy",
        "nice",
        "wonderful",
        "fantastic",
        "brilliant",
        "best",
        "appreciate",
        "appreciated",
        "satisfied",
        "pleased",
        "resolved",
        "works",
        "working",
        "smooth",
        "recommend",
        "cool",
        "super",
        "fine",
        "kind",
        "friendly",
        "professional",
        "reliable",
        "impressed",
        "delighted",
        "enjoy",
        "enjoyed",
        "useful",
    ]
)
_NEGATIVE = frozenset(
    [
        "bad",
        "terrible",
        "awful",
        "horrible",
        "worst",
        "hate",
        "hated",
        "angry",
        "furious",
        "annoyed",
        "annoying",
        "disappointed",
        "disappointing",
        "useless",
        "broken",
        "late",
        "delay",
        "delayed",
        "slow",
        "rude",
        "poor",
        "ridiculous",
        "unacceptable",
        "scam",
        "fraud",
        "stolen",
        "wrong",
        "problem",
        "problems",
        "issue",
        "issues",
        "error",
        "fail",
        "failed",
        "failing",
        "failure",
        "never",
        "nobody",
        "ignored",
        "waiting",
        "waste",
        "wasted",
        "lost",
        "missing",
        "cheated",
        "frustrated",
        "frustrating",
        "complaint",
        "complain",
        "sucks",
        "pathetic",
        "shame",
        "disgusting",
        "incompetent",
        "nightmare",
        "mess",
        "upset",
        "stuck",
        "charged",
        "overcharged",
        "unhappy",
        "confusing",
        "crap",
        "damn",
        "lousy",
    ]
)
_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "wasn't",
        "can't",
        "cannot",
        "won't",
    ]
)


def english_sentiment(text: str) -> SentimentScores:
    """Lexicon polarity with negation (three words) and ``!`` emphasis, as probabilities."""
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    polarity = 0.0
    negate = 0
    for word in words:
        if word in _NEGATORS:
            negate = 3
            continue
        value = 1.0 if word in _POSITIVE else -1.0 if word in _NEGATIVE else 0.0
        if value and negate:
            value = -value * 0.8
        polarity += value
        negate = max(negate - 1, 0)
    if polarity and text.count("!"):
        polarity *= 1.5
    if polarity == 0:
        return SentimentScores(0.2, 0.6, 0.2)
    strength = 0.5 + 0.45 * min(1.0, abs(polarity) / 2.0)
    rest = 1.0 - strength
    if polarity < 0:
        return SentimentScores(strength, rest * 0.7, rest * 0.3)
    return SentimentScores(rest * 0.3, rest * 0.7, strength)
