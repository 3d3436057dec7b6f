"""Campaign sending: the send ledger, the SMS provider port, receipts, opt-outs and the rules.

``campaign_sender(platform)`` gives the ``CampaignSender`` a campaign's launch calls
(``enqueue`` recipients once, read ``counts``); the ``sender`` worker (``run_sender``) sends the
queued rows; the routes take the provider's delivery receipts and inbound SMS (opt-outs) and
record conversions; ``run_optouts`` reads WhatsApp opt-outs off the assistant's bus topic.
See ``docs/campaigns.md``, "Sending".
"""

from __future__ import annotations

from ssmas.campaigns.sending.recipient import COUNT_KEYS, Recipient

__all__ = ["COUNT_KEYS", "Recipient"]
