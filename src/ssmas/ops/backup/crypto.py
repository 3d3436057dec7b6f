"""Backup encryption: AES-256-GCM in 1 MiB chunks, streamed, with a SHA-256 of each side.

A backup key is 32 random bytes written as url-safe base64 (``SSMAS_OPS_BACKUP_KEY``). Three
keys are derived from it with HMAC-SHA256: one encrypts, one signs the manifest, one names the
key (``key_id``, so a backup made with another key is refused with that reason, not a
checksum error).

An encrypted file is ``MAGIC`` + an 8-byte random nonce prefix, then per chunk a 4-byte length
and the AES-GCM ciphertext of up to 1 MiB; chunk ``i``'s nonce is the prefix + ``i``, and its
associated data says whether it is the last one, so a reordered, dropped or truncated chunk
fails authentication. Memory stays at one chunk whatever the file's size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["BackupKey", "CryptoError", "decrypt_file", "encrypt_file", "generate_key"]

MAGIC = b"SSMASBK1"
CHUNK = 1 << 20
_LAST = b"\x01"
_MORE = b"\x00"


class CryptoError(ValueError):
    """A key that is not one, or a file that fails authentication."""


def generate_key() -> str:
    """A new random backup key (url-safe base64 of 32 bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True)
class BackupKey:
    """The keys derived from one backup key."""

    encryption: bytes
    mac: bytes
    key_id: str

    @classmethod
    def parse(cls, text: str) -> BackupKey:
        try:
            raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise CryptoError(
                "the backup key must be 32 url-safe base64 bytes "
                "(`ssmas backup key` prints a new one)"
            )

        def derive(label: bytes) -> bytes:
            return hmac.new(raw, b"ssmas-backup/" + label, hashlib.sha256).digest()

        return cls(derive(b"encrypt"), derive(b"mac"), derive(b"id")[:8].hex())

    def sign(self, body: bytes) -> str:
        return hmac.new(self.mac, body, hashlib.sha256).hexdigest()


def encrypt_file(key: BackupKey, source: Path, target: Path) -> tuple[int, str, str]:
    """Encrypt ``source`` into ``target``; ``(plain size, plain sha256, encrypted sha256)``."""
    aead = AESGCM(key.encryption)
    prefix = os.urandom(8)
    plain_hash, blob_hash = hashlib.sha256(), hashlib.sha256()
    size = 0
    with source.open("rb") as src, target.open("wb") as out:

        def emit(data: bytes) -> None:
            out.write(data)
            blob_hash.update(data)

        emit(MAGIC + prefix)
        index = 0
        chunk = src.read(CHUNK)
        while True:
            following = src.read(CHUNK) if len(chunk) == CHUNK else b""
            last = not following
            plain_hash.update(chunk)
            size += len(chunk)
            sealed = aead.encrypt(
                prefix + struct.pack(">I", index), chunk, _LAST if last else _MORE
            )
            emit(struct.pack(">I", len(sealed)) + sealed)
            if last:
                break
            chunk, index = following, index + 1
        out.flush()
        os.fsync(out.fileno())
    return size, plain_hash.hexdigest(), blob_hash.hexdigest()


def decrypt_file(key: BackupKey, source: Path, target: Path) -> tuple[int, str]:
    """Decrypt ``source`` into ``target``; ``(plain size, plain sha256)``; ``CryptoError`` when
    any chunk fails authentication or the file ends early."""
    aead = AESGCM(key.encryption)
    plain_hash = hashlib.sha256()
    size = 0
    with source.open("rb") as src, target.open("wb") as out:
        head = src.read(len(MAGIC) + 8)
        if len(head) != len(MAGIC) + 8 or not head.startswith(MAGIC):
            raise CryptoError(f"{source.name} is not an encrypted backup file")
        prefix = head[len(MAGIC) :]
        index = 0
        while True:
            length_bytes = src.read(4)
            if len(length_bytes) != 4:
                raise CryptoError(f"{source.name} is truncated")
            (length,) = struct.unpack(">I", length_bytes)
            sealed = src.read(length)
            if len(sealed) != length:
                raise CryptoError(f"{source.name} is truncated")
            nonce = prefix + struct.pack(">I", index)
            at_end = src.peek(1) == b"" if hasattr(src, "peek") else False
            try:
                chunk = aead.decrypt(nonce, sealed, _LAST if at_end else _MORE)
            except InvalidTag:
                raise CryptoError(
                    f"{source.name} fails authentication (tampered, or another key)"
                ) from None
            plain_hash.update(chunk)
            size += len(chunk)
            out.write(chunk)
            if at_end:
                break
            index += 1
        out.flush()
        os.fsync(out.fileno())
    return size, plain_hash.hexdigest()
