"""The IANA time zone of a lead, from its area code's state.

Mexico has kept standard time all year since October 2022. One zone per state is enough for
quiet hours; the few municipalities that differ from their state (the border strip of
Chihuahua, Bahía de Banderas in Nayarit) take their state's zone.
"""

from __future__ import annotations

__all__ = ["DEFAULT_ZONE", "ZONE_BY_STATE_CODE", "zone_of"]

DEFAULT_ZONE = "America/Mexico_City"

# INEGI entity code -> IANA zone, for states outside the central zone.
ZONE_BY_STATE_CODE: dict[str, str] = {
    "02": "America/Tijuana",  # Baja California: Pacific
    "03": "America/Mazatlan",  # Baja California Sur: Mountain
    "08": "America/Chihuahua",  # Chihuahua: central since 2022 (tzdata's own zone)
    "18": "America/Mazatlan",  # Nayarit
    "25": "America/Mazatlan",  # Sinaloa
    "26": "America/Hermosillo",  # Sonora: Mountain, no DST
    "23": "America/Cancun",  # Quintana Roo: Eastern (south-east zone)
    "05": "America/Monterrey",  # Coahuila
    "19": "America/Monterrey",  # Nuevo León
    "28": "America/Monterrey",  # Tamaulipas
    "04": "America/Merida",  # Campeche
    "31": "America/Merida",  # Yucatán
}


def zone_of(state_code: str | None) -> str:
    """The zone of an INEGI state code; the central zone when unknown."""
    if state_code is None:
        return DEFAULT_ZONE
    return ZONE_BY_STATE_CODE.get(state_code, DEFAULT_ZONE)
