"""The PII key ring: add a key version, re-encrypt every PII column under it, retire the old.

The ring lives in the database (``core_pii_keys``), so every process and host of a platform
sees the same one; later keys are random and stored wrapped under a key derived from the
platform's secret (:class:`~ssmas.core.security.pii.PiiCipher.wrap`), so a copy of the
database alone decrypts nothing.

Rotation without downtime, in four steps (``ssmas keys pii rotate`` runs the first three):

1. :func:`add_key` makes a new version active and the old one ``decrypt``-only. Processes
   encrypt under the new key within ``ops.pii_key_refresh_s``; every process decrypts both
   keys throughout (a process meeting an unknown key id re-reads the ring at once).
2. :func:`reencrypt` walks every PII column in primary-key batches and rewrites each
   ciphertext not under the active key with a compare-and-set ``UPDATE`` (a row the platform
   changed meanwhile is left to the platform, whose write is under a key it holds).
3. A final pass after the refresh interval catches rows a process wrote under the old key
   before it noticed the rotation. :func:`key_usage` counts ciphertexts per key.
4. :func:`retire_key`, once ``ops.pii_retire_after_s`` passed and no ciphertext names the key,
   marks it retired and deletes its wrapped material.

PII columns are found by the schema's convention: every text column named ``*_enc`` of a table
with a one-column integer primary key (the assistant's conversations and messages, the
campaigns' leads and send ledger, and whatever a product adds later). PII files by the data
directory's: every ``*.enc`` file under ``<data_dir>/media`` (``PII_FILE_DIRS``: the assistant's
downloaded media, encrypted with ``PiiCipher.encrypt_bytes``); the functions that count,
re-encrypt or retire take ``files_root`` (the data directory) to include them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.engine import make_engine, normalize_database_url
from ssmas.core.db.models import PiiKey
from ssmas.core.security.audit import record_audit
from ssmas.core.security.pii import (
    BASE_KEY_ID,
    PiiCipher,
    PiiDecryptError,
    RingEntry,
    RingLoader,
    token_key_id,
    token_prefix,
)

ACTIVE, DECRYPT, RETIRED = "active", "decrypt", "retired"
ENC_SUFFIX = "_enc"
PII_FILE_DIRS = ("media",)  # folders of the data directory holding files under the PII key
PII_FILE_SUFFIX = ".enc"


class PiiKeyRingError(ValueError):
    """A ring operation that can't be done now (a key still in use, unknown, too young)."""


# -- reading the ring (every process) ----------------------------------------------------------

_loaders: dict[str, RingLoader] = {}
_loaders_lock = threading.Lock()


def read_ring(session: Session) -> list[RingEntry]:
    rows = session.scalars(sa.select(PiiKey).order_by(PiiKey.id))
    return [RingEntry(row.id, row.state, row.wrapped) for row in rows]


def ring_loader_for(database_url: str) -> RingLoader | None:
    """A loader reading the ring from ``database_url`` (one small engine per URL and process).

    None for an in-memory SQLite database (nothing another process could share). A database
    not made yet, or without the table, reads as "no ring": the cipher keeps key 1.
    """
    parsed = normalize_database_url(database_url)
    memory = parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    if parsed.get_backend_name() == "sqlite" and memory:
        return None
    with _loaders_lock:
        loader = _loaders.get(database_url)
        if loader is None:
            loader = _make_loader(database_url)
            _loaders[database_url] = loader
        return loader


def _make_loader(database_url: str) -> RingLoader:
    parsed = normalize_database_url(database_url)
    sqlite = parsed.get_backend_name() == "sqlite"
    sqlite_path = Path(parsed.database or "") if sqlite else None
    holder: dict[str, Engine] = {}

    def load() -> list[RingEntry] | None:
        if sqlite_path is not None and not sqlite_path.exists():
            return None  # don't create a database just to find it has no ring
        engine = holder.get("engine")
        if engine is None:
            engine = holder["engine"] = make_engine(database_url)
        try:
            with Session(engine) as session:
                return read_ring(session)
        except sa.exc.SQLAlchemyError:
            return None  # not migrated yet, or the database is briefly away: keep the ring

    return load


