"""The incident manager: alerts in (deduplicated, silenced, correlated), incidents out.

``IncidentService.ingest`` takes alerts inside a caller's transaction (the stream worker writes
them with its checkpoint, so an alert is recorded exactly once); ``ingest_alert`` is the
one-alert entry for other callers (the event rules' ``incident`` target). Operators act through
``acknowledge``, ``move``, ``resolve`` and ``add_note``; every act and every alert lands on the
incident's timeline. Notifications are written as pending rows in the same transaction and
sent afterwards by ``deliver``, once per incident and event (the row's key is the dedup key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from ssmas.adops.incidents import metrics
from ssmas.adops.incidents.lifecycle import (
    ENTITY_RANK,
    CorrelationPolicy,
    IncidentError,
    IncidentNotFound,
    OpenIncident,
    check_move,
    correlate,
    silence_matches,
    worse,
)
from ssmas.adops.incidents.tables import (
    AlertKeyRow,
    AlertRow,
    IncidentRow,
    NotificationRow,
    SilenceRow,
    TimelineRow,
)
from ssmas.adops.stream.alerts import Alert
from ssmas.core.notify import Notification, Notifier, NotifyError, Severity

log = structlog.get_logger("ssmas.adops.incidents")

Clock = Callable[[], datetime]
SILENCE_KINDS = ("silence", "maintenance")
MATCHER_NAMES = ("entity_type", "entity_id", "problem_type", "fingerprint", "source")


@dataclass
class IngestResult:
    """What became of a batch of alerts."""

    opened: list[str] = field(default_factory=list)
    joined: int = 0
    repeated: int = 0
    duplicate: int = 0
    silenced: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _incident_id(alert: Alert) -> str:
    digest = hashlib.sha1(alert.alert_key.encode()).hexdigest()[:12]
    return f"inc-{alert.ts:%Y%m%d%H%M}-{digest}"


def _title(alert: Alert) -> str:
    metrics_text = ", ".join(sorted(alert.metrics))
    kind = alert.problem_type if alert.problem_type != "UNKNOWN" else "anomaly"
    return f"{kind} on {alert.entity_type} {alert.entity_id}: {metrics_text}"[:500]


class IncidentService:
    """Incidents on one database; ``clock`` gives "now" for operators' acts."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        notifier: Notifier | None = None,
        policy: CorrelationPolicy | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.policy = policy or CorrelationPolicy()
        self.clock = clock

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # ---- alerts in ---------------------------------------------------------------------
    def ingest_alert(self, alert: Alert) -> IngestResult:
        """Take one alert in its own transaction (idempotent: the same alert twice is a no-op)."""
        with self.session() as session:
            result = self.ingest(session, [alert])
        self.deliver()
        return result

    def ingest(self, session: Session, alerts: Sequence[Alert]) -> IngestResult:
        """Take alerts inside ``session``'s transaction, upstream entities first per minute."""
        result = IngestResult()
        ordered = sorted(alerts, key=lambda a: (a.ts, ENTITY_RANK.get(a.entity_type, 9)))
        if not ordered:
            return result
        keys = [a.alert_key for a in ordered]
        seen = set(
            session.scalars(sa.select(AlertKeyRow.alert_key).where(AlertKeyRow.alert_key.in_(keys)))
        )
        silences = self._active_silences(session, ordered[0].ts, ordered[-1].ts)
        open_rows = {
            row.incident_id: row
            for row in session.scalars(
                sa.select(IncidentRow).where(IncidentRow.state != "resolved")
            )
        }
        for alert in ordered:
            if alert.alert_key in seen:
                result.duplicate += 1
                metrics.ALERTS.labels("duplicate").inc()
                continue
            seen.add(alert.alert_key)
            session.add(AlertKeyRow(alert_key=alert.alert_key, received_at=self.clock()))
            silence = self._silenced_by(silences, alert)
            if silence is not None:
                self._record_silenced(session, alert, silence)
                result.silenced += 1
                metrics.ALERTS.labels("silenced").inc()
                continue
            candidates = [
                OpenIncident(
                    r.incident_id,
                    r.entity_type,
                    r.entity_id,
                    r.last_alert_at,
                    r.opened_at,
                    tuple(r.entities),
                )
                for r in open_rows.values()
            ]
            target = correlate(
                alert.entity_type, alert.entity_id, alert.ts, candidates, self.policy
            )
            if target is None:
                row = self._open(session, alert)
                open_rows[row.incident_id] = row
                result.opened.append(row.incident_id)
                metrics.ALERTS.labels("opened").inc()
                continue
            if self._attach(session, open_rows[target], alert):
                result.joined += 1
                metrics.ALERTS.labels("joined").inc()
            else:
                result.repeated += 1
                metrics.ALERTS.labels("repeated").inc()
        return result

    def _open(self, session: Session, alert: Alert) -> IncidentRow:
        row = IncidentRow(
            incident_id=_incident_id(alert),
            correlation_key=f"{alert.entity_type}/{alert.entity_id}",
            entity_type=alert.entity_type,
            entity_id=alert.entity_id,
            title=_title(alert),
            problem_type=alert.problem_type,
            severity=alert.severity,
            state="open",
            opened_at=alert.ts,
            updated_at=alert.ts,
            last_alert_at=alert.ts,
            automated=False,
            human_touched=False,
            alert_count=0,
            entities=[f"{alert.entity_type}/{alert.entity_id}"],
        )
        session.add(row)
        session.flush()
        self._timeline(
            session, row.incident_id, alert.ts, "state", "stream", "opened", {"to": "open"}
        )
        self._attach(session, row, alert)
        self._queue(session, row, "opened")
        metrics.OPENED.labels(row.severity).inc()
        return row

    def _attach(self, session: Session, row: IncidentRow, alert: Alert) -> bool:
        """Add ``alert`` to ``row``; True when it is a new fingerprint for the incident."""
        existing = session.scalars(
            sa.select(AlertRow).where(
                AlertRow.incident_id == row.incident_id, AlertRow.fingerprint == alert.fingerprint
            )
        ).first()
        row.last_alert_at = max(row.last_alert_at, alert.ts)
        row.alert_count += 1
        row.updated_at = alert.ts
        if ENTITY_RANK.get(alert.entity_type, 9) < ENTITY_RANK.get(row.entity_type, 9):
            # the cause is upstream of where the incident was first seen: it moves there
            before = f"{row.entity_type}/{row.entity_id}"
            row.entity_type, row.entity_id = alert.entity_type, alert.entity_id
            row.correlation_key = f"{alert.entity_type}/{alert.entity_id}"
            self._timeline(
                session,
                row.incident_id,
                alert.ts,
                "correlate",
                "stream",
                f"root moved from {before} to {row.correlation_key}",
                {"from": before, "to": row.correlation_key},
            )
        if existing is not None:
            existing.occurrences += 1
            existing.last_at = max(existing.last_at, alert.ts)
            existing.score = max(existing.score, alert.score)
            return False
        session.add(_alert_row(alert, incident_id=row.incident_id))
        entity = f"{alert.entity_type}/{alert.entity_id}"
        if entity not in row.entities:
            row.entities = [*row.entities, entity][:200]
        if row.problem_type == "UNKNOWN" and alert.problem_type != "UNKNOWN":
            row.problem_type = alert.problem_type
        raised = worse(alert.severity, row.severity)
        text = f"alert {alert.problem_type} on {entity}: {', '.join(sorted(alert.metrics))}"
        data = {"fingerprint": alert.fingerprint, "score": alert.score, "severity": alert.severity}
        self._timeline(session, row.incident_id, alert.ts, "alert", alert.source, text, data)
        if raised != row.severity:
            self._timeline(
                session,
                row.incident_id,
                alert.ts,
                "severity",
                "stream",
                f"severity {row.severity} -> {raised}",
                {"from": row.severity, "to": raised},
            )
            row.severity = raised
            self._queue(session, row, f"severity-{raised}")
        return True

    def _record_silenced(self, session: Session, alert: Alert, silence: SilenceRow) -> None:
        session.add(_alert_row(alert, silence_id=silence.silence_id))

    # ---- silences and maintenance windows -------------------------------------------
    def _active_silences(
        self, session: Session, first: datetime, last: datetime
    ) -> list[SilenceRow]:
        return list(
            session.scalars(
                sa.select(SilenceRow).where(
                    SilenceRow.starts_at <= last, SilenceRow.ends_at > first
                )
            )
        )

    @staticmethod
    def _silenced_by(silences: Sequence[SilenceRow], alert: Alert) -> SilenceRow | None:
        labels = {
            "entity_type": alert.entity_type,
            "entity_id": alert.entity_id,
            "problem_type": alert.problem_type,
            "fingerprint": alert.fingerprint,
            "source": alert.source,
        }
        for silence in silences:
            if silence.starts_at <= alert.ts < silence.ends_at and silence_matches(
                silence.matchers, labels
            ):
                return silence
        return None

    def create_silence(
        self,
        *,
        kind: str,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        actor: str,
        comment: str = "",
    ) -> dict[str, Any]:
        if kind not in SILENCE_KINDS:
            raise IncidentError(f"kind must be one of {', '.join(SILENCE_KINDS)}")
        unknown = sorted(set(matchers) - set(MATCHER_NAMES))
        if unknown:
            raise IncidentError(f"unknown matcher {unknown[0]!r}; use {', '.join(MATCHER_NAMES)}")
        if kind == "silence" and not matchers:
            raise IncidentError(
                "a silence needs at least one matcher (a maintenance window may match all)"
            )
        if ends_at <= starts_at:
            raise IncidentError("a silence must end after it starts")
        with self.session() as session:
            row = SilenceRow(
                kind=kind,
                matchers=matchers,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=actor,
                comment=comment,
                created_at=self.clock(),
            )
            session.add(row)
            session.flush()
            return _silence_dict(row)

    def list_silences(self, *, active_at: datetime | None = None) -> list[dict[str, Any]]:
        with self.session() as session:
            query = sa.select(SilenceRow).order_by(SilenceRow.starts_at.desc())
            if active_at is not None:
                query = query.where(
                    SilenceRow.starts_at <= active_at, SilenceRow.ends_at > active_at
                )
            return [_silence_dict(r) for r in session.scalars(query.limit(500))]

    def expire_silence(self, silence_id: int, *, actor: str) -> dict[str, Any]:
        with self.session() as session:
            row = session.get(SilenceRow, silence_id)
            if row is None:
                raise IncidentNotFound(f"no silence {silence_id}")
            now = self.clock()
            if row.ends_at > now:
                row.ends_at = max(now, row.starts_at + timedelta(microseconds=1))
            return _silence_dict(row)

    # ---- operators ---------------------------------------------------------------------
    def _get(self, session: Session, incident_id: str) -> IncidentRow:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            raise IncidentNotFound(f"no incident {incident_id!r}")
        return row

    def acknowledge(self, incident_id: str, *, actor: str) -> dict[str, Any]:
        """Someone is on it: recorded once; an open incident becomes triaged."""
        with self.session() as session:
            row = self._get(session, incident_id)
            now = self.clock()
            if row.state == "resolved":
                raise IncidentError("a resolved incident cannot be acknowledged")
            if row.acknowledged_at is None:
                row.acknowledged_at, row.acknowledged_by = now, actor
                row.human_touched = True
                self._timeline(session, incident_id, now, "ack", actor, "acknowledged", {})
                metrics.ACKED.inc()
            if row.state == "open":
                self._set_state(session, row, "triaged", actor, now)
            return _incident_dict(row)

    def move(self, incident_id: str, state: str, *, actor: str, note: str = "") -> dict[str, Any]:
        with self.session() as session:
            row = self._get(session, incident_id)
            check_move(row.state, state)
            now = self.clock()
            row.human_touched = True
            self._set_state(session, row, state, actor, now, note)
            return _incident_dict(row)

    def resolve(self, incident_id: str, *, actor: str, note: str = "") -> dict[str, Any]:
        return self.move(incident_id, "resolved", actor=actor, note=note)

    def add_note(self, incident_id: str, *, actor: str, text: str) -> dict[str, Any]:
        if not text.strip():
            raise IncidentError("a note needs some text")
        with self.session() as session:
            row = self._get(session, incident_id)
            now = self.clock()
            entry = self._timeline(session, incident_id, now, "note", actor, text[:5000], {})
            row.updated_at = now
            session.flush()
            return _timeline_dict(entry)

    # ---- hooks for the agents (ssmas.adops.agents) ------------------------------------
    def add_step(
        self,
        incident_id: str,
        *,
        kind: str,
        actor: str,
        text: str,
        data: dict[str, Any] | None = None,
        human: bool = False,
    ) -> dict[str, Any]:
        """Append one step of an agent's (or an approver's, ``human=True``) work to the
        incident's timeline; a human step makes the incident count as not automated."""
        with self.session() as session:
            row = self._get(session, incident_id)
            now = self.clock()
            entry = self._timeline(
                session, incident_id, now, kind[:16], actor, text[:5000], data or {}
            )
            row.updated_at = now
            if human:
                row.human_touched = True
            session.flush()
            return _timeline_dict(entry)

    def agent_move(
        self, incident_id: str, state: str, *, actor: str, note: str = ""
    ) -> dict[str, Any]:
        """Move an incident as an agent: unlike :meth:`move`, no human touched it."""
        with self.session() as session:
            row = self._get(session, incident_id)
            check_move(row.state, state)
            self._set_state(session, row, state, actor, self.clock(), note)
            return _incident_dict(row)

    def _set_state(
        self,
        session: Session,
        row: IncidentRow,
        state: str,
        actor: str,
        at: datetime,
        note: str = "",
    ) -> None:
        before = row.state
        row.state = state
        row.updated_at = at
        text = f"{before} -> {state}" + (f": {note}" if note else "")
        self._timeline(
            session, row.incident_id, at, "state", actor, text, {"from": before, "to": state}
        )
        if state == "resolved":
            row.resolved_at, row.resolved_by = at, actor
            row.automated = not row.human_touched
            metrics.RESOLVED.labels("auto" if row.automated else "human").inc()
            metrics.MTTR.observe(max(0.0, (at - row.opened_at).total_seconds()))
            self._queue(session, row, "resolved")
        elif state == "escalated":
            self._queue(session, row, "escalated")

    # ---- time passing ------------------------------------------------------------------
    def tick(self, session: Session, now: datetime) -> list[str]:
        """Resolve incidents quiet for ``auto_resolve_after`` (``now`` is stream time);
        escalated ones wait for a person."""
        cutoff = now - self.policy.auto_resolve_after
        rows = session.scalars(
            sa.select(IncidentRow).where(
                IncidentRow.state.in_(("open", "triaged", "mitigating")),
                IncidentRow.last_alert_at < cutoff,
            )
        ).all()
        for row in rows:
            self._set_state(
                session,
                row,
                "resolved",
                "auto",
                now,
                f"no alert for {int(self.policy.auto_resolve_after.total_seconds() // 60)} min",
            )
        return [r.incident_id for r in rows]

    def refresh_gauges(self) -> None:
        with self.session() as session:
            counts = dict(
                session.execute(
                    sa.select(IncidentRow.automated, sa.func.count())
                    .where(IncidentRow.state == "resolved")
                    .group_by(IncidentRow.automated)
                ).all()
            )
            open_count = session.scalar(
                sa.select(sa.func.count()).where(IncidentRow.state != "resolved")
            )
        total = sum(counts.values())
        metrics.AUTOMATION.set(counts.get(True, 0) / total if total else 0.0)
        metrics.OPEN.set(int(open_count or 0))

    # ---- reading -----------------------------------------------------------------------
    def list_incidents(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        entity: str | None = None,
        problem_type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        query = sa.select(IncidentRow).order_by(
            IncidentRow.opened_at.desc(), IncidentRow.incident_id
        )
        if state:
            query = query.where(IncidentRow.state == state)
        if severity:
            query = query.where(IncidentRow.severity == severity)
        if problem_type:
            query = query.where(IncidentRow.problem_type == problem_type)
        if entity:
            query = query.where(IncidentRow.correlation_key.startswith(entity, autoescape=True))
        with self.session() as session:
            return [_incident_dict(r) for r in session.scalars(query.limit(limit).offset(offset))]

    def get(self, incident_id: str) -> dict[str, Any]:
        """An incident with its alerts and timeline, oldest first."""
        with self.session() as session:
            row = self._get(session, incident_id)
            alerts = session.scalars(
                sa.select(AlertRow)
                .where(AlertRow.incident_id == incident_id)
                .order_by(AlertRow.first_at, AlertRow.alert_id)
            ).all()
            timeline = session.scalars(
                sa.select(TimelineRow)
                .where(TimelineRow.incident_id == incident_id)
                .order_by(TimelineRow.at, TimelineRow.entry_id)
            ).all()
            body = _incident_dict(row)
            body["alerts"] = [_alert_dict(a) for a in alerts]
            body["timeline"] = [_timeline_dict(t) for t in timeline]
            return body

    # ---- notifications -----------------------------------------------------------------
    def _queue(self, session: Session, row: IncidentRow, event: str) -> None:
        key = f"{row.incident_id}:{event}"
        if session.get(NotificationRow, key) is None:
            session.add(
                NotificationRow(
                    dedup_key=key,
                    incident_id=row.incident_id,
                    sent_at=self.clock(),
                    status="pending",
                )
            )

    def deliver(self, limit: int = 100) -> int:
        """Send pending notifications once each; a failed one stays pending (retried later)."""
        if self.notifier is None:
            return 0
        with self.session() as session:
            pending = session.scalars(
                sa.select(NotificationRow).where(NotificationRow.status == "pending").limit(limit)
            ).all()
            jobs = []
            for note in pending:
                found = session.get(IncidentRow, note.incident_id)
                if found is not None:
                    event = note.dedup_key.rsplit(":", 1)[1]
                    jobs.append((note.dedup_key, event, _incident_dict(found)))
        sent = 0
        for key, event, body in jobs:
            try:
                self.notifier.send(_notification(event, body))
            except NotifyError as exc:
                log.warning("incident_notify_failed", key=key, error=str(exc))
                continue
            with self.session() as session:
                row = session.get(NotificationRow, key)
                if row is not None:
                    row.status, row.sent_at = "sent", self.clock()
            sent += 1
            metrics.NOTIFIED.labels(event.split("-")[0]).inc()
        return sent

    def _timeline(
        self,
        session: Session,
        incident_id: str,
        at: datetime,
        kind: str,
        actor: str,
        text: str,
        data: dict[str, Any],
    ) -> TimelineRow:
        entry = TimelineRow(
            incident_id=incident_id, at=at, kind=kind, actor=actor, text=text, data=data
        )
        session.add(entry)
        return entry


# Incident severities onto the notifiers' three (info, warning, critical): high pages too.
NOTIFY_SEVERITY: dict[str, Severity] = {
    "critical": "critical",
    "high": "critical",
    "medium": "warning",
}


def _notification(event: str, incident: dict[str, Any]) -> Notification:
    severity = NOTIFY_SEVERITY.get(incident["severity"], "info")
    return Notification(
        title=f"[{event}] {incident['title']}"[:500],
        body=f"incident {incident['incident_id']} ({incident['state']}), "
        f"{incident['alert_count']} alerts on {', '.join(incident['entities'][:5])}",
        severity=severity,
        source="ssmas.adops",
        dedup_key=incident["incident_id"],
        fields={"problem_type": incident["problem_type"], "severity": incident["severity"]},
        resolved=event == "resolved",
    )


def _incident_dict(row: IncidentRow) -> dict[str, Any]:
    return {
        "incident_id": row.incident_id,
        "title": row.title,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "entities": list(row.entities),
        "problem_type": row.problem_type,
        "severity": row.severity,
        "state": row.state,
        "opened_at": row.opened_at,
        "updated_at": row.updated_at,
        "last_alert_at": row.last_alert_at,
        "acknowledged_at": row.acknowledged_at,
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": row.resolved_at,
        "resolved_by": row.resolved_by,
        "automated": row.automated,
        "alert_count": row.alert_count,
    }


def _alert_dict(row: AlertRow) -> dict[str, Any]:
    return {
        "fingerprint": row.fingerprint,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "problem_type": row.problem_type,
        "severity": row.severity,
        "score": row.score,
        "metrics": row.metrics,
        "first_at": row.first_at,
        "last_at": row.last_at,
        "occurrences": row.occurrences,
    }


def _timeline_dict(row: TimelineRow) -> dict[str, Any]:
    return {"at": row.at, "kind": row.kind, "actor": row.actor, "text": row.text, "data": row.data}


def _silence_dict(row: SilenceRow) -> dict[str, Any]:
    return {
        "silence_id": row.silence_id,
        "kind": row.kind,
        "matchers": row.matchers,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "created_by": row.created_by,
        "comment": row.comment,
    }


def _alert_row(
    alert: Alert, *, incident_id: str | None = None, silence_id: int | None = None
) -> AlertRow:
    """A first occurrence of ``alert``, in an incident or held by a silence."""
    return AlertRow(
        fingerprint=alert.fingerprint,
        incident_id=incident_id,
        silence_id=silence_id,
        source=alert.source,
        entity_type=alert.entity_type,
        entity_id=alert.entity_id,
        problem_type=alert.problem_type,
        severity=alert.severity,
        score=alert.score,
        metrics={k: v.model_dump() for k, v in alert.metrics.items()},
        first_at=alert.ts,
        last_at=alert.ts,
        occurrences=1,
    )
