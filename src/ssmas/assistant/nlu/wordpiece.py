"""BERT's uncased WordPiece tokenizer in plain Python, so the MiniLM encoder needs no extra package.

Basic step: clean control characters, lower-case, strip accents, split on whitespace and
punctuation (CJK ideographs stand alone); then each word is cut greedily into the longest
vocabulary pieces, continuation pieces prefixed ``##``; a word that cannot be cut is ``[UNK]``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

MAX_WORD_CHARS = 100


def _is_punctuation(ch: str) -> bool:
    code = ord(ch)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _basic_words(text: str) -> list[str]:
    """Lower-cased, accent-free words and single punctuation marks."""
    chars: list[str] = []
    for ch in text:
        code = ord(ch)
        if code == 0 or code == 0xFFFD:
            continue
        category = unicodedata.category(ch)
        if ch in "\t\n\r" or category == "Zs":
            chars.append(" ")
        elif category.startswith("C"):
            continue
        elif _is_cjk(code):
            chars.extend((" ", ch, " "))
        else:
            chars.append(ch)
    words: list[str] = []
    for raw in "".join(chars).lower().split():
        decomposed = unicodedata.normalize("NFD", raw)
        word = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        current: list[str] = []
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
    return words


class WordPiece:
    """Text to vocabulary ids; ``encode`` adds ``[CLS]``/``[SEP]`` and truncates to ``max_len``."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.unk_id = vocab["[UNK]"]
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_file(cls, path: Path) -> WordPiece:
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls({token: index for index, token in enumerate(lines)})

    def _pieces(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        ids: list[int] = []
        if len(word) > MAX_WORD_CHARS:
            ids = [self.unk_id]
        else:
            start = 0
            while start < len(word):
                end = len(word)
                found: int | None = None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    found = self.vocab.get(piece)
                    if found is not None:
                        break
                    end -= 1
                if found is None:
                    ids = [self.unk_id]
                    break
                ids.append(found)
                start = end
        if len(self._cache) < 200_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str, max_len: int = 128) -> list[int]:
        ids: list[int] = []
        for word in _basic_words(text):
            ids.extend(self._pieces(word))
        return [self.cls_id, *ids[: max_len - 2], self.sep_id]