# -- changing the ring (the operator) ---------------------------------------------------------


def _ensure_base_row(session: Session, now: datetime) -> None:
    if session.get(PiiKey, BASE_KEY_ID) is None:
        session.add(PiiKey(id=BASE_KEY_ID, state=ACTIVE, wrapped=None, created_at=now))
        session.flush()


def add_key(session: Session, cipher: PiiCipher, *, actor: str, now: datetime | None = None) -> int:
    """Make a new random key version active; the previous active one becomes decrypt-only.

    The caller commits. Returns the new key id. Audited as ``pii_key.rotated``.
    """
    moment = now or utcnow()
    _ensure_base_row(session, moment)
    rows = list(
        session.scalars(
            sa.select(PiiKey).where(PiiKey.id > 0).with_for_update().order_by(PiiKey.id)
        )
    )
    previous = [row for row in rows if row.state == ACTIVE]
    new_id = max(row.id for row in rows) + 1
    for row in previous:
        row.state = DECRYPT
        row.deactivated_at = moment
    session.add(
        PiiKey(
            id=new_id, state=ACTIVE, wrapped=cipher.wrap(Fernet.generate_key()), created_at=moment
        )
    )
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="pii_key.rotated",
        target=f"k{new_id}",
        details={"previous": [f"k{row.id}" for row in previous]},
        at=moment,
    )
    return new_id


@dataclass(frozen=True)
class PiiColumn:
    """One PII column: its table, the table's integer primary key, and the column."""

    table: str
    pk: str
    column: str

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def pii_columns(engine: Engine) -> list[PiiColumn]:
    """Every ``*_enc`` text column of a table with a one-column primary key, by reflection."""
    inspector = sa.inspect(engine)
    found: list[PiiColumn] = []
    for table in sorted(inspector.get_table_names()):
        pk = inspector.get_pk_constraint(table).get("constrained_columns") or []
        if len(pk) != 1:
            continue
        for column in inspector.get_columns(table):
            if column["name"].endswith(ENC_SUFFIX) and isinstance(column["type"], sa.Text):
                found.append(PiiColumn(table, pk[0], column["name"]))
    return found


def _key_filter(col: sa.ColumnClause[str], key_id: int) -> sa.ColumnElement[bool]:
    """Rows whose ciphertext is under ``key_id`` (key 1's tokens are bare Fernet tokens)."""
    if key_id == BASE_KEY_ID:
        return sa.not_(col.like("k%:%"))
    return col.like(f"{token_prefix(key_id)}%")


def pii_files(root: Path | None) -> list[Path]:
    """Every PII file under ``root`` (the data directory), or none without one."""
    if root is None:
        return []
    found: list[Path] = []
    for folder in PII_FILE_DIRS:
        base = root / folder
        if base.is_dir():
            found += sorted(
                p
                for p in base.rglob(f"*{PII_FILE_SUFFIX}")
                if p.is_file() and not p.name.startswith(".")
            )
    return found


def file_key_id(path: Path) -> int:
    """The key id a PII file's ciphertext names (read from its first bytes)."""
    with path.open("rb") as handle:
        head = handle.read(16).decode("ascii", errors="replace")
    return token_key_id(head)


def key_usage(
    engine: Engine, columns: list[PiiColumn] | None = None, *, files_root: Path | None = None
) -> dict[int, int]:
    """How many ciphertexts each key id holds, over every PII column (one grouped scan each)
    and, with ``files_root``, every PII file."""
    usage: dict[int, int] = {}
    for path in pii_files(files_root):
        key_id = file_key_id(path)
        usage[key_id] = usage.get(key_id, 0) + 1
    for spec in columns if columns is not None else pii_columns(engine):
        col = sa.column(spec.column, sa.Text)
        # "k12:..." -> 12; a bare Fernet token -> 1.
        key_expr = sa.case(
            (col.like("k%:%"), sa.func.substr(col, 2, sa.func.instr(col, ":") - 2)),
            else_=sa.literal("1"),
        )
        if engine.dialect.name == "postgresql":
            key_expr = sa.case(
                (col.like("k%:%"), sa.func.split_part(col, ":", 1)), else_=sa.literal("k1")
            )
        query = (
            sa.select(key_expr, sa.func.count())
            .select_from(sa.table(spec.table, col))
            .where(col.is_not(None))
            .group_by(key_expr)
        )
        with engine.connect() as conn:
            for key, count in conn.execute(query):
                key_id = int(str(key).lstrip("k"))
                usage[key_id] = usage.get(key_id, 0) + int(count)
    return usage


