"""The port campaigns hand their recipients to: :class:`CampaignSender`.

``launch`` builds one :class:`Recipient` per lead of the audience and calls
:meth:`CampaignSender.enqueue` once; the sender owns everything after that (opt-outs, quiet
hours in ``time_zone``, frequency caps, idempotent sends, delivery receipts, conversions) and
answers :meth:`CampaignSender.counts` for the campaign's pages. The sending package implements
it; a process makes its sender known with :func:`ssmas.campaigns.runtime.use_sender`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["COUNT_KEYS", "CampaignSender", "Channel", "Recipient"]

Channel = Literal["sms", "whatsapp"]

# The keys of ``counts`` (each an int, 0 when none); ``capped``: dropped by a frequency cap.
COUNT_KEYS = ("queued", "sent", "delivered", "failed", "opted_out", "converted", "capped")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One lead to message: its id, number (E.164), the template's values for it and the IANA
    time zone of its area code's state (for quiet hours and send-time choice)."""

    lead_id: int
    e164: str
    variables: dict[str, str] = field(default_factory=dict)
    time_zone: str = "America/Mexico_City"


class CampaignSender(Protocol):
    """Queues a campaign's messages and reports how they fared.

    ``enqueue`` is idempotent per ``(tenant_id, campaign_id, lead_id)``: a recipient enqueued
    twice is messaged once. It returns counts with at least ``queued`` (recipients accepted
    now) and may add ``opted_out`` and others it decided at once. ``counts`` gives every key of
    :data:`COUNT_KEYS` for the campaign so far (zeros for an unknown campaign).
    """

    def enqueue(
        self,
        tenant_id: int,
        campaign_id: int,
        channel: Channel,
        template: str,
        recipients: list[Recipient],
    ) -> dict[str, int]: ...

    def counts(self, tenant_id: int, campaign_id: int) -> dict[str, int]: ...
