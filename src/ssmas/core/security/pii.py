"""Encryption of personal data at rest (Fernet) plus a blind index for equality lookups.

The blind index is an HMAC under a key separate from the encryption key, so an encrypted phone
number can be found by value without decrypting the table. Normalise values (e.g. E.164)
before indexing: the index matches exact strings only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ssmas.core.security.secret_file import resolve_secret_key
from ssmas.settings import PLACEHOLDER_SECRETS, Settings

_FERNET_INFO = b"ssmas/pii/fernet/v1"
_INDEX_INFO = b"ssmas/pii/blind-index/v1"


class PiiKeyError(ValueError):
    """The configured PII key is missing or not a valid Fernet key."""


class PiiDecryptError(ValueError):
    """A ciphertext that this key did not produce, or that was altered."""


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


class PiiCipher:
    """Encrypt and decrypt personal data; ``blind_index`` gives a stable lookup token."""

    def __init__(self, fernet_key: str | bytes, index_key: bytes) -> None:
        try:
            self._fernet = Fernet(fernet_key)
        except (ValueError, TypeError) as exc:
            raise PiiKeyError(
                "PII key must be a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            ) from exc
        if len(index_key) < 32:
            raise PiiKeyError("blind-index key must be at least 32 bytes")
        self._index_key = index_key

    @classmethod
    def from_pii_key(cls, pii_key: str) -> PiiCipher:
        """Use ``pii_key`` (a Fernet key) to encrypt; derive the index key from it with HKDF."""
        try:
            material = base64.urlsafe_b64decode(pii_key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise PiiKeyError("PII key is not url-safe base64") from exc
        return cls(pii_key, _hkdf(material, _INDEX_INFO))

    @classmethod
    def from_secret(cls, secret: str) -> PiiCipher:
        """Derive both keys from an application secret (for dev and test: zero setup).

        A public placeholder (``dev-secret``, ``changeme``...) is refused: a key derived from a
        value printed in the source would protect nothing.
        """
        if secret.strip().lower() in PLACEHOLDER_SECRETS:
            raise PiiKeyError("the PII key can't be derived from a public placeholder secret")
        material = secret.encode("utf-8")
        fernet_key = base64.urlsafe_b64encode(_hkdf(material, _FERNET_INFO))
        return cls(fernet_key, _hkdf(material, _INDEX_INFO))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise PiiDecryptError("ciphertext is invalid or was made with another key") from exc

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Encrypt a file's bytes (media, exports): a Fernet token, itself ASCII bytes."""
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise PiiDecryptError("ciphertext is invalid or was made with another key") from exc

    def blind_index(self, value: str) -> str:
        """Hex HMAC-SHA256 of ``value``: equal inputs give equal tokens, nothing else leaks."""
        return hmac.new(self._index_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def pii_cipher_from_settings(settings: Settings) -> PiiCipher:
    """The cipher for ``settings.pii_key``; in dev and test, one derived from the platform
    secret (``SSMAS_SECRET_KEY``, else the data directory's random ``secret_key`` file)."""
    if settings.pii_key:
        return PiiCipher.from_pii_key(settings.pii_key)
    if settings.profile in ("dev", "test"):
        return PiiCipher.from_secret(resolve_secret_key(settings))
    raise PiiKeyError("SSMAS_PII_KEY must be set when SSMAS_PROFILE=prod")
