"""Rotation of the blind-index key: a new version, re-indexing every stored index, retirement.

A blind index (``PiiCipher.blind_index``) is what finds a row by an encrypted value (a
customer's phone number) without decrypting the table. Its key is versioned in the PII key ring
(``core_pii_keys``, version ``n`` as row ``-n``) and rotated without downtime in steps
(``ssmas keys blind-index rotate`` runs them all):

1. :func:`add_index_version` adds version ``n`` in state ``lookup``: within
   ``ops.pii_key_refresh_s`` every process matches it in look-ups, none writes it yet.
2. :func:`activate_index_version`, a refresh interval later, makes ``n`` the version new
   indexes are computed under; the old one stays ``lookup``. Every process already matches
   both, so a row written under either is found by all.
3. :func:`reindex`, another refresh interval later (no process writes the old version any
   more), recomputes every stored index not under the active version, in primary-key batches,
   each row by compare-and-set (a row the platform changed meanwhile is left to the platform).
   It resumes where it stopped: what is left is what is not under the active version.
4. :func:`retire_index_version` drops the old version once no stored index uses it.

Index columns are found by the schema's convention: a string column named ``<stem>_index`` of a
table with a one-column integer primary key. Its value is recomputed from the column
``<stem>_enc`` of the same row when there is one (decrypted, the old index checked against it);
a column without one (an opt-out list keeps only the index) is recomputed from any such row
that holds the same old index, so these are re-indexed before the others. An index no row
explains stays, and the old version can't be retired until it is gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.models import PiiKey
from ssmas.core.security.audit import record_audit
from ssmas.core.security.pii import (
    BASE_INDEX_VERSION,
    PiiCipher,
    PiiDecryptError,
    index_prefix,
    index_row_id,
    index_version,
)
from ssmas.core.security.pii_keys import ACTIVE, ENC_SUFFIX, RETIRED, PiiKeyRingError

LOOKUP = "lookup"
INDEX_SUFFIX = "_index"


@dataclass(frozen=True)
class IndexColumn:
    """One blind-index column: its table, integer primary key, and the ``*_enc`` column it
    indexes on the same row (None when the table keeps only the index)."""

    table: str
    pk: str
    column: str
    source: str | None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def index_columns(engine: Engine) -> list[IndexColumn]:
    """Every ``*_index`` string column of a table with a one-column primary key, by reflection;
    those without a ``*_enc`` sibling first (they are re-indexed through the others)."""
    inspector = sa.inspect(engine)
    found: list[IndexColumn] = []
    for table in sorted(inspector.get_table_names()):
        pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
        if len(pk) != 1:
            continue
        columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for name, kind in columns.items():
            if not name.endswith(INDEX_SUFFIX) or not isinstance(kind, sa.String):
                continue
            source = name.removesuffix(INDEX_SUFFIX) + ENC_SUFFIX
            found.append(IndexColumn(table, pk[0], name, source if source in columns else None))
    return sorted(found, key=lambda c: (c.source is not None, c.table, c.column))


def _version_filter(col: sa.ColumnClause[str], version: int) -> sa.ColumnElement[bool]:
    """Rows whose index is under ``version`` (version 1's indexes are bare hex)."""
    if version == BASE_INDEX_VERSION:
        return sa.not_(col.like("b%:%"))
    return col.like(f"{index_prefix(version)}%")


def index_usage(engine: Engine, columns: list[IndexColumn] | None = None) -> dict[int, int]:
    """How many stored indexes each version holds, over every index column (one grouped scan
    each)."""
    usage: dict[int, int] = {}
    for spec in columns if columns is not None else index_columns(engine):
        col = sa.column(spec.column, sa.String)
        if engine.dialect.name == "postgresql":
            tag = sa.func.split_part(col, ":", 1)
        else:
            tag = sa.func.substr(col, 1, sa.func.instr(col, ":") - 1)
        version_expr = sa.case((col.like("b%:%"), tag), else_=sa.literal("b1"))
        query = (
            sa.select(version_expr, sa.func.count())
            .select_from(sa.table(spec.table, col))
            .where(col.is_not(None))
            .group_by(version_expr)
        )
        with engine.connect() as conn:
            for tag_value, count in conn.execute(query):
                version = int(str(tag_value).lstrip("b"))
                usage[version] = usage.get(version, 0) + int(count)
    return usage


# -- the ring ---------------------------------------------------------------------------------


def _versions(session: Session, *, lock: bool = False) -> list[PiiKey]:
    query = sa.select(PiiKey).where(PiiKey.id < 0).order_by(PiiKey.id.desc())
    return list(session.scalars(query.with_for_update() if lock else query))


def _ensure_base_version(session: Session, now: datetime) -> None:
    if session.get(PiiKey, index_row_id(BASE_INDEX_VERSION)) is None:
        session.add(
            PiiKey(id=index_row_id(BASE_INDEX_VERSION), state=ACTIVE, wrapped=None, created_at=now)
        )
        session.flush()


def add_index_version(
    session: Session, cipher: PiiCipher, *, actor: str, now: datetime | None = None
) -> int:
    """Add a random blind-index version, matched by look-ups but not yet written (``lookup``).

    Refused while an earlier added version is not active yet. The caller commits. Returns the
    version. Audited as ``pii_index_key.added``."""
    moment = now or utcnow()
    _ensure_base_version(session, moment)
    rows = _versions(session, lock=True)
    active = max((-r.id for r in rows if r.state == ACTIVE), default=BASE_INDEX_VERSION)
    pending = [-r.id for r in rows if r.state == LOOKUP and -r.id > active]
    if pending:
        raise PiiKeyRingError(
            f"blind-index version b{pending[0]} was added and is not active yet: "
            f"run `ssmas keys blind-index activate b{pending[0]}` (or retire it)"
        )
    version = max(-r.id for r in rows) + 1
    session.add(
        PiiKey(
            id=index_row_id(version),
            state=LOOKUP,
            wrapped=cipher.wrap_index_key(),
            created_at=moment,
        )
    )
    session.flush()
    record_audit(
        session, actor=actor, action="pii_index_key.added", target=f"b{version}", at=moment
    )
    return version


def activate_index_version(
    session: Session, version: int, *, actor: str, now: datetime | None = None
) -> None:
    """Compute new indexes under ``version``; the previous active version stays matched
    (``lookup``) until retired. The caller commits. Audited as ``pii_index_key.rotated``."""
    moment = now or utcnow()
    _ensure_base_version(session, moment)
    rows = {-r.id: r for r in _versions(session, lock=True)}
    row = rows.get(version)
    if row is None or row.state == RETIRED:
        raise PiiKeyRingError(f"no blind-index version b{version} to activate")
    if row.state == ACTIVE:
        raise PiiKeyRingError(f"blind-index version b{version} is already active")
    previous = [v for v, r in rows.items() if r.state == ACTIVE]
    for v in previous:
        rows[v].state, rows[v].deactivated_at = LOOKUP, moment
    row.state = ACTIVE
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="pii_index_key.rotated",
        target=f"b{version}",
        details={"previous": [f"b{v}" for v in previous]},
        at=moment,
    )


