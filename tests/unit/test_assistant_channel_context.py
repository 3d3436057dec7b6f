"""Context pruning: token budget, summary of older turns, turn limit, sealed cache entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ssmas.assistant.context import ContextStore, ContextWindow, estimate_tokens, prune
from ssmas.assistant.store import Turn
from ssmas.core.cache import MemoryCache
from ssmas.core.security import PiiCipher

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def turn(i: int, text: str, role: str = "user", intent: str | None = None) -> Turn:
    return Turn(role=role, text=text, at=T0 + timedelta(seconds=i), intent=intent)


def test_estimate_tokens_counts_words_or_characters() -> None:
    assert estimate_tokens("hola") == 1
    assert estimate_tokens("a b c d e") == 5
    assert estimate_tokens("x" * 400) == 100


def test_prune_keeps_newest_within_budget_and_summarises_the_rest() -> None:
    turns = [turn(i, f"message number {i} " + "word " * 20, intent=f"i{i}") for i in range(12)]
    summary, kept = prune(turns, budget_tokens=60)
    assert kept == turns[-2:]  # each turn costs ~24 tokens: two fit in 60
    assert summary.splitlines()[0].startswith("user (i2): message number 2")
    assert len(summary.splitlines()) == 8  # summary keeps the newest eight older turns


def test_prune_always_keeps_keep_min_turns() -> None:
    turns = [turn(0, "x" * 4000), turn(1, "y" * 4000)]
    summary, kept = prune(turns, budget_tokens=10)
    assert kept == turns and summary == ""


def test_window_round_trips_through_json() -> None:
    window = ContextWindow(7, 2, "bot", "es", "old stuff", [turn(1, "hola", intent="greet")])
    assert ContextWindow.from_json(window.to_json()) == window


def test_store_extends_prunes_and_seals_the_cached_window() -> None:
    cache = MemoryCache()
    cipher = PiiCipher.from_secret("unit-test-secret")
    store = ContextStore(cache, cipher, max_turns=4, token_budget=1000)
    window = ContextWindow(1, 1, "bot")
    for i in range(6):
        store.extend(window, turn(i, f"pregunta {i} sobre mi pedido"))
    cached = store.cached(1)
    assert cached is not None
    assert [t.text for t in cached.turns] == [f"pregunta {i} sobre mi pedido" for i in (2, 3, 4, 5)]
    assert "pregunta 0" in cached.summary and "pregunta 1" in cached.summary
    raw = cache.get(ContextStore.key(1))
    assert raw is not None and b"pedido" not in raw  # encrypted in the cache
    other = ContextStore(cache, PiiCipher.from_secret("another-secret"))
    assert other.cached(1) is None  # unreadable entries count as a miss
    store.forget(1)
    assert store.cached(1) is None


def sample_window(cid: int = 1, texts: tuple[str, ...] = ("hola", "¿y mi pago?")) -> ContextWindow:
    turns = [turn(i, text, intent="faq") for i, text in enumerate(texts)]
    return ContextWindow(cid, 1, "bot", "es", "user: antes", turns)


def test_each_read_is_a_fresh_window_callers_may_change() -> None:
    store = ContextStore(MemoryCache(), PiiCipher.from_secret("unit-test-secret"))
    store.save(sample_window())
    first = store.cached(1)
    assert first == sample_window()
    assert first is not None
    first.state = "human"
    first.turns.append(turn(9, "changed locally"))
    assert store.cached(1) == sample_window()  # the cached entry did not change


def test_entries_written_elsewhere_are_opened_not_served_from_the_memo() -> None:
    cache, cipher = MemoryCache(), PiiCipher.from_secret("unit-test-secret")
    here, there = ContextStore(cache, cipher), ContextStore(cache, cipher)  # two processes
    here.save(sample_window())
    assert there.cached(1) == sample_window()
    there.save(sample_window(texts=("hola", "otra pregunta")))
    newer = here.cached(1)
    assert newer is not None and newer.turns[-1].text == "otra pregunta"
    there.forget(1)
    assert here.cached(1) is None


def test_an_entry_moved_to_another_conversation_key_is_refused() -> None:
    cache, cipher = MemoryCache(), PiiCipher.from_secret("unit-test-secret")
    store = ContextStore(cache, cipher)
    store.save(sample_window(cid=1))
    sealed = cache.get(ContextStore.key(1))
    assert sealed is not None
    cache.set(ContextStore.key(2), sealed)
    assert ContextStore(cache, cipher).cached(2) is None
    assert store.cached(2) is None


def test_the_memo_is_bounded_and_can_be_off() -> None:
    cache, cipher = MemoryCache(), PiiCipher.from_secret("unit-test-secret")
    store = ContextStore(cache, cipher, memo_size=2)
    for cid in (1, 2, 3):
        store.save(sample_window(cid=cid))
    assert list(store._memo) == [2, 3]  # the oldest went first
    assert store.cached(1) == sample_window(cid=1)  # opened from the cache, then remembered
    assert list(store._memo) == [3, 1]
    unmemoised = ContextStore(cache, cipher, memo_size=0)
    unmemoised.save(sample_window(cid=4))
    assert unmemoised.cached(4) == sample_window(cid=4) and unmemoised._memo == {}
    with pytest.raises(ValueError):
        ContextStore(cache, cipher, memo_size=-1)
