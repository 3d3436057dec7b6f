"""OCR with Tesseract (Debian ``tesseract-ocr`` with ``-spa`` and ``-eng``), through its CLI.

The ``OcrEngine`` port has one method; ``TesseractOcr`` pipes the image to ``tesseract stdin
stdout`` so no temporary file is written. A missing binary raises ``OcrUnavailable`` with the
packages to install.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Protocol


class OcrUnavailable(RuntimeError):
    """No OCR engine on this machine (or it failed to run)."""


class OcrEngine(Protocol):
    """Reads the text in an image; returns "" when there is none."""

    def read(self, image: bytes) -> str: ...


class TesseractOcr:
    """Tesseract in Spanish and English by default (``langs`` in Tesseract's ``spa+eng`` form)."""

    def __init__(
        self, langs: str = "spa+eng", *, timeout_s: float = 30.0, binary: str = ""
    ) -> None:
        self.langs = langs
        self.timeout_s = timeout_s
        self.binary = binary or shutil.which("tesseract") or ""

    def available(self) -> bool:
        return bool(self.binary)

    def read(self, image: bytes) -> str:
        if not self.binary:
            raise OcrUnavailable(
                "tesseract not found: apt-get install tesseract-ocr tesseract-ocr-spa "
                "tesseract-ocr-eng"
            )
        try:
            done = subprocess.run(
                [self.binary, "stdin", "stdout", "-l", self.langs, "--psm", "3"],
                input=image,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OcrUnavailable(f"tesseract took longer than {self.timeout_s:g}s") from exc
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise OcrUnavailable(f"tesseract failed: {detail[-1] if detail else done.returncode}")
        return " ".join(done.stdout.decode("utf-8", "replace").split())
