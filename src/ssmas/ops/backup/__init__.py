"""Backup and disaster recovery of the platform's state (issue 18, item 4).

:mod:`ssmas.ops.backup.archive` makes, verifies and restores encrypted, checksummed backups and
runs the DR drill; :mod:`ssmas.ops.backup.crypto` is the streaming encryption;
``ssmas backup ...`` and ``ssmas dr drill`` are the commands, and the ops product's ``backup``
worker makes one every ``SSMAS_OPS_BACKUP_INTERVAL_S`` seconds and applies the retention.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from ssmas.ops.backup.archive import BackupError, BackupStore, Source
from ssmas.ops.backup.crypto import BackupKey, CryptoError, generate_key

if TYPE_CHECKING:
    from ssmas.settings import Settings

__all__ = ["KEY_FILE", "backup_dir", "backup_key", "source_for", "store_for"]

KEY_FILE = "backup_key"


def backup_dir(settings: Settings) -> Path:
    return settings.ops.backup_dir or settings.data_dir / "backups"


def _key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def backup_key(settings: Settings, *, create: bool) -> BackupKey:
    """The backup key: ``SSMAS_OPS_BACKUP_KEY``, else (not in prod) the data directory's own,
    made once (0600) when ``create``. ``BackupError`` with one line otherwise."""
    text = settings.ops.backup_key
    if text is None:
        if settings.profile == "prod":
            raise BackupError("SSMAS_OPS_BACKUP_KEY must be set when SSMAS_PROFILE=prod")
        path = _key_path(settings)
        if not path.is_file():
            if not create:
                raise BackupError(
                    f"no backup key: set SSMAS_OPS_BACKUP_KEY (no {KEY_FILE} in the data dir)"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".{KEY_FILE}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(generate_key() + "\n")
            try:
                with contextlib.suppress(FileExistsError):  # another process won: use theirs
                    os.link(draft, path)
            finally:
                draft.unlink()
        text = path.read_text(encoding="ascii").strip()
    try:
        return BackupKey.parse(text)
    except CryptoError as exc:
        raise BackupError(str(exc)) from None


def source_for(settings: Settings) -> Source:
    """What a backup of ``settings``' platform saves (the key file and backups excluded)."""
    return Source.from_settings(
        settings,
        exclude=(backup_dir(settings), _key_path(settings), settings.data_dir / "ops-stack"),
    )


def store_for(settings: Settings, *, create_key: bool = False) -> BackupStore:
    return BackupStore(backup_dir(settings), backup_key(settings, create=create_key))
