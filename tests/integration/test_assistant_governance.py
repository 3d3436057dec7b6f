"""A customer's data export and erasure, and retention, on what the live channel really stores:
deliveries through the signed webhook, the router, the text and media workers, the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ssmas.assistant.context import ContextStore
from ssmas.assistant.dlq_commands import assistant_topics
from ssmas.assistant.events import unseal, unseal_bytes
from ssmas.assistant.governance import governance_for
from ssmas.assistant.runtime import channel_cipher
from ssmas.assistant.tables import ChatMessage, Conversation, DeliveryStatus, Handoff
from ssmas.bootstrap import create_app
from ssmas.core.bus import dlq_topic
from ssmas.core.db import UnitOfWork, utcnow
from ssmas.core.security import create_api_key, list_audit
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import (
    Channel,
    open_channel,
    text_delivery,
)
from tests.integration.assistant_fixtures import deliver

ANA = "5215511110001"
BEN = "5215522220002"
NOTE = b"Factura 4471: importe pendiente 1.250 MXN"


def document_delivery(phone: str, message_id: str, media_id: str) -> bytes:
    body = json.loads(text_delivery(phone, "x", message_id))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "document"
    message["document"] = {"id": media_id, "mime_type": "text/plain", "filename": "nota.txt"}
    return json.dumps(body).encode()


@pytest.fixture()
def channel(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Channel]:
    """The channel on the SQLite bus, or on Redis when a test asks (``indirect``)."""
    if getattr(request, "param", "sqlite") == "redis":
        settings = settings.model_copy(
            update={"bus_backend": "redis", "redis_url": request.getfixturevalue("redis_url")}
        )
    with open_channel(settings) as opened:
        yield opened


class ForgetSpy:
    """Records what each ``forget`` of the bus was asked, then lets the bus do it."""

    def __init__(self, bus: Any) -> None:
        self.forget = bus.forget
        self.calls: list[tuple[str, list[str], list[int] | None]] = []

    def __call__(self, topic: str, ids: Any, *, offsets: Any = None) -> int:
        self.calls.append((topic, list(ids), None if offsets is None else list(offsets)))
        return int(self.forget(topic, ids, offsets=offsets))


def offsets_on_bus(channel: Channel) -> dict[tuple[str, str], int]:
    """Every retained message's offset by (topic, id), as replay gives them."""
    found: dict[tuple[str, str], int] = {}
    for source in assistant_topics(channel.platform.settings):
        for topic in (source, dlq_topic(source)):
            for m in channel.platform.bus.replay(topic, limit=100_000):
                found[(topic, m.id)] = m.offset
    return found


@pytest.fixture()
def client(channel: Channel) -> Iterator[TestClient]:
    with TestClient(create_app(channel.platform)) as c:
        yield c


@pytest.fixture()
def admin(channel: Channel) -> dict[str, str]:
    with UnitOfWork(channel.platform.session_factory) as uow:
        raw, _ = create_api_key(uow.session, "privacy officer", ["assistant:admin"])
        uow.commit()
    return {"x-api-key": raw}


def talk(client: TestClient, channel: Channel) -> None:
    """Ana writes twice and sends a document (and one broken element); Ben writes once."""
    channel.fake.state.add_media("media-ana-1", NOTE, "text/plain")
    deliver(client, text_delivery(ANA, "Hola, ¿cuándo me pagan?", "wamid.a1"))
    deliver(client, document_delivery(ANA, "wamid.a2", "media-ana-1"))
    deliver(client, text_delivery(BEN, "Hello, where is my report?", "wamid.b1", name="Ben"))
    broken = json.loads(text_delivery(ANA, "again", "wamid.a3"))
    del broken["entry"][0]["changes"][0]["value"]["messages"][0]["id"]  # dead-lettered alone
    deliver(client, json.dumps(broken).encode())
    channel.drain()


