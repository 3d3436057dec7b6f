"""Simulated Mexican leads for the demo and tests: a CSV as a lead vendor would send it.

Area codes come from the LADA catalogue with the three metropolitan areas weighted up; numbers
are written the ways people write them (plain, spaced, ``+52``, the legacy ``044`` / ``01`` /
``+52 1``); a share are damaged (too short, letters, another country) and a share repeat an
earlier number; platform presence follows a simple pattern (most have WhatsApp). The same seed
gives the same file.
"""

from __future__ import annotations

import csv
import io
import random

from ssmas.campaigns.phone import lada_catalogue

__all__ = ["simulated_leads_csv"]

_NAMES = (
    "María", "José", "Guadalupe", "Juan", "Fernanda", "Luis", "Sofía", "Carlos", "Ximena",
    "Miguel", "Valeria", "Jorge", "Camila", "Alejandro", "Daniela", "Ricardo", "Andrea", "Diego",
)  # fmt: skip
_SPELLINGS = ("{n}", "{a} {b} {c}", "+52{n}", "+52 1 {n}", "044 {n}", "01 {n}", "({a}) {b}-{c}")
_METRO = {"55": 12.0, "56": 4.0, "33": 5.0, "81": 5.0}


def _number(rng: random.Random, codes: list[str], weights: list[float]) -> str:
    code = rng.choices(codes, weights)[0]
    rest = "".join(rng.choice("0123456789") for _ in range(10 - len(code)))
    rest = str(rng.randint(2, 9)) + rest[1:]  # subscriber numbers do not start with 0 or 1
    n = code + rest
    template = rng.choice(_SPELLINGS)
    return template.format(n=n, a=n[:3], b=n[3:6], c=n[6:])


def _damaged(rng: random.Random) -> str:
    return rng.choice(("55 1234", "55-ABC-1234", "+1 415 555 0100", "", "800 123 4567"))


def simulated_leads_csv(count: int, *, seed: int = 16, bad_share: float = 0.08) -> bytes:
    """``count`` leads as UTF-8 CSV with columns telefono, nombre, the five platform flags and
    ``quality`` (0-100) on about half of the rows."""
    rng = random.Random(seed)
    ladas = lada_catalogue()
    codes = [lada.code for lada in ladas]
    weights = [_METRO.get(lada.code, 0.1) for lada in ladas]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["telefono", "nombre", "whatsapp", "instagram", "facebook", "google", "apple", "quality"]
    )
    written: list[str] = []
    for _ in range(count):
        if written and rng.random() < 0.04:
            phone = rng.choice(written)
        elif rng.random() < bad_share:
            phone = _damaged(rng)
        else:
            phone = _number(rng, codes, weights)
            written.append(phone)
        engaged = rng.random()
        flags = [
            engaged > 0.1,
            engaged > 0.5,
            engaged > 0.35,
            engaged > 0.2,
            rng.random() < 0.25,
        ]
        cells = ["1" if flag else "0" for flag in flags]
        quality = f"{min(100.0, max(0.0, 100 * engaged + rng.gauss(0, 8))):.1f}"
        writer.writerow([phone, rng.choice(_NAMES), *cells, quality if rng.random() < 0.5 else ""])
    return out.getvalue().encode("utf-8")
