"""The assistant's Prometheus metrics, one per stage a support team watches.

Webhook deliveries by outcome, messages handled by outcome and the time the text pipeline took
for them, NLU confidence, escalations by priority, SLA breaches, sends by outcome, dead
letters. No label carries personal data or free text: outcomes, kinds, priorities and intents
come from closed sets.
"""

from __future__ import annotations

from ssmas.core.metrics import counter, histogram

DELIVERIES = counter(
    "assistant",
    "webhook_deliveries",
    "Webhook deliveries, by outcome (accepted, partial, invalid, bad_signature, too_large)",
    ["outcome"],
)
ELEMENTS_REJECTED = counter(
    "assistant", "webhook_elements_rejected", "Invalid elements cut out of accepted deliveries"
)
MESSAGES = counter(
    "assistant",
    "messages",
    "Customer messages handled by the text pipeline, by outcome and kind",
    ["outcome", "kind"],
)
PIPELINE_SECONDS = histogram(
    "assistant",
    "pipeline",
    "Seconds from a message's batch entering the text pipeline to its reply being sent",
)
CONFIDENCE = histogram(
    "assistant",
    "nlu_confidence",
    "Intent confidence of the messages the NLU read",
    unit="ratio",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
INTENTS = counter("assistant", "intents", "Messages by the intent the NLU gave them", ["intent"])
ESCALATIONS = counter(
    "assistant", "escalations", "Conversations handed to a person, by priority", ["priority"]
)
SLA_BREACHES = counter(
    "assistant",
    "sla_breaches",
    "Handoffs past an SLA target, by target (first_response, resolution) and priority",
    ["target", "priority"],
)
SENDS = counter("assistant", "sends", "Replies sent to WhatsApp, by outcome", ["outcome"])
DEAD_LETTERS = counter(
    "assistant", "dead_letters", "Deliveries or elements dead-lettered, by reason", ["reason"]
)
RATE_LIMITED = counter(
    "assistant",
    "inbound_rate_limited",
    "Inbound messages over a limit, by scope (sender: stored, not answered; number: 429)",
    ["scope"],
)
