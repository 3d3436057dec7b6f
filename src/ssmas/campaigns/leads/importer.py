"""Lead import: a file's rows validated in chunks, new numbers added, known ones updated, and
every row that is not imported reported with its reason.

Each chunk is its own transaction, committed before the next is read: a file that breaks
half-way (a malformed row, a field past the CSV limit) keeps every row before the break, and the
import records the error. Numbers are validated by the bulk validator (legacy prefixes, E.164,
line type, LADA city and state), deduplicated per tenant by the blind index of their E.164 form,
and stored encrypted with the other columns of their row (the template's variables).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ssmas.campaigns.counters import IMPORT_ROWS
from ssmas.campaigns.leads.reader import MAX_FIELD_CHARS, LeadFileError, open_lead_file
from ssmas.campaigns.leads.timezones import zone_of
from ssmas.campaigns.phone import PLATFORMS, PhoneCheck
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, LeadImport
from ssmas.campaigns.tenancy import meter
from ssmas.core.db import UnitOfWork, utcnow
from ssmas.core.security.pii import PiiCipher, index_lookup

__all__ = ["MAX_REPORTED", "ImportSummary", "PhoneChecker", "import_leads", "parse_row"]

CHUNK = 5_000
MAX_REPORTED = 10_000  # rejected rows listed in a report (the counts stay exact)
QUALITY_COLUMNS = ("quality", "quality_score", "calidad")
_TRUE = frozenset({"1", "true", "t", "yes", "y", "si", "sí", "x"})
_FALSE = frozenset({"0", "false", "f", "no", "n"})
Progress = Callable[[int, int], None]


class PhoneChecker(Protocol):
    """What the import needs of the validator (``BulkValidator`` is one)."""

    def check(self, numbers: Sequence[str]) -> list[PhoneCheck]: ...


@dataclass
class ParsedRow:
    row: int
    phone: str
    flags: dict[str, bool | None]
    quality: float | None
    attributes: dict[str, str]


@dataclass
class ImportSummary:
    """What an import did; ``report`` lists rows not imported (``row``, ``reason``, ``column``)."""

    import_id: int
    filename: str
    status: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = None
    # one line on the leads' predicted quality (set by the import's caller; not stored)
    quality: str | None = None
    report: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def of(cls, row: LeadImport) -> ImportSummary:
        return cls(
            import_id=row.id,
            filename=row.filename,
            status=row.status,
            rows=row.rows,
            created=row.created,
            updated=row.updated,
            duplicates=row.duplicates,
            rejected=row.rejected,
            error=row.error,
            report=list(row.report or []),
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


def _flag(value: str) -> bool | str | None:
    text = value.strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return "bad"


def parse_row(row_no: int, values: dict[str, str], phone_column: str) -> ParsedRow | dict[str, Any]:
    """The row's parts, or its rejection (``{"row", "reason", "column"}``)."""
    if "__extra__" in values:
        return {"row": row_no, "reason": "extra_fields", "column": None}
    for column, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            return {"row": row_no, "reason": "field_too_long", "column": column}
    flags: dict[str, bool | None] = {}
    for platform in PLATFORMS:
        parsed = _flag(values.get(platform, ""))
        if parsed == "bad":
            return {"row": row_no, "reason": "bad_flag", "column": platform}
        flags[platform] = parsed if isinstance(parsed, bool) else None
    quality: float | None = None
    for column in QUALITY_COLUMNS:
        text = values.get(column, "").strip()
        if text:
            try:
                quality = float(text)
            except ValueError:
                quality = -1.0
            if not 0.0 <= quality <= 100.0:
                return {"row": row_no, "reason": "bad_quality", "column": column}
    reserved = {phone_column, *PLATFORMS, *QUALITY_COLUMNS}
    attributes = {k: v.strip() for k, v in values.items() if k not in reserved and v.strip()}
    return ParsedRow(row_no, values.get(phone_column, ""), flags, quality, attributes)