def retire_index_version(
    session: Session, engine: Engine, version: int, *, actor: str, now: datetime | None = None
) -> None:
    """Stop matching ``version``: refused while it is active or any stored index uses it. Its
    material is deleted. The caller commits. Audited as ``pii_index_key.retired``."""
    moment = now or utcnow()
    _ensure_base_version(session, moment)
    row = session.get(PiiKey, index_row_id(version), with_for_update=True)
    if row is None:
        raise PiiKeyRingError(
            f"no blind-index version b{version} (see `ssmas keys blind-index status`)"
        )
    if row.state == RETIRED:
        raise PiiKeyRingError(f"blind-index version b{version} is already retired")
    if row.state == ACTIVE:
        raise PiiKeyRingError(f"blind-index version b{version} is the active one: rotate first")
    columns = index_columns(engine)
    used = {spec.name: n for spec in columns if (n := index_usage(engine, [spec]).get(version, 0))}
    if used:
        where = ", ".join(f"{name}: {n}" for name, n in used.items())
        raise PiiKeyRingError(
            f"{sum(used.values())} stored indexes are still under blind-index version "
            f"b{version} ({where}): run `ssmas keys blind-index reindex` first"
        )
    row.state, row.wrapped, row.retired_at = RETIRED, None, moment
    session.flush()
    record_audit(
        session, actor=actor, action="pii_index_key.retired", target=f"b{version}", at=moment
    )


