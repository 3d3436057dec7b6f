"""The insights page on conversations the live channel stored: no model without enough
history, then a fitted one scoring the conversations still with the bot."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ssmas.assistant.insights import MIN_RISK_CONVERSATIONS, insights
from ssmas.core.db import utcnow
from tests.integration.assistant_channel_support import Channel, signature, text_delivery
from tests.integration.test_assistant_web import BASE, make_key, sign_in


def send(client: TestClient, phone: str, text: str, wa_id: str) -> None:
    body = text_delivery(phone, text, wa_id)
    response = client.post(
        "/whatsapp/webhook", content=body, headers={"x-hub-signature-256": signature(body)}
    )
    assert response.status_code == 200


def test_insights_page_before_and_after_enough_history(
    client: TestClient, channel: Channel
) -> None:
    sign_in(client, make_key(channel, "analyst", ["assistant:read"]))
    send(client, "5215500000000", "where is my order", "wamid.i0")
    channel.drain()
    early = client.get(f"{BASE}/insights")
    assert early.status_code == 200
    assert "Not enough history for a risk model: 1 conversations" in early.text
    for i in range(1, MIN_RISK_CONVERSATIONS + 10):
        text = "I want a refund, get me a manager" if i % 4 == 0 else "where is my order"
        send(client, f"52155{i:07d}", text, f"wamid.i{i}")
        if i % 3 == 0:  # some customers write twice
            send(client, f"52155{i:07d}", "hello?", f"wamid.j{i}")
    channel.drain()
    report = insights(channel.platform.session_factory, utcnow().date())
    assert report.risk.fitted and report.risk.escalations == 12
    assert report.risk.cv_auc is not None and 0.0 <= report.risk.cv_auc <= 1.0
    assert report.risk.at_risk and all(0 <= a.risk <= 1 for a in report.risk.at_risk)
    page = client.get(f"{BASE}/insights")
    assert page.status_code == 200 and "cross-validated AUC" in page.text
    assert f"/dashboard/assistant/conversations/{report.risk.at_risk[0].conversation_id}" in (
        page.text
    )
    assert client.get(f"{BASE}/insights?day=tomorrow").status_code == 400
