"""Process tuning happens only when an entry point asks for it, and can be undone."""

from __future__ import annotations

import gc
import sys

from ssmas.core.tuning import SERVER_SWITCH_INTERVAL_S, refreeze, tune_server_process


def test_refreeze_leaves_a_process_that_never_froze_alone() -> None:
    assert gc.get_freeze_count() == 0  # no import or fixture froze the test process
    assert refreeze() is False
    assert gc.get_freeze_count() == 0


def test_refreeze_freezes_new_objects_in_a_process_that_froze() -> None:
    holder = [object()]
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        added = [[object()] for _ in range(1000)]
        assert refreeze() is True
        assert gc.get_freeze_count() >= before + len(added)
    finally:
        gc.unfreeze()
    assert holder


def test_server_tuning_is_undone() -> None:
    previous = sys.getswitchinterval()
    undo = tune_server_process()
    try:
        assert sys.getswitchinterval() == SERVER_SWITCH_INTERVAL_S
        assert gc.get_freeze_count() > 0
    finally:
        undo()
    assert sys.getswitchinterval() == previous
    assert gc.get_freeze_count() == 0