def _chunks(
    rows: Iterator[tuple[int, dict[str, str]]],
) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """Rows in lists of :data:`CHUNK`; when the file breaks, the rows read before the break
    come out first, then the error."""
    while True:
        chunk: list[tuple[int, dict[str, str]]] = []
        try:
            for item in rows:
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    break
        except LeadFileError:
            if chunk:
                yield chunk
            raise
        if not chunk:
            return
        yield chunk


class _Import:
    """One import's running state across its chunks."""

    def __init__(self, tenant_id: int, import_id: int, cipher: PiiCipher, checker: PhoneChecker):
        self.tenant_id = tenant_id
        self.import_id = import_id
        self.cipher = cipher
        self.checker = checker
        self.seen: dict[str, int] = {}  # blind index -> first row in this file
        self.counts = {"rows": 0, "created": 0, "updated": 0, "duplicates": 0, "rejected": 0}
        self.report: list[dict[str, Any]] = []

    def _reject(self, entry: dict[str, Any], *, duplicate: bool = False) -> None:
        self.counts["duplicates" if duplicate else "rejected"] += 1
        if len(self.report) < MAX_REPORTED:
            self.report.append(entry)

    def mark(self) -> tuple[dict[str, int], int, list[str]]:
        """What :meth:`undo` needs to forget a chunk whose transaction was rolled back."""
        self._added: list[str] = []
        return dict(self.counts), len(self.report), self._added

    def undo(self, mark: tuple[dict[str, int], int, list[str]]) -> None:
        counts, reported, added = mark
        self.counts = counts
        del self.report[reported:]
        for index in added:
            self.seen.pop(index, None)

    def chunk(self, session: Session, raw: list[tuple[int, dict[str, str]]], phone: str) -> int:
        self.counts["rows"] += len(raw)
        parsed: list[ParsedRow] = []
        for row_no, values in raw:
            outcome = parse_row(row_no, values, phone)
            if isinstance(outcome, ParsedRow):
                parsed.append(outcome)
            else:
                self._reject(outcome)
        checks = self.checker.check([p.phone for p in parsed])
        fresh: dict[str, tuple[ParsedRow, PhoneCheck]] = {}
        for item, check in zip(parsed, checks, strict=True):
            if not check.valid or check.e164 is None:
                self._reject({"row": item.row, "reason": str(check.reason), "column": phone})
                continue
            index = self.cipher.blind_index(check.e164)
            first = self.seen.setdefault(index, item.row)
            if first == item.row:
                self._added.append(index)
            if first != item.row:
                self._reject(
                    {"row": item.row, "reason": "duplicate", "column": phone, "first_row": first},
                    duplicate=True,
                )
                continue
            fresh[index] = (item, check)
        scope = TenantScope(session, self.tenant_id)
        self._update_known(scope, fresh)
        self._insert_new(session, fresh)
        now = utcnow()
        meter(session, self.tenant_id, "validations", len(parsed), now.date())
        return len(parsed)

    def _update_known(
        self, scope: TenantScope, fresh: dict[str, tuple[ParsedRow, PhoneCheck]]
    ) -> None:
        if not fresh:
            return
        # a lead is known under any blind-index version held (a key rotation re-indexes them)
        lookup = index_lookup(self.cipher, {k: c.e164 or "" for k, (_i, c) in fresh.items()})
        known = scope.session.scalars(
            scope.select(Lead).where(Lead.phone_index.in_(list(lookup)))
        ).all()
        for lead in known:
            item, _check = fresh.pop(lookup[lead.phone_index])
            for platform, value in item.flags.items():
                if value is not None:
                    setattr(lead, platform, value)
            if item.quality is not None:
                lead.quality = item.quality
            if item.attributes:
                lead.attributes_enc = self.cipher.encrypt(json.dumps(item.attributes))
                lead.attribute_names = sorted(item.attributes)
            lead.updated_at = utcnow()
            self.counts["updated"] += 1
        scope.session.flush()

    def _insert_new(self, session: Session, fresh: dict[str, tuple[ParsedRow, PhoneCheck]]) -> None:
        if not fresh:
            return
        now = utcnow()
        rows = []
        for index, (item, check) in fresh.items():
            e164 = check.e164 or ""
            rows.append(
                {
                    "tenant_id": self.tenant_id,
                    "import_id": self.import_id,
                    "phone_index": index,
                    "phone_enc": self.cipher.encrypt(e164),
                    "phone_last4": e164[-4:],
                    "line_type": str(check.line_type) if check.line_type else None,
                    "lada": check.lada,
                    "city": check.city,
                    "state": check.state,
                    "time_zone": zone_of(check.state_code),
                    **item.flags,
                    "quality": item.quality,
                    "attributes_enc": (
                        self.cipher.encrypt(json.dumps(item.attributes))
                        if item.attributes
                        else None
                    ),
                    "attribute_names": sorted(item.attributes),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        session.execute(sa.insert(Lead), rows)
        self.counts["created"] += len(rows)
        meter(session, self.tenant_id, "leads_imported", len(rows), now.date())

    def save(self, session: Session, status: str, error: str | None = None) -> LeadImport:
        row = TenantScope(session, self.tenant_id).get(LeadImport, self.import_id, "import")
        for name, value in self.counts.items():
            setattr(row, name, value)
        row.report = list(self.report)
        row.status = status
        row.error = error
        if status != "running":
            row.finished_at = utcnow()
        session.flush()
        return row


def _count(job: _Import) -> None:
    for outcome, key in (
        ("created", "created"),
        ("updated", "updated"),
        ("duplicate", "duplicates"),
        ("rejected", "rejected"),
    ):
        IMPORT_ROWS.labels(outcome).inc(job.counts[key])


def _import_chunk(
    session_factory: sessionmaker[Session],
    job: _Import,
    raw: list[tuple[int, dict[str, str]]],
    phone: str,
) -> None:
    """One chunk in one transaction; when another import of the tenant added one of its
    numbers meanwhile (the unique index refuses the insert), the chunk is read again once, and
    that number is then updated."""
    for attempt in (1, 2):
        mark = job.mark()
        try:
            with UnitOfWork(session_factory) as uow:
                job.chunk(uow.session, raw, phone)
                job.save(uow.session, "running")
                uow.commit()
            return
        except IntegrityError:
            job.undo(mark)
            if attempt == 2:
                raise


def import_leads(
    session_factory: sessionmaker[Session],
    tenant_id: int,
    filename: str,
    data: bytes,
    *,
    cipher: PiiCipher,
    checker: PhoneChecker,
    encoding: str = "utf-8",
    progress: Progress | None = None,
) -> ImportSummary:
    """Import ``data`` (CSV or XLSX) for the tenant; :class:`LeadFileError` when the file
    cannot be read at all (nothing is recorded then)."""
    lead_file = open_lead_file(filename, data, encoding)
    with UnitOfWork(session_factory) as uow:
        record = TenantScope(uow.session, tenant_id).add(
            LeadImport(filename=filename[:255] or "upload", status="running", report=[])
        )
        uow.commit()
        job = _Import(tenant_id, record.id, cipher, checker)
    done = 0
    try:
        for raw in _chunks(lead_file.rows):
            _import_chunk(session_factory, job, raw, lead_file.phone_column)
            done += len(raw)
            if progress is not None:
                progress(done, max(done, lead_file.estimated_rows))
    except LeadFileError as exc:
        with UnitOfWork(session_factory) as uow:
            row = job.save(uow.session, "failed", exc.message[:500])
            uow.commit()
        _count(job)
        return ImportSummary.of(row)
    with UnitOfWork(session_factory) as uow:
        row = job.save(uow.session, "done")
        uow.commit()
    _count(job)
    if progress is not None:
        progress(done, done)
    return ImportSummary.of(row)
