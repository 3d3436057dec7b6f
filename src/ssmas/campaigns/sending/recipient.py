"""What the campaign's launch hands the sender: recipients, channels and the count keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["sms", "whatsapp"]
CHANNELS: tuple[Channel, ...] = ("sms", "whatsapp")
# The keys of ``counts``: every one present, zero when none.
COUNT_KEYS = ("queued", "sent", "delivered", "failed", "opted_out", "converted", "capped")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One lead to message: its E.164 phone, the template's variables and its IANA time zone
    (the same fields as ``ssmas.campaigns.ports.Recipient``, the launch's side of the port)."""

    lead_id: int
    e164: str
    variables: dict[str, str] = field(default_factory=dict)
    time_zone: str = "America/Mexico_City"
