"""Process-wide tuning of the interpreter, in one place, for entry points only.

Two settings change how a long-running server process behaves, and both are process-wide, so
only an entry point (``ssmas up``, ``serve``, ``worker``, a benchmark) may turn them on, never an
import or a library function, and a test only when it asks for it:

- ``gc.freeze()`` once start-up is done moves every object alive into the collector's permanent
  generation: the hundreds of thousands of objects that imports and models leave are then never
  walked again, which takes multi-millisecond full collections out of request latency.
  :func:`refreeze` does the same for what a later model load added, in a process that froze.
- a 1 ms thread switch interval (the default is 5 ms): a busy background thread (model reloads,
  capture flushes) then delays the event loop by 1 ms at most.

:func:`tune_server_process` applies both and returns the function that undoes them.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

__all__ = ["SERVER_SWITCH_INTERVAL_S", "freeze_heap", "refreeze", "tune_server_process"]

SERVER_SWITCH_INTERVAL_S = 0.001


def freeze_heap() -> None:
    """Collect, then move every object alive now into the permanent generation."""
    gc.collect()
    gc.freeze()


def refreeze() -> bool:
    """In a process that froze its heap, freeze what was added since; returns whether it did.

    A process that never froze (a test, a CLI command) is left alone.
    """
    if gc.get_freeze_count() == 0:
        return False
    freeze_heap()
    return True


def tune_server_process() -> Callable[[], None]:
    """Freeze the start-up heap and shorten the switch interval; returns the undo."""
    previous = sys.getswitchinterval()
    freeze_heap()
    sys.setswitchinterval(SERVER_SWITCH_INTERVAL_S)

    def undo() -> None:
        sys.setswitchinterval(previous)
        gc.unfreeze()

    return undo