@dataclass
class ReencryptReport:
    """What a re-encryption did: rows rewritten, skipped (changed meanwhile), failed, time."""

    rewritten: int = 0
    raced: int = 0
    undecryptable: int = 0
    passes: int = 0
    seconds: float = 0.0
    per_column: dict[str, int] = field(default_factory=dict)
    files: int = 0


def reencrypt_files(root: Path | None, cipher: PiiCipher, report: ReencryptReport) -> None:
    """Rewrite every PII file not under the active key (to a temporary name, then renamed over
    it, so a reader sees the old file or the new one, both readable while the old key is held).
    A file's name does not depend on the key, so nothing pointing at it changes."""
    active = cipher.active_key_id
    for path in pii_files(root):
        if file_key_id(path) == active:
            continue
        try:
            data = cipher.decrypt_bytes(path.read_bytes())
        except (PiiDecryptError, FileNotFoundError):
            report.undecryptable += 1
            continue
        temp = path.with_name(f".{path.name}.{os.getpid()}.rekey")
        temp.write_bytes(cipher.encrypt_bytes(data))
        os.replace(temp, path)
        report.files += 1


def _batches(
    engine: Engine, spec: PiiColumn, active: int, batch: int
) -> Iterator[list[tuple[int, str]]]:
    pk = sa.column(spec.pk, sa.Integer)
    col = sa.column(spec.column, sa.Text)
    table = sa.table(spec.table, pk, col)
    last = None
    while True:
        query = (
            sa.select(pk, col)
            .select_from(table)
            .where(col.is_not(None), sa.not_(_key_filter(col, active)))
            .order_by(pk)
            .limit(batch)
        )
        if last is not None:
            query = query.where(pk > last)
        with engine.connect() as conn:
            rows = [(int(r[0]), str(r[1])) for r in conn.execute(query)]
        if not rows:
            return
        last = rows[-1][0]
        yield rows


def reencrypt_pass(
    engine: Engine,
    cipher: PiiCipher,
    *,
    batch: int = 500,
    columns: list[PiiColumn] | None = None,
    progress: Callable[[str, int], None] | None = None,
    report: ReencryptReport | None = None,
    files_root: Path | None = None,
) -> ReencryptReport:
    """One pass over every PII column (and PII file under ``files_root``): rewrite each
    ciphertext not under the active key.

    Each batch is its own short transaction (readers and writers of the platform wait at most
    one batch); each row is updated only if it still holds the ciphertext read, so a value the
    platform rewrote meanwhile is never overwritten with an older one.
    """
    report = report or ReencryptReport()
    cipher.refresh(force=True)
    active = cipher.active_key_id
    started = time.perf_counter()
    for spec in columns if columns is not None else pii_columns(engine):
        pk = sa.column(spec.pk, sa.Integer)
        col = sa.column(spec.column, sa.Text)
        table = sa.table(spec.table, pk, col)
        update = (
            table.update()
            .where(pk == sa.bindparam("b_pk"), col == sa.bindparam("b_old"))
            .values({spec.column: sa.bindparam("b_new")})
        )
        for rows in _batches(engine, spec, active, batch):
            params = []
            for row_id, token in rows:
                try:
                    params.append(
                        {"b_pk": row_id, "b_old": token, "b_new": cipher.reencrypt(token)}
                    )
                except PiiDecryptError:
                    report.undecryptable += 1
            if params:
                with engine.begin() as conn:
                    done = 0
                    for item in params:  # executemany's rowcount isn't reliable on every driver
                        done += conn.execute(update, item).rowcount
                report.rewritten += done
                report.raced += len(params) - done
                report.per_column[spec.name] = report.per_column.get(spec.name, 0) + done
            if progress is not None:
                progress(spec.name, len(rows))
    reencrypt_files(files_root, cipher, report)
    report.passes += 1
    report.seconds += time.perf_counter() - started
    return report


