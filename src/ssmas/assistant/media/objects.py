"""The object store for downloaded media: files under ``<data_dir>/media/``, named by content.

Media is personal data (a customer's voice, their invoice): with a cipher, every file is
encrypted at rest like the rest of the PII (a Fernet token) and named by the blind index of its
content's hash, so neither the bytes nor a hash an outsider could match against a known file
are on disk. A file is written to a temporary name and renamed, so a crash never leaves half a
file under the final name; saving the same bytes twice keeps one copy.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

from ssmas.core.security import PiiCipher

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "text/plain": ".txt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def extension_for(mime_type: str) -> str:
    """A file extension for a MIME type (parameters such as ``; codecs=opus`` ignored)."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return _EXTENSIONS.get(base) or mimetypes.guess_extension(base) or ".bin"


class ObjectStore:
    """Content-addressed files under one root directory, encrypted when given a cipher."""

    def __init__(self, root: Path, cipher: PiiCipher | None = None) -> None:
        self.root = root
        self.cipher = cipher

    def put(self, data: bytes, mime_type: str) -> Path:
        """Store ``data`` and return its path (``<name[:2]>/<name><ext>``, ``.enc`` added when
        encrypted)."""
        name = hashlib.sha256(data).hexdigest()
        suffix = extension_for(mime_type)
        if self.cipher is not None:
            name = self.cipher.blind_index(name)
            suffix += ".enc"
        path = self.root / name[:2] / f"{name}{suffix}"
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(data if self.cipher is None else self.cipher.encrypt_bytes(data))
        os.replace(temp, path)
        return path

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError("path is outside the object store")
        return resolved

    def get(self, path: Path) -> bytes:
        """The plain bytes of a stored file (``PiiDecryptError`` under another key)."""
        resolved = self._inside(path)
        raw = resolved.read_bytes()
        if resolved.suffix == ".enc":
            if self.cipher is None:
                raise ValueError("this file is encrypted and the store has no key")
            return self.cipher.decrypt_bytes(raw)
        return raw

    def delete(self, path: Path) -> bool:
        """Remove a stored file; False when it was already gone."""
        resolved = self._inside(path)
        try:
            resolved.unlink()
        except FileNotFoundError:
            return False
        return True

    def files(self) -> list[Path]:
        """Every stored file (temporary files of writes in progress excluded)."""
        if not self.root.exists():
            return []
        return sorted(
            p for p in self.root.glob("*/*") if p.is_file() and not p.name.startswith(".")
        )
