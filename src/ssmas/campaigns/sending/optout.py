"""Opt-out keywords (STOP, BAJA, ALTO, CANCELAR) and the phone form opt-outs are keyed by.

A message opts out when, with case, accents and punctuation set aside, it is one of the
keywords, or starts with one followed by other words ("Baja por favor"): a keyword buried in
a sentence ("no quiero que paren") is not an opt-out.
"""

from __future__ import annotations

import re
import unicodedata

KEYWORDS = frozenset({"STOP", "BAJA", "ALTO", "CANCELAR"})
_WORD = re.compile(r"[A-Z]+")


def fold(text: str) -> str:
    """Upper case without accents (``"Cancelár"`` → ``"CANCELAR"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def opt_out_keyword(text: str) -> str | None:
    """The keyword ``text`` opts out with, or ``None``."""
    words = _WORD.findall(fold(text))
    if words and words[0] in KEYWORDS:
        return str(words[0])
    return None


def normalise_phone(phone: str) -> str:
    """A phone in the E.164 form the ledger indexes: ``+`` and digits. WhatsApp writes Mexican
    mobiles with the legacy ``521`` prefix and no ``+``; both forms give ``+52`` + 10 digits."""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) == 13 and digits.startswith("521"):
        digits = "52" + digits[3:]
    return "+" + digits