def bus_mentions(channel: Channel, phone: str) -> int:
    """Retained messages of every assistant topic and dead-letter topic naming ``phone``,
    found independently of the code under test: opened and searched as text."""
    cipher = channel_cipher(channel.platform)
    found = 0
    for source in assistant_topics(channel.platform.settings):
        for topic in (source, dlq_topic(source)):
            for m in channel.platform.bus.replay(topic, limit=100_000):
                if "sealed_raw" in m.payload:
                    text = unseal_bytes(cipher, m.payload).decode("latin-1")
                else:
                    text = json.dumps(unseal(cipher, m.payload))
                found += phone in text
    return found


def rows_of(channel: Channel, phone: str) -> dict[str, int]:
    cipher = channel_cipher(channel.platform)
    with UnitOfWork(channel.platform.session_factory) as uow:
        s = uow.session
        ids = list(
            s.scalars(
                sa.select(Conversation.id).where(
                    Conversation.phone_index == cipher.blind_index(phone)
                )
            )
        )
        messages = s.scalar(sa.select(sa.func.count()).where(ChatMessage.conversation_id.in_(ids)))
        return {"conversations": len(ids), "messages": int(messages or 0)}


@pytest.mark.parametrize("channel", ["sqlite", "redis"], indirect=True)
def test_export_then_erase_reaches_every_place(
    client: TestClient,
    channel: Channel,
    admin: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    talk(client, channel)
    offsets = offsets_on_bus(channel)
    spy = ForgetSpy(channel.platform.bus)
    monkeypatch.setattr(channel.platform.bus, "forget", spy, raising=False)
    media_files = list((settings.data_dir / "media").rglob("*.enc"))
    assert len(media_files) == 1
    assert bus_mentions(channel, ANA) >= 3 and bus_mentions(channel, BEN) >= 1
    cipher = channel_cipher(channel.platform)
    with UnitOfWork(channel.platform.session_factory) as uow:
        [ana_conv] = uow.session.scalars(
            sa.select(Conversation.id).where(Conversation.phone_index == cipher.blind_index(ANA))
        ).all()
        sent = uow.session.scalars(
            sa.select(ChatMessage.wa_id).where(
                ChatMessage.conversation_id == ana_conv, ChatMessage.direction == "out"
            )
        ).all()
        uow.session.add(
            DeliveryStatus(
                wa_id=sent[0], status="read", rank=3, status_at=utcnow(), updated_at=utcnow()
            )
        )
        uow.commit()
    channel.platform.cache.set(ContextStore.key(ana_conv), b"sealed-window", ttl_s=600)

    exported = client.get(f"/assistant/customers/{ANA}/export", headers=admin)
    assert exported.status_code == 200
    texts = [m["text"] for c in exported.json()["conversations"] for m in c["messages"]]
    assert "Hola, ¿cuándo me pagan?" in texts and any("Factura 4471" in t for t in texts)
    assert exported.json()["conversations"][0]["delivery_statuses"][0]["status"] == "read"
    assert "Hello, where is my report?" not in json.dumps(exported.json())

    erased = client.delete(f"/assistant/customers/+{ANA}", headers=admin)
    assert erased.status_code == 200, erased.text
    report = erased.json()["erased"]
    assert report["conversations"] == 1 and report["messages"] >= 4
    assert report["media_files"] == 1 and report["delivery_statuses"] == 1
    assert sum(report["bus_messages"].values()) >= 3
    # erasure hands the bus each message's offset as replay gave it (no scan for the ids)
    assert spy.calls and all(hints is not None for _, _, hints in spy.calls)
    for topic, ids, hints in spy.calls:
        assert hints == [offsets[(topic, i)] for i in ids]
        assert report["bus_messages"][topic] == len(ids)

    assert rows_of(channel, ANA) == {"conversations": 0, "messages": 0}
    assert rows_of(channel, BEN)["messages"] >= 2  # the other customer is untouched
    with UnitOfWork(channel.platform.session_factory) as uow:
        assert uow.session.get(DeliveryStatus, sent[0]) is None
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(Handoff)) == 0
        audit = list_audit(uow.session, action="assistant.customer_erased")
    assert len(audit) == 1 and ANA not in json.dumps(audit[0].__dict__, default=str)
    assert channel.platform.cache.get(ContextStore.key(ana_conv)) is None
    assert not media_files[0].exists()
    assert bus_mentions(channel, ANA) == 0
    assert bus_mentions(channel, BEN) >= 1
    again = client.delete(f"/assistant/customers/{ANA}", headers=admin)
    assert again.status_code == 404 and again.json()["error"] == "no_such_customer"


