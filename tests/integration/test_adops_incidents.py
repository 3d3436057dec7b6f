"""The incident manager on real databases (SQLite and PostgreSQL): dedup, correlation,
silences, lifecycle, timeline, notifications once, automation and MTTR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.adops.incidents import IncidentError, IncidentNotFound, IncidentService
from ssmas.adops.incidents import metrics as incident_metrics
from ssmas.adops.incidents.tables import (
    AlertKeyRow,
    AlertRow,
    IncidentRow,
    NotificationRow,
    SilenceRow,
    StreamCheckpointRow,
    TimelineRow,
)
from ssmas.adops.runtime import ingest_alert
from ssmas.adops.stream import Alert, MetricAnomaly
from ssmas.adops.stream.alerts import fingerprint
from ssmas.core.db import make_engine
from ssmas.core.db.migrate import upgrade
from ssmas.core.notify import Notification, NotifyError
from ssmas.core.platform import build_platform
from ssmas.settings import Settings

T0 = datetime(2024, 10, 22, 10, tzinfo=UTC)
TABLES = (
    TimelineRow,
    AlertRow,
    NotificationRow,
    AlertKeyRow,
    SilenceRow,
    StreamCheckpointRow,
    IncidentRow,
)


class RecordingNotifier:
    """A notifier that keeps what it was asked to send (and can fail on demand)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.fail = False

    def send(self, notification: Notification) -> None:
        if self.fail:
            raise NotifyError("down", target="recording", retryable=True)
        self.sent.append(notification)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'adops.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(sa.delete(table))
    yield engine
    engine.dispose()


def alert(
    entity: str = "pub-001",
    minute: int = 0,
    metrics: tuple[str, ...] = ("rpm",),
    entity_type: str = "publisher",
    severity: str = "medium",
) -> Alert:
    return Alert(
        fingerprint=fingerprint("exchange", entity_type, entity, list(metrics)),
        source="exchange",
        entity_type=entity_type,
        entity_id=entity,
        ts=T0 + timedelta(minutes=minute),
        metrics={
            m: MetricAnomaly(value=0.1, sliding_mean=0.2, baseline=1.0, z=-9.0, score=0.6)
            for m in metrics
        },
        score=0.6,
        problem_type="UNKNOWN",
        severity=severity,
    )


def service(engine: sa.Engine, notifier: RecordingNotifier | None = None) -> IncidentService:
    return IncidentService(engine, notifier=notifier, clock=lambda: T0 + timedelta(hours=1))


def test_repeats_are_one_alert_and_a_redelivery_is_a_no_op(engine: sa.Engine) -> None:
    svc = service(engine)
    first = svc.ingest_alert(alert(minute=0))
    again = svc.ingest_alert(alert(minute=0))
    repeat = svc.ingest_alert(alert(minute=1))
    assert len(first.opened) == 1 and again.duplicate == 1 and repeat.repeated == 1
    detail = svc.get(first.opened[0])
    assert detail["alert_count"] == 2
    assert [a["occurrences"] for a in detail["alerts"]] == [2]
    kinds = [t["kind"] for t in detail["timeline"]]
    assert kinds == ["state", "alert"]


def test_related_alerts_correlate_and_unrelated_ones_do_not(engine: sa.Engine) -> None:
    svc = service(engine)
    with svc.session() as session:
        result = svc.ingest(
            session,
            [
                alert("pub-001", 0),
                alert("corvus", 0, ("error_rate",), "partner"),
                alert("pub-002", 3, ("bid_latency_ms",)),
                alert("exchange", 4, ("timeout_rate",), "exchange"),
            ],
        )
    assert len(result.opened) == 1 and result.joined == 3
    (incident,) = svc.list_incidents()
    assert incident["entity_type"] == "exchange"  # the root moved upstream
    assert set(incident["entities"]) == {
        "partner/corvus",
        "publisher/pub-001",
        "publisher/pub-002",
        "exchange/exchange",
    }
    # an hour later the same publisher is a new incident
    later = svc.ingest_alert(alert("pub-001", 90))
    assert len(later.opened) == 1


def test_a_resolved_incident_never_swallows_a_new_alert(engine: sa.Engine) -> None:
    svc = service(engine)
    (first,) = svc.ingest_alert(alert(minute=0)).opened
    svc.resolve(first, actor="ana", note="fixed the floor")
    second = svc.ingest_alert(alert(minute=1))
    assert len(second.opened) == 1 and second.opened[0] != first
    assert svc.get(first)["alert_count"] == 1