def reencrypt(
    engine: Engine,
    cipher: PiiCipher,
    *,
    settle_s: float,
    batch: int = 500,
    progress: Callable[[str, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_passes: int = 10,
    files_root: Path | None = None,
) -> ReencryptReport:
    """Passes until one that starts ``settle_s`` after the rotation finds nothing to rewrite.

    ``settle_s`` is the ring refresh interval (plus a margin): after it, no process still
    encrypts under an old key, so a pass finding nothing leaves nothing behind.
    """
    report = ReencryptReport()
    one_pass = partial(
        reencrypt_pass,
        engine,
        cipher,
        batch=batch,
        columns=pii_columns(engine),
        progress=progress,
        report=report,
        files_root=files_root,
    )
    started = time.monotonic()
    one_pass()
    waited = time.monotonic() - started
    if waited < settle_s:
        sleep(settle_s - waited)
    while report.passes < max_passes:
        before = report.rewritten + report.files
        one_pass()
        if report.rewritten + report.files == before:
            break
    return report


def retire_key(
    session: Session,
    engine: Engine,
    key_id: int,
    *,
    actor: str,
    retire_after_s: float,
    now: datetime | None = None,
    files_root: Path | None = None,
) -> None:
    """Retire ``key_id``: refused while it is active, too recently active, or still used.

    Its wrapped material is deleted; ciphertexts under it could no longer be read. The caller
    commits. Audited as ``pii_key.retired``.
    """
    moment = now or utcnow()
    _ensure_base_row(session, moment)
    row = session.get(PiiKey, key_id, with_for_update=True)
    if row is None:
        raise PiiKeyRingError(f"no PII key k{key_id} (see `ssmas keys pii status`)")
    if row.state == RETIRED:
        raise PiiKeyRingError(f"PII key k{key_id} is already retired")
    if row.state == ACTIVE:
        raise PiiKeyRingError(f"PII key k{key_id} is the active key: rotate first")
    since = row.deactivated_at or row.created_at
    ready_at = since + timedelta(seconds=retire_after_s)
    if moment < ready_at:
        wait = (ready_at - moment).total_seconds()
        raise PiiKeyRingError(
            f"PII key k{key_id} stopped encrypting {since:%H:%M:%S} UTC; messages sealed under "
            f"it may still be in flight: retire it in {wait:.0f} s (SSMAS_OPS_PII_RETIRE_AFTER_S)"
        )
    used = key_usage(engine, files_root=files_root).get(key_id, 0)
    if used:
        raise PiiKeyRingError(
            f"{used} ciphertexts are still under PII key k{key_id}: "
            "run `ssmas keys pii reencrypt` first"
        )
    row.state = RETIRED
    row.wrapped = None
    row.retired_at = moment
    session.flush()
    record_audit(session, actor=actor, action="pii_key.retired", target=f"k{key_id}", at=moment)


@dataclass(frozen=True)
class KeyStatus:
    """One key version as ``ssmas keys pii status`` shows it."""

    id: int
    state: str
    created_at: datetime | None
    deactivated_at: datetime | None
    retired_at: datetime | None
    ciphertexts: int


def ring_status(
    session: Session, engine: Engine, *, files_root: Path | None = None
) -> list[KeyStatus]:
    """Every key version with its state and how many ciphertexts it holds."""
    query = sa.select(PiiKey).where(PiiKey.id > 0).order_by(PiiKey.id)  # < 0: blind-index keys
    rows = {row.id: row for row in session.scalars(query)}
    usage = key_usage(engine, files_root=files_root)
    if not rows:
        return [KeyStatus(BASE_KEY_ID, ACTIVE, None, None, None, usage.get(BASE_KEY_ID, 0))]
    return [
        KeyStatus(
            row.id,
            row.state,
            row.created_at,
            row.deactivated_at,
            row.retired_at,
            usage.get(row.id, 0),
        )
        for row in rows.values()
    ]