def test_customer_endpoints_refuse_bad_input_and_weak_keys(
    client: TestClient, channel: Channel, admin: dict[str, str]
) -> None:
    talk(client, channel)
    with UnitOfWork(channel.platform.session_factory) as uow:
        reader, _ = create_api_key(uow.session, "reader", ["assistant:read", "assistant:write"])
        uow.commit()
    assert client.delete(f"/assistant/customers/{ANA}").status_code == 401
    denied = client.delete(f"/assistant/customers/{ANA}", headers={"x-api-key": reader})
    assert denied.status_code == 403
    bad = client.get("/assistant/customers/not-a-phone/export", headers=admin)
    assert bad.status_code == 422 and "error" in bad.json()
    unknown = client.get("/assistant/customers/5215599990000/export", headers=admin)
    assert unknown.status_code == 404
    assert rows_of(channel, ANA)["conversations"] == 1  # nothing refused deleted anything


def test_retention_deletes_by_age_and_kind(
    client: TestClient, channel: Channel, settings: Settings
) -> None:
    talk(client, channel)
    governance = governance_for(channel.platform)
    before: dict[str, Any] = {p: rows_of(channel, p) for p in (ANA, BEN)}
    soon = governance.apply_retention(
        now=utcnow() + timedelta(days=30),
        messages_days=365,
        media_days=90,
        conversations_days=730,
    )
    assert soon.messages == 0 and soon.media_files == 0 and soon.conversations == 0
    assert {p: rows_of(channel, p) for p in (ANA, BEN)} == before
    media = governance.apply_retention(
        now=utcnow() + timedelta(days=100), messages_days=365, media_days=90, conversations_days=0
    )
    assert media.media_files == 1 and media.messages == 0
    assert list((settings.data_dir / "media").rglob("*.enc")) == []
    old = governance.apply_retention(
        now=utcnow() + timedelta(days=400), messages_days=365, media_days=0, conversations_days=0
    )
    assert old.messages == before[ANA]["messages"] + before[BEN]["messages"]
    assert old.conversations == 0 and rows_of(channel, ANA)["conversations"] == 1
    assert sum(old.bus_messages.values()) >= 4  # the bus archive ages out with the messages
    idle = governance.apply_retention(
        now=utcnow() + timedelta(days=800), messages_days=0, media_days=0, conversations_days=730
    )
    assert idle.conversations == 2 and rows_of(channel, ANA)["conversations"] == 0


def test_cli_export_erase_and_retention(
    client: TestClient, channel: Channel, settings: Settings, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from ssmas.cli import app
    from ssmas.settings import use_settings

    talk(client, channel)
    runner = CliRunner()
    out = tmp_path / "ana.json"
    with use_settings(settings):
        exported = runner.invoke(app, ["assistant", "customer", "export", ANA, "--out", str(out)])
        assert exported.exit_code == 0, exported.output
        assert "Hola, ¿cuándo me pagan?" in out.read_text() and out.stat().st_mode & 0o077 == 0
        refused = runner.invoke(app, ["assistant", "customer", "erase", ANA])
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        bad = runner.invoke(app, ["assistant", "customer", "erase", "12ab", "--yes"])
        assert bad.exit_code == 2 and "digits" in bad.stderr
        erased = runner.invoke(app, ["assistant", "customer", "erase", ANA, "--yes"])
        assert erased.exit_code == 0, erased.output
        assert json.loads(erased.stdout)["conversations"] == 1
        missing = runner.invoke(app, ["assistant", "customer", "export", ANA])
        assert missing.exit_code == 2 and "no conversation" in missing.stderr
        kept = runner.invoke(app, ["assistant", "retention"])
        assert kept.exit_code == 0 and json.loads(kept.stdout)["messages"] == 0
    assert rows_of(channel, ANA)["conversations"] == 0 and bus_mentions(channel, ANA) == 0
