"""``ssmas assistant dlq list | replay`` on dead letters the live router really writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.assistant.events import TOPIC_INBOUND, TOPIC_TEXT, seal_bytes
from ssmas.assistant.ingest import Router
from ssmas.assistant.runtime import channel_cipher
from ssmas.cli import app
from ssmas.core.bus import Bus, bus_from_settings, dlq_topic
from ssmas.core.platform import build_platform
from ssmas.settings import Settings, use_settings

runner = CliRunner()


def delivery(messages: list[dict[str, object]]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "99", "display_phone_number": "15550001111"},
    }
    value["messages"] = messages
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def text(message_id: str, body: str = "hola") -> dict[str, object]:
    return {
        "from": "5215550001",
        "id": message_id,
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": body},
    }


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = Settings(profile="test", data_dir=tmp_path / "data", database_url=None)
    s.ensure_dirs()
    with use_settings(s):
        yield s


@pytest.fixture()
def dead(settings: Settings) -> Iterator[Bus]:
    """Route three deliveries through the real router: one unreadable, one with a bad element,
    one with a message of an unknown type; return the bus (the CLI opens its own)."""
    platform = build_platform(settings)
    try:
        cipher = channel_cipher(platform)
        router = Router(platform.bus, cipher)
        unknown = {**text("w-holo"), "type": "hologram"}
        router.route_many(
            [
                seal_bytes(cipher, b"{not json"),
                seal_bytes(cipher, delivery([text("w-good"), {"from": "1", "type": "text"}])),
                seal_bytes(cipher, delivery([unknown])),
            ]
        )
    finally:
        platform.close()
    bus = bus_from_settings(settings)
    yield bus
    bus.close()


def listed() -> list[dict[str, object]]:
    result = runner.invoke(app, ["assistant", "dlq", "list", "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_shows_every_dead_letter_with_origin_reason_and_replayability(dead: Bus) -> None:
    rows = listed()
    assert len(rows) == 3
    by_origin = sorted((r["origin"], r["replayable"]) for r in rows)
    assert by_origin == [
        (TOPIC_INBOUND, False),  # the bad element: not a delivery on its own
        (TOPIC_INBOUND, True),  # the unreadable delivery
        (TOPIC_TEXT, True),  # the unknown message type
    ]
    element = next(r for r in rows if not r["replayable"])
    assert str(element["error"]).startswith("entry.0.changes.0.value.messages.1:")
    table = runner.invoke(app, ["assistant", "dlq", "list"])
    assert table.exit_code == 0 and "3 dead letters" in table.stdout
    only_text = runner.invoke(app, ["assistant", "dlq", "list", "--json", "--topic", TOPIC_TEXT])
    assert len(only_text.stdout.splitlines()) == 1


def test_replay_sends_back_once_and_skips_what_cannot_be_replayed(dead: Bus) -> None:
    before_inbound = len(dead.replay(TOPIC_INBOUND))
    result = runner.invoke(app, ["assistant", "dlq", "replay", "--all"])
    assert result.exit_code == 0, result.output
    assert "replayed 2 dead letters" in result.stdout and "skipped" in result.stdout
    inbound = dead.replay(TOPIC_INBOUND)
    assert len(inbound) == before_inbound + 1
    replayed = inbound[-1]
    dead_inbound = [
        m
        for m in dead.replay(dlq_topic(TOPIC_INBOUND))
        if m.id == replayed.headers["dlq-replay-of"]
    ]
    assert dead_inbound and dead_inbound[0].payload == replayed.payload
    assert not any(k.startswith("dlq-") and k != "dlq-replay-of" for k in replayed.headers)
    text_before = [m for m in dead.replay(TOPIC_TEXT) if "dlq-replay-of" not in m.headers]
    [text_back] = [m for m in dead.replay(TOPIC_TEXT) if "dlq-replay-of" in m.headers]
    assert text_back.payload["message_id"] == "w-holo"
    again = runner.invoke(app, ["assistant", "dlq", "replay", "--all"])
    assert again.exit_code == 0
    assert len(dead.replay(TOPIC_INBOUND)) == before_inbound + 1  # a second replay is a no-op
    assert len(dead.replay(TOPIC_TEXT)) == len(text_before) + 1


def test_replay_one_by_id(dead: Bus) -> None:
    [row] = [r for r in listed() if r["origin"] == TOPIC_TEXT]
    inbound_before = len(dead.replay(TOPIC_INBOUND))
    result = runner.invoke(app, ["assistant", "dlq", "replay", "--id", str(row["id"])])
    assert result.exit_code == 0 and "replayed 1 dead letters" in result.stdout
    back = [m for m in dead.replay(TOPIC_TEXT) if m.headers.get("dlq-replay-of") == row["id"]]
    assert len(back) == 1
    assert len(dead.replay(TOPIC_INBOUND)) == inbound_before  # nothing else went back


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["replay"], "--all"),
        (["replay", "--all", "--id", "x"], "exclude"),
        (["replay", "--id", "no-such-id"], "no such dead letter"),
        (["list", "--topic", "pricing.models"], "unknown assistant topic"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(dead: Bus, args: list[str], reason: str) -> None:
    result = runner.invoke(app, ["assistant", "dlq", *args])
    assert result.exit_code == 2
    assert reason in result.stderr and "Traceback" not in result.output
