"""Assistant context reads from cache: ``runtime.contexts.cached()`` p50/p99, memory and Redis.

Builds the assistant runtime in this process (as a worker does), seals 100 ten-turn windows
into the cache, then times ``runtime.contexts.cached(conversation_id)`` over ``--reads`` cache
hits, once on the embedded in-process cache and once on Redis. Redis is a private
``redis-server`` this script starts on a free port and stops (or ``--redis-url``: the script
then uses database keys under its own prefix and deletes them).

    .venv/bin/python benchmarks/assistant_context.py [--quick] [--reads 10000]

Writes ``benchmarks/results/assistant_context.json`` (``--quick``: 2,000 reads, ``.quick.json``).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_result  # noqa: E402
from assistant import OfflineBenchBrain  # noqa: E402  (the load benchmark's brain)
from ssmas.core.health import stop_processes  # noqa: E402

NAME = "assistant_context"
WINDOWS = 100
TURNS = 10
WARMUP = 1_000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free port (no persistence); stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed; pass --redis-url instead")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_processes([proc])


def _time_reads(store: Any, reads: int) -> tuple[list[float], int]:
    """Milliseconds per ``store.cached`` hit, and the garbage collections that ran meanwhile."""
    collections = sum(s["collections"] for s in gc.get_stats())
    timings = [0.0] * reads
    clock = time.perf_counter
    for i in range(reads):
        began = clock()
        window = store.cached(1 + i % WINDOWS)
        timings[i] = (clock() - began) * 1000
        if window is None or len(window.turns) != TURNS:
            raise SystemExit("context cache miss during the benchmark")
    return timings, sum(s["collections"] for s in gc.get_stats()) - collections


def measure(settings: Any, reads: int, *, freeze: bool) -> dict[str, float]:
    """Figures (ms) of ``runtime.contexts.cached`` over ``reads`` hits on ``settings``'s cache,
    and of the same reads through a store that opens every sealed entry (no memo)."""
    from ssmas.assistant.context import ContextStore, ContextWindow
    from ssmas.assistant.runtime import build_assistant_runtime, release_runtime
    from ssmas.assistant.store import Turn
    from ssmas.core.platform import build_platform
    from ssmas.core.tuning import freeze_heap

    platform = build_platform(settings)
    runtime = build_assistant_runtime(platform, brain=OfflineBenchBrain())  # reads never call it
    contexts = runtime.contexts
    opener = ContextStore(platform.cache, runtime.cipher, memo_size=0)
    try:
        now = datetime.now(UTC)
        for cid in range(1, WINDOWS + 1):
            turns = [
                Turn(
                    "user" if t % 2 == 0 else "bot",
                    f"turn {t}: ¿cuándo llega el pago de la factura {cid}-{t}? " * 2,
                    now + timedelta(seconds=t),
                    "payment_date" if t % 2 == 0 else None,
                    "text",
                )
                for t in range(TURNS)
            ]
            summary = "user (greet): hola\nbot: ¡Hola! ¿En qué te ayudo?"
            contexts.save(ContextWindow(cid, 1, "bot", "es", summary, turns))
        for i in range(WARMUP):
            contexts.cached(1 + i % WINDOWS)
            opener.cached(1 + i % WINDOWS)
        if freeze:
            freeze_heap()
        timings, collections = _time_reads(contexts, reads)
        cold, cold_collections = _time_reads(opener, reads)
    finally:
        for cid in range(1, WINDOWS + 1):
            contexts.forget(cid)
        release_runtime(platform)
        platform.close()
        if freeze:
            gc.unfreeze()
    return {
        "p50_ms": _percentile(timings, 0.5),
        "p99_ms": _percentile(timings, 0.99),
        "max_ms": round(max(timings), 4),
        "open_p50_ms": _percentile(cold, 0.5),
        "open_p99_ms": _percentile(cold, 0.99),
        "gc_collections": collections + cold_collections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 reads per cache")
    parser.add_argument("--reads", type=int, default=None, help="timed reads per cache (10,000)")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of a private one")
    parser.add_argument(
        "--freeze", action="store_true", help="gc.freeze() the start-up heap before timing"
    )
    args = parser.parse_args()
    reads = args.reads or (2_000 if args.quick else 10_000)
    freeze = args.freeze

    from ssmas.settings import Settings

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-ctx-") as tmp:
        memory = measure(
            Settings(profile="test", data_dir=Path(tmp) / "memory"), reads, freeze=freeze
        )
        with _redis(args.redis_url) as url:
            redis = measure(
                Settings(
                    profile="test",
                    data_dir=Path(tmp) / "redis",
                    cache_backend="redis",
                    redis_url=url,
                ),
                reads,
                freeze=freeze,
            )
    figures: dict[str, Any] = {
        "context_p99_ms": memory["p99_ms"],
        "context_p50_ms": memory["p50_ms"],
        "context_redis_p99_ms": redis["p99_ms"],
        "context_redis_p50_ms": redis["p50_ms"],
        "context_max_ms": memory["max_ms"],
        "context_redis_max_ms": redis["max_ms"],
        "context_open_p50_ms": memory["open_p50_ms"],
        "context_open_p99_ms": memory["open_p99_ms"],
        "context_redis_open_p50_ms": redis["open_p50_ms"],
        "context_redis_open_p99_ms": redis["open_p99_ms"],
        "gc_collections_memory": memory["gc_collections"],
        "gc_collections_redis": redis["gc_collections"],
        "reads": reads,
        "windows": WINDOWS,
        "turns_per_window": TURNS,
        "heap_frozen": freeze,
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    notes = (
        f"runtime.contexts.cached(conversation_id) in process, {reads} timed cache hits "
        f"(after {WARMUP} warm-up reads) cycling over {WINDOWS} sealed windows of {TURNS} "
        "Spanish turns plus a summary; the runtime is the real one (build_assistant_runtime on a "
        "fresh data directory, the shipped FAQ loaded). context_*: the embedded in-process cache; "
        "context_redis_*: a private redis-server on 127.0.0.1 started by the script (one "
        "round trip per read). *_open_*: the same reads through a ContextStore without its "
        "memo (memo_size=0), which decrypts and parses every entry, as a read of an entry "
        "another process wrote does. "
        + (
            "The start-up heap was frozen before timing (--freeze: "
            "ssmas.core.tuning.freeze_heap, gc.freeze()). "
            if freeze
            else "The start-up heap is not frozen (as the worker processes run today); "
            "gc_collections_* count the collections that ran while timing. "
        )
        + "The machine has 2 cores shared with other engineers' work: latency measured under "
        "that load is pessimistic, see load_avg_1m_*."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    print(path)
    for key, value in figures.items():
        print(f"{key}: {value}")


@contextmanager
def _redis(url: str | None) -> Iterator[str]:
    if url:
        yield url
    else:
        with private_redis() as own:
            yield own


if __name__ == "__main__":
    main()
