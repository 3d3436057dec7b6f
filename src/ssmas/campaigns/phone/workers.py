"""Worker processes for bulk validation, fed over pipes by the calling thread.

``concurrent.futures.ProcessPoolExecutor`` hands work to its processes through two helper
threads; while the caller validates its own share of a batch it holds the GIL, and the chunks
reach the workers only when the interpreter next switches threads (every 5 ms). Here the caller
writes each worker's chunk to that worker's pipe itself, then works on its own share, then
reads the answers: the workers start at once and no thread is involved.

One batch at a time per :class:`Workers` (a lock); a worker that dies makes the call fail and
the pool unusable (:attr:`Workers.broken`), and the owner builds a new one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import TypeVar

import msgspec

__all__ = ["Job", "Workers"]

T = TypeVar("T")
Job = Callable[[list[str]], bytes]

_REQUEST = msgspec.msgpack.Decoder(tuple[int, list[str]])
_ENCODE = msgspec.msgpack.Encoder().encode


def _serve(conn: Connection, jobs: Sequence[Job], warm: Callable[[], None]) -> None:
    warm()
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        job, numbers = _REQUEST.decode(request)
        conn.send_bytes(jobs[job](numbers))


class Workers:
    """``count`` processes that each run one of ``jobs`` on a chunk of numbers and answer
    with bytes; started at construction (spawned: no state inherited but the arguments)."""

    def __init__(self, count: int, jobs: Sequence[Job], warm: Callable[[], None]) -> None:
        context = get_context("spawn")
        self._lock = threading.Lock()
        self._conns: list[Connection] = []
        self._processes = []
        self.broken = False
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, jobs, warm), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)

    @property
    def count(self) -> int:
        return len(self._conns)

    def run(
        self, job: int, chunks: Sequence[list[str]], local: Callable[[], T]
    ) -> tuple[T, list[bytes]]:
        """Send ``chunks`` (at most one per worker) to run ``job``, run ``local`` here
        meanwhile, and return its result with the workers' answers in chunk order."""
        if len(chunks) > self.count:
            raise ValueError(f"{len(chunks)} chunks for {self.count} workers")
        with self._lock:
            if self.broken:
                raise RuntimeError("a validation worker died; build a new pool")
            try:
                for conn, chunk in zip(self._conns, chunks, strict=False):
                    conn.send_bytes(_ENCODE((job, chunk)))
                mine = local()
                answers = [conn.recv_bytes() for conn in self._conns[: len(chunks)]]
            except (EOFError, OSError) as error:
                self.broken = True
                raise RuntimeError("a validation worker died; build a new pool") from error
            except BaseException:
                self.broken = True  # answers may be left in the pipes: never read them as new
                raise
        return mine, answers

    def pids(self) -> list[int]:
        return [process.pid or 0 for process in self._processes]

    def close(self) -> None:
        """Stop every worker (they exit when their pipe closes)."""
        with self._lock:
            self.broken = True
            for conn in self._conns:
                conn.close()
            for process in self._processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=5)
