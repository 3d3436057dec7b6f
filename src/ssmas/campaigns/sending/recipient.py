"""What the campaign's launch hands the sender: the port's recipients, channels and count keys
(``ssmas.campaigns.ports``), named here for the sending package."""

from __future__ import annotations

from ssmas.campaigns.ports import COUNT_KEYS, Channel, Recipient

__all__ = ["CHANNELS", "COUNT_KEYS", "Channel", "Recipient"]

CHANNELS: tuple[Channel, ...] = ("sms", "whatsapp")
