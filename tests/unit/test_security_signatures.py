"""X-Hub-Signature-256 signing and verification, against WhatsApp payload samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssmas.core.security import sign_sha256, verify_sha256

DATA_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
WHATSAPP_DIR = DATA_DIR / "whatsapp"
SIGNATURES = WHATSAPP_DIR / "signatures.json"


def load_samples() -> tuple[bytes, dict[str, str]]:
    if not SIGNATURES.is_file():
        pytest.skip(f"WhatsApp samples not found at {SIGNATURES} (shared data dir absent)")
    manifest = json.loads(SIGNATURES.read_text())
    return manifest["app_secret_used_for_tests"].encode(), manifest["signatures"]


def test_sign_matches_every_recorded_signature() -> None:
    secret, signatures = load_samples()
    assert len(signatures) >= 10
    for filename, header in signatures.items():
        body = (WHATSAPP_DIR / filename).read_bytes()
        assert sign_sha256(secret, body) == header, filename
        assert verify_sha256(secret, body, header), filename


def test_verify_rejects_tampered_body_wrong_secret_and_swapped_signature() -> None:
    secret, signatures = load_samples()
    (first, first_sig), (_, second_sig) = list(signatures.items())[:2]
    body = (WHATSAPP_DIR / first).read_bytes()
    assert not verify_sha256(secret, body + b" ", first_sig)
    assert not verify_sha256(secret, body.replace(b"{", b"{ ", 1), first_sig)
    assert not verify_sha256(b"another_secret", body, first_sig)
    assert not verify_sha256(secret, body, second_sig)


def test_verify_accepts_upper_case_hex_and_surrounding_space() -> None:
    header = sign_sha256(b"k", b"body")
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify_sha256(b"k", b"body", "SHA256=" + header[7:].upper())
    assert verify_sha256(b"k", b"body", f"  {header} ")


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "deadbeef", "sha256=zz", "sha256=ü" * 3, "sha256"],
)
def test_verify_rejects_missing_or_malformed_headers(header: str | None) -> None:
    assert not verify_sha256(b"k", b"body", header)


def test_verify_rejects_signature_without_scheme() -> None:
    header = sign_sha256(b"k", b"body")
    assert not verify_sha256(b"k", b"body", header.removeprefix("sha256="))