@dataclass(frozen=True)
class IndexVersionStatus:
    """One blind-index version as ``ssmas keys blind-index status`` shows it."""

    version: int
    state: str
    created_at: datetime | None
    deactivated_at: datetime | None
    retired_at: datetime | None
    indexes: int


def index_status(session: Session, engine: Engine) -> list[IndexVersionStatus]:
    """Every blind-index version with its state and how many stored indexes it holds."""
    usage = index_usage(engine)
    rows = sorted(_versions(session), key=lambda r: -r.id)
    if not rows:
        return [
            IndexVersionStatus(
                BASE_INDEX_VERSION, ACTIVE, None, None, None, usage.get(BASE_INDEX_VERSION, 0)
            )
        ]
    return [
        IndexVersionStatus(
            -r.id, r.state, r.created_at, r.deactivated_at, r.retired_at, usage.get(-r.id, 0)
        )
        for r in rows
    ]


# -- re-indexing ------------------------------------------------------------------------------


@dataclass
class ReindexReport:
    """What re-indexing did: indexes rewritten; left because the row changed meanwhile
    (``raced``), because a unique index already holds the new value (``conflicts``), because
    nothing explains them (``unexplained``: no plaintext, or it doesn't give the old index)."""

    rewritten: int = 0
    raced: int = 0
    conflicts: int = 0
    unexplained: int = 0
    passes: int = 0
    seconds: float = 0.0
    per_column: dict[str, int] = field(default_factory=dict)


def _stale(
    engine: Engine, spec: IndexColumn, active: int, batch: int
) -> Iterator[list[tuple[int, str, str | None]]]:
    """Rows whose index is not under ``active``, by primary key, ``batch`` at a time."""
    pk = sa.column(spec.pk, sa.Integer)
    col = sa.column(spec.column, sa.String)
    source = sa.column(spec.source or spec.column, sa.Text)
    table = sa.table(spec.table, pk, col, source)
    last = None
    while True:
        query = (
            sa.select(pk, col, source if spec.source else sa.null())
            .select_from(table)
            .where(col.is_not(None), sa.not_(_version_filter(col, active)))
            .order_by(pk)
            .limit(batch)
        )
        if last is not None:
            query = query.where(pk > last)
        with engine.connect() as conn:
            rows = [(int(r[0]), str(r[1]), r[2]) for r in conn.execute(query)]
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def _plaintext(cipher: PiiCipher, old: str, token: str | None) -> str | None:
    """The value ``token`` holds when it is what ``old`` indexes, else None."""
    if token is None:
        return None
    try:
        value = cipher.decrypt(token)
    except PiiDecryptError:
        return None
    try:
        return value if cipher.blind_index_under(value, index_version(old)) == old else None
    except KeyError:  # the old index's version is no longer held
        return None


def _explained_by_others(
    conn: Connection, cipher: PiiCipher, sources: list[IndexColumn], old: str
) -> str | None:
    """The plaintext of ``old`` found in a column that keeps one beside its index."""
    for spec in sources:
        col = sa.column(spec.column, sa.String)
        enc = sa.column(spec.source or "", sa.Text)
        query = sa.select(enc).select_from(sa.table(spec.table, col, enc)).where(col == old)
        for token in conn.execute(query.limit(3)).scalars():
            value = _plaintext(cipher, old, token)
            if value is not None:
                return value
    return None


