"""The object store for downloaded media: files under ``<data_dir>/media/``, named by content.

A file is written to a temporary name and renamed, so a crash never leaves half a file under the
final name; saving the same bytes twice keeps one copy.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

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
    """Content-addressed files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, mime_type: str) -> Path:
        """Store ``data`` and return its path (``<sha256[:2]>/<sha256><ext>``)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest[:2] / f"{digest}{extension_for(mime_type)}"
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(data)
        os.replace(temp, path)
        return path

    def get(self, path: Path) -> bytes:
        resolved = path.resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError("path is outside the object store")
        return resolved.read_bytes()
