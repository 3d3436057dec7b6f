"""Encryption of personal data at rest (Fernet) plus a blind index for equality lookups.

The blind index is an HMAC under a key separate from the encryption key, so an encrypted phone
number can be found by value without decrypting the table. Normalise values (e.g. E.164)
before indexing: the index matches exact strings only.

Key versions: the encryption key rotates (:mod:`ssmas.core.security.pii_keys`). Key 1 is the
one derived from ``SSMAS_PII_KEY`` or the platform secret, and its ciphertexts are bare Fernet
tokens (all data written before rotation existed); a ciphertext of key ``n`` > 1 is
``k<n>:<Fernet token>``. A cipher encrypts with the ring's active key and decrypts with any key
the ring still holds; it re-reads the ring every ``refresh_s`` seconds, and at once when it
meets a key id it does not know.

The blind-index key rotates too (:mod:`ssmas.core.security.pii_index_keys`), kept in the same
ring as versions ``b1``, ``b2``... Version 1 is derived from the same material as key 1 and its
indexes are bare 64-character hex HMACs; an index of version ``n`` > 1 is ``b<n>:`` and the
HMAC's hex cut to fit the same 64 characters. ``blind_index`` computes under the active version
(what is written); ``blind_indexes`` under every version held, active first, for look-ups that
must match rows not yet re-indexed (``column.in_(cipher.blind_indexes(value))``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ssmas.core.security.secret_file import resolve_secret_key
from ssmas.settings import PLACEHOLDER_SECRETS, Settings

_FERNET_INFO = b"ssmas/pii/fernet/v1"
_INDEX_INFO = b"ssmas/pii/blind-index/v1"
_KEK_INFO = b"ssmas/pii/key-wrapping/v1"
BASE_KEY_ID = 1
_TOKEN_KEY_RE = re.compile(r"^k([0-9]{1,9}):")
# A key id the ring does not know makes the cipher re-read the ring, at most this often.
_MISS_REFRESH_S = 1.0
BASE_INDEX_VERSION = 1
INDEX_WIDTH = 64  # every stored blind index fits the columns' String(64)
_INDEX_VERSION_RE = re.compile(r"^b([0-9]{1,9}):")


class PiiKeyError(ValueError):
    """The configured PII key is missing or not a valid Fernet key."""


class PiiDecryptError(ValueError):
    """A ciphertext that this key did not produce, or that was altered."""


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def token_key_id(token: str) -> int:
    """The key id a ciphertext names (1 for a bare Fernet token)."""
    match = _TOKEN_KEY_RE.match(token)
    return int(match.group(1)) if match else BASE_KEY_ID


def token_prefix(key_id: int) -> str:
    """What ciphertexts of ``key_id`` start with ("" for key 1, whose tokens are bare)."""
    return "" if key_id == BASE_KEY_ID else f"k{key_id}:"


def index_version(stored: str) -> int:
    """The blind-index key version a stored index names (1 for a bare hex HMAC)."""
    match = _INDEX_VERSION_RE.match(stored)
    return int(match.group(1)) if match else BASE_INDEX_VERSION


def index_prefix(version: int) -> str:
    """What indexes of ``version`` start with ("" for version 1, whose indexes are bare)."""
    return "" if version == BASE_INDEX_VERSION else f"b{version}:"


def index_row_id(version: int) -> int:
    """The ring row of blind-index version ``version``: its negative (encryption keys are
    the positive ids of the same table)."""
    return -version


@dataclass(frozen=True)
class RingEntry:
    """One key version as the ring's store holds it (``wrapped`` is None for key 1 and for
    blind-index version 1). A negative ``id`` is blind-index version ``-id``."""

    id: int
    state: str  # active | decrypt | retired; blind-index versions: active | lookup | retired
    wrapped: str | None


# Returns the stored ring (None: nothing stored or the store can't be read, keep what we have).
RingLoader = Callable[[], "list[RingEntry] | None"]


class PiiCipher:
    """Encrypt and decrypt personal data; ``blind_index`` gives a stable lookup token."""

    def __init__(
        self,
        fernet_key: str | bytes,
        index_key: bytes,
        *,
        wrap_key: bytes | None = None,
        ring_loader: RingLoader | None = None,
        refresh_s: float = 5.0,
    ) -> None:
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
        self._index_keys: dict[int, bytes] = {BASE_INDEX_VERSION: index_key}
        self._index_active = BASE_INDEX_VERSION
        # Wraps (encrypts) the random keys of later versions where the ring is stored.
        kek = wrap_key if wrap_key is not None else _hkdf(index_key, _KEK_INFO)
        self._kek = Fernet(base64.urlsafe_b64encode(kek))
        self._keys: dict[int, Fernet] = {BASE_KEY_ID: self._fernet}
        self._active = BASE_KEY_ID
        self._loader = ring_loader
        self._refresh_s = refresh_s
        self._loaded_at = float("-inf")
        self._missed_at = float("-inf")
        self._lock = threading.Lock()
        self._miss_lock = threading.Lock()

    @classmethod
    def from_pii_key(cls, pii_key: str) -> PiiCipher:
        """Use ``pii_key`` (a Fernet key) to encrypt; derive the index key from it with HKDF."""
        try:
            material = base64.urlsafe_b64decode(pii_key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise PiiKeyError("PII key is not url-safe base64") from exc
        return cls(pii_key, _hkdf(material, _INDEX_INFO), wrap_key=_hkdf(material, _KEK_INFO))

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
        return cls(fernet_key, _hkdf(material, _INDEX_INFO), wrap_key=_hkdf(material, _KEK_INFO))

    # -- the key ring ---------------------------------------------------------------------

    def with_ring(self, loader: RingLoader, refresh_s: float) -> PiiCipher:
        """This cipher, following the ring ``loader`` reads (every ``refresh_s`` seconds)."""
        self._loader = loader
        self._refresh_s = refresh_s
        self._loaded_at = float("-inf")
        return self

    def wrap(self, fernet_key: bytes) -> str:
        """A new version's key, encrypted for storage in the ring."""
        return self._kek.encrypt(fernet_key).decode("ascii")

    def wrap_index_key(self) -> str:
        """A new blind-index version's random key, wrapped for storage in the ring."""
        return self._kek.encrypt(secrets.token_bytes(32)).decode("ascii")

    def _unwrap(self, entry: RingEntry, name: str) -> bytes:
        try:
            return self._kek.decrypt((entry.wrapped or "").encode("ascii"))
        except (InvalidToken, ValueError) as exc:
            raise PiiKeyError(
                f"PII key {name} was wrapped under another secret: this process's "
                "SSMAS_PII_KEY / SSMAS_SECRET_KEY differs from the one that made it"
            ) from exc

    def _apply_index_ring(self, entries: list[RingEntry]) -> None:
        """Hold the blind-index versions of ``entries`` not retired (version 1 alone, active,
        when the ring has none); compute new indexes under the active one."""
        keys: dict[int, bytes] = {}
        active = None
        for entry in entries:
            version = -entry.id
            if entry.state == "retired":
                continue
            if version == BASE_INDEX_VERSION:
                keys[version] = self._index_key
            elif entry.wrapped:
                keys[version] = self._unwrap(entry, f"b{version}")
            if entry.state == "active":
                active = version
        if not any(entry.id < 0 for entry in entries):
            keys, active = {BASE_INDEX_VERSION: self._index_key}, BASE_INDEX_VERSION
        if active is None or active not in keys:
            active = max(keys) if keys else BASE_INDEX_VERSION
        with self._lock:
            self._index_keys = keys or {BASE_INDEX_VERSION: self._index_key}
            self._index_active = active

    def apply_ring(self, entries: list[RingEntry]) -> None:
        """Hold exactly the keys of ``entries`` that are not retired; encrypt with the active.

        An empty ring means key 1 alone, active. A wrapped key this cipher can't unwrap (the
        ring was made under another secret) raises PiiKeyError. Entries of negative id are
        blind-index versions (held the same way, see ``blind_index``).
        """
        self._apply_index_ring([entry for entry in entries if entry.id < 0])
        entries = [entry for entry in entries if entry.id > 0]
        keys: dict[int, Fernet] = {}
        active = None
        if not entries:
            keys[BASE_KEY_ID] = self._fernet
            active = BASE_KEY_ID
        for entry in entries:
            if entry.state == "retired":
                continue
            if entry.id == BASE_KEY_ID:
                keys[entry.id] = self._fernet
            elif entry.wrapped:
                try:
                    keys[entry.id] = Fernet(self._kek.decrypt(entry.wrapped.encode("ascii")))
                except (InvalidToken, ValueError) as exc:
                    raise PiiKeyError(
                        f"PII key k{entry.id} was wrapped under another secret: this process's "
                        "SSMAS_PII_KEY / SSMAS_SECRET_KEY differs from the one that made it"
                    ) from exc
            if entry.state == "active":
                active = entry.id
        if active is None or active not in keys:
            active = max(keys) if keys else BASE_KEY_ID
        with self._lock:
            self._keys = keys or {BASE_KEY_ID: self._fernet}
            self._active = active

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the ring if it is older than ``refresh_s`` (or at once with ``force``)."""
        if self._loader is None:
            return
        now = time.monotonic()
        if not force and now - self._loaded_at < self._refresh_s:
            return
        self._loaded_at = now
        entries = self._loader()
        if entries is not None:
            self.apply_ring(entries)

    @property
    def active_key_id(self) -> int:
        self.refresh()
        return self._active

    @property
    def key_ids(self) -> list[int]:
        """The key versions this cipher can decrypt, ascending."""
        return sorted(self._keys)

    # -- data -----------------------------------------------------------------------------

    def encrypt(self, plaintext: str) -> str:
        self.refresh()
        with self._lock:
            key_id, fernet = self._active, self._keys[self._active]
        token = fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")
        return token_prefix(key_id) + token

    def _held(self, key_id: int) -> Fernet:
        """The key ``key_id``; a key another process added is found by re-reading the ring (at
        most once a second), threads meeting it meanwhile waiting for that read."""
        fernet = self._keys.get(key_id)
        if fernet is None and self._loader is not None:
            with self._miss_lock:
                fernet = self._keys.get(key_id)
                now = time.monotonic()
                if fernet is None and now - self._missed_at >= _MISS_REFRESH_S:
                    self._missed_at = now
                    self.refresh(force=True)
                    fernet = self._keys.get(key_id)
        if fernet is None:
            raise PiiDecryptError(f"ciphertext is under PII key k{key_id}, which is not held")
        return fernet

    def decrypt(self, token: str) -> str:
        key_id = token_key_id(token)
        fernet = self._held(key_id)
        body = token[len(token_prefix(key_id)) :]
        try:
            return fernet.decrypt(body.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise PiiDecryptError("ciphertext is invalid or was made with another key") from exc

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Encrypt a file's bytes (media, exports) under the active key: the key-tagged Fernet
        token, ASCII bytes."""
        self.refresh()
        with self._lock:
            key_id, fernet = self._active, self._keys[self._active]
        return (token_prefix(key_id) + fernet.encrypt(data).decode("ascii")).encode("ascii")

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise PiiDecryptError("ciphertext is not a Fernet token") from exc
        key_id = token_key_id(text)
        fernet = self._held(key_id)
        try:
            return fernet.decrypt(text[len(token_prefix(key_id)) :].encode("ascii"))
        except InvalidToken as exc:
            raise PiiDecryptError("ciphertext is invalid or was made with another key") from exc

    def reencrypt(self, token: str) -> str:
        """``token``'s plaintext under the active key (the same token if it already is)."""
        if token_key_id(token) == self._active:
            return token
        return self.encrypt(self.decrypt(token))

    @property
    def active_index_version(self) -> int:
        """The blind-index version new indexes are computed under."""
        self.refresh()
        return self._index_active

    @property
    def index_versions(self) -> list[int]:
        """The blind-index versions this cipher can compute, ascending."""
        return sorted(self._index_keys)

    def blind_index_under(self, value: str, version: int) -> str:
        """``value``'s index under blind-index ``version`` (KeyError if it is not held)."""
        return _hmac_index(self._index_keys[version], version, value)

    def blind_index(self, value: str) -> str:
        """Hex HMAC-SHA256 of ``value`` under the active blind-index version: equal inputs give
        equal tokens, nothing else leaks."""
        self.refresh()
        with self._lock:
            version, key = self._index_active, self._index_keys[self._index_active]
        return _hmac_index(key, version, value)

    def blind_indexes(self, value: str) -> list[str]:
        """``value``'s index under every blind-index version held, the active one first: what
        a look-up matches while a rotation re-indexes the stored rows."""
        self.refresh()
        with self._lock:
            active, keys = self._index_active, dict(self._index_keys)
        order = [active, *sorted((v for v in keys if v != active), reverse=True)]
        return [_hmac_index(keys[v], v, value) for v in order]


