"""``BoundedMemo`` against the plain computation (hypothesis): every call gets what computing
afresh gives, whatever the memo evicts (the eviction bug that once dead-lettered a customer's
"agosto"), a remembered key is never computed again while it is held, and the size holds."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmas.core.memo import BoundedMemo

KEYS = st.lists(st.sampled_from(["hola", "agosto", "mayo", "ads.txt", "", "x"]), max_size=8)


def square_all(asked: list[list[str]]):  # type: ignore[no-untyped-def]
    def compute(keys: list[str]) -> list[str]:
        asked.append(list(keys))
        return [k * 2 for k in keys]

    return compute


@settings(max_examples=100, deadline=None)
@given(calls=st.lists(KEYS, max_size=8), size=st.integers(min_value=1, max_value=4))
def test_every_call_gets_the_computed_values_whatever_is_evicted(
    calls: list[list[str]], size: int
) -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(size)
    asked: list[list[str]] = []
    for keys in calls:
        held = {k for k in keys if k in memo}
        before = len(asked)
        assert memo.get_many(keys, square_all(asked)) == [k * 2 for k in keys]
        assert len(memo) <= size
        computed = asked[before:]
        assert len(computed) <= 1  # one compute call at most
        for batch in computed:
            assert not held & set(batch)  # what it held was read, not computed again
            assert sorted(batch) == sorted(set(keys) - held)  # each missing key once


def test_a_round_larger_than_the_memo_keeps_its_remembered_answers() -> None:
    memo: BoundedMemo[str, str] = BoundedMemo(2)
    asked: list[list[str]] = []
    memo.get_many(["agosto"], square_all(asked))
    # two new keys fill the memo and evict "agosto", which this same call still needs
    assert memo.get_many(["agosto", "hola", "mayo"], square_all(asked)) == [
        "agostoagosto",
        "holahola",
        "mayomayo",
    ]
    assert asked == [["agosto"], ["hola", "mayo"]]
    assert "agosto" not in memo and len(memo) == 2


def test_oldest_goes_first_put_refreshes_and_clear_empties() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 3)  # stored again: now the newest
    memo.put("c", 4)
    assert ("a" in memo, "b" in memo, memo.get("c")) == (True, False, 4)
    assert list(memo) == ["a", "c"]
    memo.clear()
    assert len(memo) == 0 and memo.get("a") is None
    with pytest.raises(ValueError, match="at least one"):
        BoundedMemo(0)
    with pytest.raises(ValueError, match="gave 1 values for 2 keys"):
        memo.get_many(["x", "y"], lambda keys: [1])


def test_threads_sharing_a_memo_get_their_own_answers() -> None:
    memo: BoundedMemo[int, int] = BoundedMemo(16)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(300):
                keys = [(offset + i + j) % 40 for j in range(5)]
                assert memo.get_many(keys, lambda ks: [k * k for k in ks]) == [k * k for k in keys]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(memo) <= 16