def _write(engine: Engine, spec: IndexColumn, updates: list[dict[str, object]]) -> tuple[int, int]:
    """Apply ``updates`` (compare-and-set) in one transaction; when a unique index refuses
    one, each in its own. Returns (rewritten, conflicts)."""
    pk = sa.column(spec.pk, sa.Integer)
    col = sa.column(spec.column, sa.String)
    statement = (
        sa.table(spec.table, pk, col)
        .update()
        .where(pk == sa.bindparam("b_pk"), col == sa.bindparam("b_old"))
        .values({spec.column: sa.bindparam("b_new")})
    )
    try:
        with engine.begin() as conn:
            return sum(conn.execute(statement, item).rowcount for item in updates), 0
    except sa.exc.IntegrityError:
        done = conflicts = 0
        for item in updates:
            try:
                with engine.begin() as conn:
                    done += conn.execute(statement, item).rowcount
            except sa.exc.IntegrityError:
                conflicts += 1
        return done, conflicts


def reindex_pass(
    engine: Engine,
    cipher: PiiCipher,
    *,
    batch: int = 500,
    columns: list[IndexColumn] | None = None,
    progress: Callable[[str, int], None] | None = None,
    report: ReindexReport | None = None,
    max_rows: int | None = None,
) -> ReindexReport:
    """One pass over every index column: recompute each index not under the active version.

    Each batch is its own short transaction; each row is updated only if it still holds the
    index read. ``max_rows`` stops after that many rows were looked at (a bounded step; the
    next pass resumes where the stored indexes say)."""
    report = report or ReindexReport()
    cipher.refresh(force=True)
    active = cipher.active_index_version
    started = time.perf_counter()
    every = index_columns(engine)
    specs = columns if columns is not None else every
    sources = [s for s in every if s.source is not None]  # what explains an index-only column
    seen = 0
    for spec in specs:
        for rows in _stale(engine, spec, active, batch):
            if max_rows is not None:
                rows = rows[: max(0, max_rows - seen)]
            updates: list[dict[str, object]] = []
            with engine.connect() as conn:
                for row_id, old, token in rows:
                    if spec.source is not None:
                        value = _plaintext(cipher, old, token)
                    else:
                        value = _explained_by_others(conn, cipher, sources, old)
                    if value is None:
                        report.unexplained += 1
                        continue
                    new = cipher.blind_index_under(value, active)
                    updates.append({"b_pk": row_id, "b_old": old, "b_new": new})
            if updates:
                done, conflicts = _write(engine, spec, updates)
                report.rewritten += done
                report.conflicts += conflicts
                report.raced += len(updates) - done - conflicts
                report.per_column[spec.name] = report.per_column.get(spec.name, 0) + done
            seen += len(rows)
            if progress is not None:
                progress(spec.name, len(rows))
            if max_rows is not None and seen >= max_rows:
                break
        if max_rows is not None and seen >= max_rows:
            break
    report.passes += 1
    report.seconds += time.perf_counter() - started
    return report


def reindex(
    engine: Engine,
    cipher: PiiCipher,
    *,
    batch: int = 500,
    progress: Callable[[str, int], None] | None = None,
    max_passes: int = 10,
) -> ReindexReport:
    """Passes until one rewrites nothing (a row left as unexplained stays so on every pass)."""
    report = ReindexReport()
    columns = index_columns(engine)
    while report.passes < max_passes:
        before = report.rewritten
        reindex_pass(engine, cipher, batch=batch, columns=columns, progress=progress, report=report)
        if report.rewritten == before:
            break
        report.unexplained = report.raced = report.conflicts = 0  # counted again by the next
    return report