def index_lookup(cipher: PiiCipher, values: Mapping[str, str]) -> dict[str, str]:
    """``{index: key}``: every index each ``key: value`` of ``values`` has under the
    blind-index versions held. A batch look-up matches ``list(result)`` and maps a stored index
    it finds back to its key, whichever version a rotation left the row under."""
    found: dict[str, str] = {}
    for key, value in values.items():
        for index in cipher.blind_indexes(value):
            found.setdefault(index, key)
    return found


def _hmac_index(key: bytes, version: int, value: str) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    prefix = index_prefix(version)
    return prefix + digest[: INDEX_WIDTH - len(prefix)]


def base_pii_cipher(settings: Settings) -> PiiCipher:
    """The cipher of key 1 alone: ``settings.pii_key``; in dev and test, one derived from the
    platform secret (``SSMAS_SECRET_KEY``, else the data directory's random ``secret_key``)."""
    if settings.pii_key:
        return PiiCipher.from_pii_key(settings.pii_key)
    if settings.profile in ("dev", "test"):
        return PiiCipher.from_secret(resolve_secret_key(settings))
    raise PiiKeyError("SSMAS_PII_KEY must be set when SSMAS_PROFILE=prod")


def pii_cipher_from_settings(settings: Settings) -> PiiCipher:
    """The platform's cipher: key 1 (:func:`base_pii_cipher`) plus the key ring stored in the
    settings' database, re-read every ``ops.pii_key_refresh_s`` seconds."""
    from ssmas.core.security.pii_keys import ring_loader_for

    cipher = base_pii_cipher(settings)
    loader = ring_loader_for(settings.resolved_database_url)
    if loader is not None:
        cipher.with_ring(loader, settings.ops.pii_key_refresh_s)
    return cipher
