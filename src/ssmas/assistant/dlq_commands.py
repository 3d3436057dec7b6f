"""``ssmas assistant dlq list | replay``: the assistant's dead letters, read and sent back.

The assistant dead-letters a delivery it cannot read, each bad element of a delivery, a message
of an unknown type, and any message its workers failed on too many times. After the cause is
fixed (a bug, a WhatsApp outage), ``replay`` puts the chosen ones back on the topic they came
from; the workers are idempotent by WhatsApp id, so nothing is answered twice.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ssmas.core.cli_errors import fail, first_line
from ssmas.settings import Settings, get_settings

dlq_app = typer.Typer(
    help="Dead letters of the assistant: list, replay.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()

TopicOption = Annotated[
    str | None,
    typer.Option("--topic", help="only this source topic (e.g. assistant.inbound)"),
]


def assistant_topics(settings: Settings) -> list[str]:
    """Every topic the assistant consumes, text partitions included."""
    from ssmas.assistant.events import (
        TOPIC_ESCALATION,
        TOPIC_INBOUND,
        TOPIC_MEDIA,
        TOPIC_OUTBOUND,
        TOPIC_STATUS,
        TOPIC_TEMPLATE_SEND,
        TOPIC_TEXT,
    )
    from ssmas.core.worker import partition_topic

    texts = [partition_topic(TOPIC_TEXT, k) for k in range(settings.whatsapp.text_partitions)]
    return [
        TOPIC_INBOUND,
        *texts,
        TOPIC_MEDIA,
        TOPIC_STATUS,
        TOPIC_OUTBOUND,
        TOPIC_ESCALATION,
        TOPIC_TEMPLATE_SEND,
    ]


def _topics(settings: Settings, topic: str | None) -> list[str]:
    known = assistant_topics(settings)
    if topic is None:
        return known
    if topic not in known:
        fail(f"unknown assistant topic {topic!r}; one of: {', '.join(known)}")
    return [topic]


@dlq_app.command("list")
def list_command(
    topic: TopicOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most this many per topic")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """List the retained dead letters, oldest first per topic (payloads stay sealed)."""
    from ssmas.core.bus import bus_from_settings
    from ssmas.core.bus.dlq import dead_letters

    settings = get_settings()
    topics = _topics(settings, topic)
    try:
        bus = bus_from_settings(settings)
    except Exception as exc:  # a bad bus URL or a bus that is down: one line, exit 2
        fail(f"cannot open the bus: {first_line(exc)}")
    try:
        letters = dead_letters(bus, topics, limit=limit)
    finally:
        bus.close()
    if as_json:
        for d in letters:
            row = {
                "id": d.id,
                "origin": d.origin,
                "error": d.error,
                "attempts": d.attempts,
                "published_at": d.published_at.isoformat(),
                "replayable": d.replayable,
            }
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("id", "from topic", "when (UTC)", "attempts", "replayable", "error"):
        table.add_column(column)
    for d in letters:
        table.add_row(
            d.id,
            d.origin,
            d.published_at.strftime("%Y-%m-%d %H:%M:%S"),
            "" if d.attempts is None else str(d.attempts),
            "yes" if d.replayable else "no",
            d.error[:80],
        )
    out.print(table)


@dlq_app.command("replay")
def replay_command(
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="a dead letter's id (repeat for several)")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every replayable dead letter")] = False,
    topic: TopicOption = None,
) -> None:
    """Send dead letters back to the topic they came from (a second replay is a no-op)."""
    from ssmas.core.bus import bus_from_settings
    from ssmas.core.bus.dlq import dead_letters, replay

    if not ids and not replay_all:
        fail("name dead letters with --id, or replay them all with --all")
    if ids and replay_all:
        fail("--id and --all exclude each other")
    settings = get_settings()
    topics = _topics(settings, topic)
    try:
        bus = bus_from_settings(settings)
    except Exception as exc:
        fail(f"cannot open the bus: {first_line(exc)}")
    try:
        letters = dead_letters(bus, topics, limit=100_000)
        if ids:
            missing = sorted(set(ids) - {d.id for d in letters})
            if missing:
                fail(f"no such dead letter: {', '.join(missing)}")
        report = replay(bus, letters, only=set(ids) if ids else None)
    finally:
        bus.close()
    typer.echo(f"replayed {len(report.replayed)} dead letters")
    for letter_id, reason in report.skipped.items():
        typer.echo(f"skipped {letter_id}: {reason}")
