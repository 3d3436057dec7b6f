"""PII encryption round trips, key handling and the blind index."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ssmas.core.security import PiiCipher, PiiDecryptError, PiiKeyError, pii_cipher_from_settings
from ssmas.settings import DEV_SECRET, Settings


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default data directory (``.ssmas``) is relative: keep it in this test's own folder,
    so a key ring left in the checkout's (a demo's rotation) cannot be read here."""
    monkeypatch.chdir(tmp_path)


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    cipher = pii_cipher_from_settings(Settings(profile="test", secret_key="round-trip-secret"))
    phone = "+34600123456"
    token = cipher.encrypt(phone)
    assert phone not in token
    assert cipher.encrypt(phone) != token  # random IV: equal inputs, different ciphertexts
    assert cipher.decrypt(token) == phone
    assert cipher.decrypt(cipher.encrypt("Ñandú — señora 🙂")) == "Ñandú — señora 🙂"


def test_dev_key_is_derived_from_secret_key_deterministically() -> None:
    a = pii_cipher_from_settings(Settings(profile="dev", secret_key="s1"))
    b = pii_cipher_from_settings(Settings(profile="dev", secret_key="s1"))
    c = pii_cipher_from_settings(Settings(profile="dev", secret_key="s2"))
    assert b.decrypt(a.encrypt("x")) == "x"
    with pytest.raises(PiiDecryptError):
        c.decrypt(a.encrypt("x"))
    assert a.blind_index("+34600123456") == b.blind_index("+34600123456")
    assert a.blind_index("+34600123456") != c.blind_index("+34600123456")


def test_configured_pii_key_is_used_and_independent_of_secret_key() -> None:
    key = Fernet.generate_key().decode()
    one = pii_cipher_from_settings(Settings(profile="test", pii_key=key, secret_key="a"))
    two = pii_cipher_from_settings(Settings(profile="test", pii_key=key, secret_key="b"))
    assert Fernet(key.encode()).decrypt(one.encrypt("hola").encode()) == b"hola"
    assert two.decrypt(one.encrypt("hola")) == "hola"
    assert one.blind_index("v") == two.blind_index("v")


def test_blind_index_is_hex_hmac_and_not_the_encryption_key() -> None:
    cipher = PiiCipher.from_secret("blind-index-secret")
    index = cipher.blind_index("+34600123456")
    assert len(index) == 64 and int(index, 16) >= 0
    assert index != cipher.blind_index("+34600123457")
    assert "+34600123456" not in index


@pytest.mark.parametrize("token", ["", "not-a-token", "gAAAAA" + "x" * 80, "ñ"])
def test_decrypt_rejects_garbage_with_a_clear_error(token: str) -> None:
    cipher = PiiCipher.from_secret("k")
    with pytest.raises(PiiDecryptError, match="invalid"):
        cipher.decrypt(token)


def test_tampered_ciphertext_is_rejected() -> None:
    cipher = PiiCipher.from_secret("k")
    token = cipher.encrypt("secret")
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(flipped)


@pytest.mark.parametrize("bad", ["short", "%%%%", "x" * 44])
def test_invalid_pii_key_raises_key_error(bad: str) -> None:
    with pytest.raises(PiiKeyError, match=r"Fernet|base64"):
        pii_cipher_from_settings(Settings(profile="test", pii_key=bad))


@pytest.mark.parametrize("public", [DEV_SECRET, "changeme", " Secret "])
def test_the_pii_key_is_never_derived_from_a_public_placeholder(public: str) -> None:
    with pytest.raises(PiiKeyError, match="placeholder"):
        PiiCipher.from_secret(public)


def test_without_a_secret_key_the_pii_key_comes_from_the_data_directory(tmp_path: Path) -> None:
    one = pii_cipher_from_settings(Settings(profile="dev", data_dir=tmp_path / "a"))
    same = pii_cipher_from_settings(Settings(profile="dev", data_dir=tmp_path / "a"))
    other = pii_cipher_from_settings(Settings(profile="dev", data_dir=tmp_path / "b"))
    assert same.decrypt(one.encrypt("+34600123456")) == "+34600123456"
    with pytest.raises(PiiDecryptError):
        other.decrypt(one.encrypt("+34600123456"))
    legacy = PiiCipher.from_pii_key(base64.urlsafe_b64encode(_legacy_dev_key()).decode())
    with pytest.raises(PiiDecryptError):  # the key the public default used to give
        one.decrypt(legacy.encrypt("x"))


def _legacy_dev_key() -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ssmas/pii/fernet/v1"
    ).derive(DEV_SECRET.encode())


def test_prod_without_pii_key_is_refused() -> None:
    settings = Settings(profile="test", secret_key="prod-guard-secret")
    settings.profile = "prod"  # bypass the settings validator to test the cipher's own guard
    with pytest.raises(PiiKeyError, match="SSMAS_PII_KEY"):
        pii_cipher_from_settings(settings)
