"""The platform secret: ``SSMAS_SECRET_KEY``, else a random one kept in the data directory.

A data directory without the setting gets 32 random bytes written once to
``<data_dir>/secret_key`` (mode 0600; written whole, then linked into place, so two processes
starting together agree on one), and every process on that directory reads the same value
back. No public default exists any more: a session cookie or a PII key can't be made from a
value printed in the source.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ssmas.settings import Settings

SECRET_FILE = "secret_key"
SECRET_BYTES = 32
_MIN_FILE_CHARS = 32


class SecretFileError(RuntimeError):
    """The data directory's secret file is unreadable, or too short to be one we wrote."""


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def _read(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if len(value) < _MIN_FILE_CHARS:
        raise SecretFileError(f"{path} holds no usable secret: delete it to make a new one")
    return value


def data_dir_secret(settings: Settings) -> str:
    """The data directory's random secret, written (0600) the first time it is asked for."""
    path = secret_path(settings)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(SECRET_BYTES)
    # Written whole to a private temporary file, then linked into place: link fails if the
    # name exists, so a process starting beside us never reads a half-written secret.
    draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return _read(path)  # another process made it first: use theirs
    finally:
        draft.unlink(missing_ok=True)
    return value


def resolve_secret_key(settings: Settings) -> str:
    """``settings.secret_key`` when set, else the data directory's random secret."""
    return settings.secret_key if settings.secret_key else data_dir_secret(settings)
