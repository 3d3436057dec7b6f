"""The assistant's Prometheus metrics move with what the live channel does, and /metrics
serves them: deliveries by outcome, messages by outcome, escalations, sends, dead letters."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.metrics import REGISTRY
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    open_channel,
    sample_bytes,
    sample_clock,
    signature,
    text_delivery,
)
from tests.integration.assistant_fixtures import deliver

NAMES = {
    "accepted": ("ssmas_assistant_webhook_deliveries_total", {"outcome": "accepted"}),
    "partial": ("ssmas_assistant_webhook_deliveries_total", {"outcome": "partial"}),
    "bad_signature": ("ssmas_assistant_webhook_deliveries_total", {"outcome": "bad_signature"}),
    "rejected": ("ssmas_assistant_webhook_elements_rejected_total", {}),
    "escalated": ("ssmas_assistant_messages_total", {"outcome": "escalated", "kind": "text"}),
    "replied": ("ssmas_assistant_messages_total", {"outcome": "replied", "kind": "text"}),
    "high": ("ssmas_assistant_escalations_total", {"priority": "high"}),
    "sent": ("ssmas_assistant_sends_total", {"outcome": "sent"}),
    "confidence": ("ssmas_assistant_nlu_confidence_ratio_count", {}),
    "latency": ("ssmas_assistant_pipeline_seconds_count", {}),
    "element_dlq": ("ssmas_assistant_dead_letters_total", {"reason": "invalid_element"}),
}


def snapshot() -> dict[str, float]:
    return {
        key: REGISTRY.get_sample_value(name, labels) or 0.0 for key, (name, labels) in NAMES.items()
    }


def test_metrics_follow_the_live_channel(settings: Settings) -> None:
    clock = sample_clock("01_text_es_complaint.json")
    before = snapshot()
    with (
        open_channel(settings, clock=clock) as channel,
        TestClient(create_app(channel.platform)) as client,
    ):
        deliver(client, sample_bytes("01_text_es_complaint.json"))  # escalates (high)
        at = clock()
        deliver(client, text_delivery("5215500000007", "hola", "wamid.m1", at=at))
        partial = json.loads(text_delivery("5215500000008", "hi", "wamid.m2", at=at))
        partial["entry"][0]["changes"][0]["value"]["messages"].append({"type": "text"})
        deliver(client, json.dumps(partial).encode())
        body = text_delivery("5215500000009", "x", "wamid.m3", at=at)
        refused = client.post(
            "/whatsapp/webhook",
            content=body,
            headers={"x-hub-signature-256": signature(body, secret="not-the-secret")},
        )
        assert refused.status_code == 403
        channel.drain()
        served = client.get("/metrics").text
    delta = {k: v - before[k] for k, v in snapshot().items()}
    assert delta["accepted"] == 2 and delta["partial"] == 1 and delta["bad_signature"] == 1
    assert delta["rejected"] == 1 and delta["element_dlq"] == 1
    assert delta["escalated"] == 1 and delta["replied"] == 2 and delta["high"] == 1
    assert delta["sent"] == 3 and delta["latency"] == 3 and delta["confidence"] == 3
    assert "ssmas_assistant_messages_total" in served
    assert "5215500000007" not in served  # no personal data in any label