def test_lifecycle_ack_moves_notes_and_refusals(engine: sa.Engine) -> None:
    svc = service(engine)
    (iid,) = svc.ingest_alert(alert()).opened
    acked = svc.acknowledge(iid, actor="ana")
    assert acked["state"] == "triaged" and acked["acknowledged_by"] == "ana"
    assert svc.move(iid, "mitigating", actor="ana")["state"] == "mitigating"
    assert svc.move(iid, "escalated", actor="ana", note="needs the partner")["state"] == "escalated"
    svc.add_note(iid, actor="bo", text="called the partner")
    with pytest.raises(IncidentError, match="cannot move an incident from escalated to open"):
        svc.move(iid, "open", actor="ana")
    with pytest.raises(IncidentError, match="unknown state"):
        svc.move(iid, "closed", actor="ana")
    resolved = svc.resolve(iid, actor="bo")
    assert resolved["state"] == "resolved" and resolved["automated"] is False
    with pytest.raises(IncidentError, match="resolved is final"):
        svc.move(iid, "triaged", actor="bo")
    with pytest.raises(IncidentNotFound):
        svc.acknowledge("inc-missing", actor="ana")
    with pytest.raises(IncidentError, match="needs some text"):
        svc.add_note(iid, actor="bo", text="  ")
    texts = [t["text"] for t in svc.get(iid)["timeline"]]
    assert "called the partner" in texts
    assert any("escalated: needs the partner" in t for t in texts)


def test_silences_and_maintenance_windows_open_no_incident(engine: sa.Engine) -> None:
    svc = service(engine)
    svc.create_silence(
        kind="silence",
        matchers={"entity_id": "pub-00*"},
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=30),
        actor="ana",
    )
    svc.create_silence(
        kind="maintenance",
        matchers={},
        starts_at=T0 + timedelta(hours=2),
        ends_at=T0 + timedelta(hours=3),
        actor="ana",
        comment="exchange upgrade",
    )
    with svc.session() as session:
        result = svc.ingest(
            session,
            [alert("pub-001", 5), alert("pub-101", 5), alert("corvus", 150, entity_type="partner")],
        )
    assert result.silenced == 2 and len(result.opened) == 1
    assert svc.list_incidents()[0]["entity_id"] == "pub-101"
    with pytest.raises(IncidentError, match="needs at least one matcher"):
        svc.create_silence(kind="silence", matchers={}, starts_at=T0, ends_at=T0, actor="a")
    with pytest.raises(IncidentError, match="unknown matcher"):
        svc.create_silence(
            kind="silence", matchers={"host": "x"}, starts_at=T0, ends_at=T0, actor="a"
        )
    with pytest.raises(IncidentError, match="end after"):
        svc.create_silence(kind="maintenance", matchers={}, starts_at=T0, ends_at=T0, actor="a")


def test_quiet_incidents_resolve_themselves_and_count_as_automated(engine: sa.Engine) -> None:
    svc = service(engine)
    (auto,) = svc.ingest_alert(alert("pub-001", 0)).opened
    (manual,) = svc.ingest_alert(alert("pub-101", 15)).opened  # after the burst window
    svc.acknowledge(manual, actor="ana")
    before = incident_metrics.MTTR._sum.get()
    with svc.session() as session:
        assert svc.tick(session, T0 + timedelta(minutes=20)) == []
        resolved = svc.tick(session, T0 + timedelta(minutes=46))
    assert sorted(resolved) == sorted([auto, manual])
    assert svc.get(auto)["automated"] is True and svc.get(manual)["automated"] is False
    assert incident_metrics.MTTR._sum.get() - before == pytest.approx((46 + 31) * 60)
    svc.refresh_gauges()
    assert incident_metrics.AUTOMATION._value.get() == pytest.approx(0.5)


def test_notifications_go_out_once_and_a_failure_is_retried(engine: sa.Engine) -> None:
    notifier = RecordingNotifier()
    notifier.fail = True
    svc = service(engine, notifier)
    (iid,) = svc.ingest_alert(alert(severity="medium")).opened
    assert notifier.sent == []
    notifier.fail = False
    svc.ingest_alert(
        alert(minute=1, severity="critical", metrics=("rpm", "fill_rate", "error_rate"))
    )
    svc.ingest_alert(alert(minute=2))
    svc.resolve(iid, actor="ana")
    svc.deliver()
    svc.deliver()
    titles = [n.title.split("]")[0] for n in notifier.sent]
    assert sorted(titles) == ["[opened", "[resolved", "[severity-critical"]
    assert all(n.dedup_key == iid for n in notifier.sent)
    assert [n.resolved for n in notifier.sent if n.title.startswith("[resolved")] == [True]


def test_filters(engine: sa.Engine) -> None:
    svc = service(engine)
    svc.ingest_alert(alert("pub-001", 0))
    svc.ingest_alert(alert("corvus", 100, ("error_rate",), "partner", severity="high"))
    assert [i["entity_id"] for i in svc.list_incidents(severity="high")] == ["corvus"]
    assert [i["entity_id"] for i in svc.list_incidents(entity="publisher/")] == ["pub-001"]
    assert svc.list_incidents(state="resolved") == []
    assert len(svc.list_incidents(limit=1)) == 1


def test_the_rules_target_entry_takes_an_alert_or_its_json(settings: Settings) -> None:
    platform = build_platform(settings)
    try:
        body = alert("pub-007", 0).model_dump(mode="json")
        first = ingest_alert(platform, body)
        again = ingest_alert(platform, body)
        assert len(first.opened) == 1 and again.duplicate == 1
        with pytest.raises(IncidentError, match="invalid alert: ts"):
            ingest_alert(platform, {**body, "ts": "later"})
    finally:
        platform.close()
