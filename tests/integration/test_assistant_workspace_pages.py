"""The agent workspace's pages (conversation and queue) and its CLI, against the real app,
workers and Graph fake: what an agent sees and does from the browser, and the directory managed
from the command line (bad input: exit 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.assistant.console import Console
from ssmas.assistant.runtime import channel_cipher, channel_settings
from ssmas.cli import app
from ssmas.core.db import UnitOfWork, utcnow
from ssmas.core.platform import build_platform
from ssmas.core.security import list_audit
from ssmas.settings import Settings, use_settings
from tests.integration.assistant_channel_support import Channel, signature
from tests.integration.test_assistant_web import (
    BASE,
    conversation_id,
    deliver,
    make_key,
    sign_in,
)
from tests.integration.test_assistant_workspace import reply_delivery

ANGRY = "16505550501"


def console_of(channel: Channel) -> Console:
    return Console(
        channel.platform.session_factory,
        channel_cipher(channel.platform),
        channel.platform.bus,
        channel.platform.cache,
        channel_settings(channel.platform),
    )


def test_conversation_and_queue_pages_drive_the_workspace(
    client: TestClient, channel: Channel
) -> None:
    console, now = console_of(channel), utcnow()
    console.directory("add_team", "test", now, name="billing")
    console.directory(
        "add_agent",
        "test",
        now,
        handle="web:eva",
        name="Eva",
        languages=["en"],
        capacity=3,
        teams=["billing"],
    )
    console.directory(
        "add_canned", "test", now, shortcut="sorry", body="Sorry {{first_name}}!", team="billing"
    )
    deliver(client, channel, ANGRY, "I want a refund, get me a manager", "wamid.p1")
    conv = conversation_id(channel, ANGRY)
    sign_in(client, make_key(channel, "eva", ["assistant:read", "assistant:write"]))
    page = client.get(f"{BASE}/conversations/{conv}")
    assert page.status_code == 200
    assert '<span class="pill open" id="conversation-status">open</span>' in page.text
    assert '<td id="conversation-team">billing</td>' in page.text
    assert '<td id="conversation-assignee">web:eva</td>' in page.text
    assert "left</td>" in page.text  # the first-response and resolution clocks run
    assert "/sorry (billing): Sorry {{first_name}}!" in page.text  # canned responses offered
    for kind in ("buttons", "list", "image", "document"):
        assert f'<option value="{kind}">' in page.text
    # a private note from the page: shown, never sent
    sent_before = len(channel.fake.state.sent_to(ANGRY))
    noted = client.post(
        f"{BASE}/conversations/{conv}/note",
        data={"text": "called twice already"},
        follow_redirects=False,
    )
    assert noted.status_code == 303
    # buttons from the composer; a malformed line is refused with the reason
    bad = client.post(
        f"{BASE}/conversations/{conv}/reply",
        data={"kind": "buttons", "text": "Solved?", "buttons": "only-an-id"},
    )
    assert bad.status_code == 400 and "id | title" in bad.text
    sent = client.post(
        f"{BASE}/conversations/{conv}/reply",
        data={"kind": "buttons", "text": "Solved?", "buttons": "resolved_yes | Yes\nno | No"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    canned = client.post(
        f"{BASE}/conversations/{conv}/reply",
        data={"canned_id": "1"},
        follow_redirects=False,
    )
    assert canned.status_code == 303
    channel.drain()
    out = channel.fake.state.sent_to(ANGRY)[sent_before:]
    assert [o["type"] for o in out] == ["interactive", "text"]
    assert out[1]["body"]["text"]["body"] == "Sorry Lucía!"
    view = client.get(f"{BASE}/conversations/{conv}")
    assert "called twice already" in view.text
    assert '<span class="pill pending" id="conversation-status">pending</span>' in view.text
    assert "paused (waiting for the customer)" in view.text
    # snooze and resolve from the page
    bad_snooze = client.post(
        f"{BASE}/conversations/{conv}/status", data={"status": "snoozed", "snooze_minutes": "0"}
    )
    assert bad_snooze.status_code == 400 and "Snooze for" in bad_snooze.text
    snoozed = client.post(
        f"{BASE}/conversations/{conv}/status",
        data={"status": "snoozed", "snooze_minutes": "30"},
        follow_redirects=False,
    )
    assert snoozed.status_code == 303
    assert "pill snoozed" in client.get(f"{BASE}/conversations/{conv}").text
    queue = client.get(f"{BASE}/queue")
    assert '<h2 class="queue-team">billing' in queue.text
    assert '<span class="pill snoozed">snoozed</span>' in queue.text
    assert "Eva" in queue.text and "1 / 3" in queue.text  # the agent's load
    resolved = client.post(
        f"{BASE}/conversations/{conv}/status", data={"status": "resolved"}, follow_redirects=False
    )
    assert resolved.status_code == 303
    channel.drain()
    survey = channel.fake.state.sent_to(ANGRY)[-1]
    assert survey["body"]["interactive"]["type"] == "list"
    after = client.get(f"{BASE}/conversations/{conv}")
    assert "asked, no answer yet" in after.text and "pill resolved" in after.text
    assert "The queue is empty." in client.get(f"{BASE}/queue").text
    # the customer rates it 4: on the conversation and in the queue page's CSAT tables
    answer = reply_delivery(ANGRY, "wamid.p9", "csat:4", "4 · Good")
    hooked = client.post(
        "/whatsapp/webhook", content=answer, headers={"x-hub-signature-256": signature(answer)}
    )
    assert hooked.status_code == 200
    channel.drain()
    assert (
        '<td id="conversation-csat">4 / 5</td>' in client.get(f"{BASE}/conversations/{conv}").text
    )
    rated = client.get(f"{BASE}/queue").text
    assert "<tr><td>web:eva</td><td>1</td><td>4.0</td><td>100%</td></tr>" in rated
    assert "<tr><td>billing</td><td>1</td><td>4.0</td><td>100%</td></tr>" in rated
    with UnitOfWork(channel.platform.session_factory) as uow:
        actions = {(e.actor, e.action) for e in list_audit(uow.session, limit=100)}
    for action in ("note", "reply", "status.snoozed", "status.resolved"):
        assert ("web:eva", f"assistant.{action}") in actions


def test_read_only_key_sees_no_composer(client: TestClient, channel: Channel) -> None:
    deliver(client, channel, ANGRY, "where is my order", "wamid.p2")
    conv = conversation_id(channel, ANGRY)
    sign_in(client, make_key(channel, "ro", ["assistant:read"]))
    page = client.get(f"{BASE}/conversations/{conv}")
    assert page.status_code == 200 and "/note" not in page.text and "/status" not in page.text
    refused = client.post(f"{BASE}/conversations/{conv}/note", data={"text": "x"})
    assert refused.status_code == 403


runner = CliRunner()


@pytest.fixture()
def cli_settings(tmp_path: Path) -> Iterator[Settings]:
    s = Settings(profile="test", data_dir=tmp_path / "data", database_url=None)
    s.ensure_dirs()
    with use_settings(s):
        yield s


def test_cli_manages_the_directory_and_refuses_bad_input(cli_settings: Settings) -> None:
    ok = runner.invoke(app, ["assistant", "teams", "add", "billing"])
    assert ok.exit_code == 0, ok.output
    added = runner.invoke(
        app,
        ["assistant", "agents", "add", "web:eva", "--name", "Eva", "--team", "billing",
         "--language", "es,en", "--capacity", "2"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    for argv, reason in (
        (["assistant", "teams", "add", "billing"], "exists"),
        (["assistant", "agents", "add", "eva", "--name", "E"], "handle"),
        (["assistant", "agents", "set", "web:eva", "--status", "asleep"], "status"),
        (["assistant", "rules", "add", "--team", "billing", "--priority", "extreme"], "priority"),
        (["assistant", "canned", "add", "hi", "Hi {{nme}}"], "nme"),
        (["assistant", "csat", "--by", "day"], "agent or team"),
    ):
        refused = runner.invoke(app, argv)
        assert refused.exit_code == 2, (argv, refused.output)
        assert reason in refused.output and "Traceback" not in refused.output
    away = runner.invoke(app, ["assistant", "agents", "set", "web:eva", "--status", "away"])
    assert away.exit_code == 0 and '"status": "away"' in away.output
    listed = runner.invoke(app, ["assistant", "agents", "list"])
    assert '"teams": ["billing"]' in listed.output and '"languages": ["es", "en"]' in listed.output
    platform = build_platform(cli_settings)
    try:
        with UnitOfWork(platform.session_factory) as uow:
            actions = {(e.actor, e.action) for e in list_audit(uow.session, limit=50)}
    finally:
        platform.close()
    assert {("cli", "assistant.add_team"), ("cli", "assistant.add_agent")} <= actions
    assert ("cli", "assistant.update_agent") in actions
