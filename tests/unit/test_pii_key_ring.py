"""The PII cipher's key ring: key ids in ciphertexts, reading old keys, refresh, wrapping."""

from __future__ import annotations

import threading
import time

import pytest
from cryptography.fernet import Fernet

from ssmas.core.security.pii import (
    PiiCipher,
    PiiDecryptError,
    PiiKeyError,
    RingEntry,
    index_version,
    token_key_id,
)


def ring(cipher: PiiCipher, *entries: tuple[int, str]) -> list[RingEntry]:
    keys = {i: cipher.wrap(Fernet.generate_key()) for i, _ in entries if i != 1}
    return [RingEntry(i, state, keys.get(i)) for i, state in entries]


def test_key_one_tokens_stay_bare_and_later_keys_name_themselves() -> None:
    cipher = PiiCipher.from_secret("ring-secret")
    old = cipher.encrypt("+34600123456")
    assert old.startswith("gAAAA") and token_key_id(old) == 1
    cipher.apply_ring(ring(cipher, (1, "decrypt"), (2, "active")))
    new = cipher.encrypt("+34600123456")
    assert new.startswith("k2:") and token_key_id(new) == 2
    assert cipher.decrypt(old) == cipher.decrypt(new) == "+34600123456"
    assert token_key_id(cipher.reencrypt(old)) == 2
    assert cipher.reencrypt(new) == new


def test_a_retired_key_reads_nothing_and_says_which_key() -> None:
    cipher = PiiCipher.from_secret("ring-secret")
    old = cipher.encrypt("x")
    cipher.apply_ring(ring(cipher, (1, "retired"), (2, "active")))
    with pytest.raises(PiiDecryptError, match="k1"):
        cipher.decrypt(old)


def test_another_process_learns_a_new_key_from_the_ring_when_it_meets_one() -> None:
    writer = PiiCipher.from_secret("shared-secret")
    reader = PiiCipher.from_secret("shared-secret")
    stored: list[RingEntry] = []
    writer.with_ring(lambda: list(stored), refresh_s=3600)
    reader.with_ring(lambda: list(stored), refresh_s=3600)
    reader.refresh()  # read once: empty ring, key 1
    stored.extend(ring(writer, (1, "decrypt"), (2, "active")))
    writer.refresh(force=True)
    token = writer.encrypt("hola")
    assert token.startswith("k2:")
    # The reader's ring is an hour from its refresh, but an unknown key id re-reads it.
    assert reader.decrypt(token) == "hola"
    assert reader.key_ids == [1, 2]


def test_a_ring_wrapped_under_another_secret_is_refused() -> None:
    one = PiiCipher.from_secret("secret-one")
    two = PiiCipher.from_secret("secret-two")
    with pytest.raises(PiiKeyError, match="another secret"):
        two.apply_ring(ring(one, (1, "decrypt"), (2, "active")))


def test_an_unreadable_ring_keeps_the_keys_held() -> None:
    cipher = PiiCipher.from_secret("ring-secret")
    entries = ring(cipher, (1, "decrypt"), (2, "active"))
    answers: list[list[RingEntry] | None] = [entries]
    cipher.with_ring(lambda: answers.pop(0) if answers else None, refresh_s=0)
    cipher.refresh()
    assert answers == []
    cipher.refresh()  # the database is away: None
    assert cipher.active_key_id == 2
    assert cipher.encrypt("x").startswith("k2:")


def test_threads_meeting_a_new_key_together_all_wait_for_one_ring_read() -> None:
    writer = PiiCipher.from_secret("shared-secret")
    reader = PiiCipher.from_secret("shared-secret")
    stored = ring(writer, (1, "decrypt"), (2, "active"))
    writer.apply_ring(stored)
    token = writer.encrypt("hola")
    reads: list[int] = []

    def slow_load() -> list[RingEntry]:
        reads.append(1)
        time.sleep(0.2)  # a database read on a busy machine
        return stored

    reader.with_ring(slow_load, refresh_s=3600)
    reader.apply_ring([])  # it holds key 1 only, and won't re-read for an hour
    results: list[str] = []
    errors: list[Exception] = []

    def read() -> None:
        try:
            results.append(reader.decrypt(token))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == ["hola"] * 8
    assert len(reads) == 1


def test_blind_index_versions_tag_themselves_and_lookups_match_every_held_one() -> None:
    cipher = PiiCipher.from_secret("ring-secret")
    old = cipher.blind_index("+525500000001")
    assert len(old) == 64 and all(c in "0123456789abcdef" for c in old)
    added = [RingEntry(-1, "active", None), RingEntry(-2, "lookup", cipher.wrap_index_key())]
    cipher.apply_ring(added)
    assert cipher.blind_index("+525500000001") == old  # added, not yet written
    assert cipher.blind_indexes("+525500000001")[0] == old
    cipher.apply_ring([RingEntry(-1, "lookup", None), RingEntry(-2, "active", added[1].wrapped)])
    new = cipher.blind_index("+525500000001")
    assert new.startswith("b2:") and len(new) == 64 and index_version(new) == 2
    assert cipher.blind_indexes("+525500000001") == [new, old]
    assert index_version(old) == 1 and cipher.key_ids == [1]  # encryption keys untouched
    cipher.apply_ring([RingEntry(-1, "retired", None), RingEntry(-2, "active", added[1].wrapped)])
    assert cipher.blind_indexes("+525500000001") == [new]
    other = PiiCipher.from_secret("another-secret")
    with pytest.raises(PiiKeyError, match="b2"):
        other.apply_ring([RingEntry(-2, "active", added[1].wrapped)])
