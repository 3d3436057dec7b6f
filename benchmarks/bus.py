"""Bus benchmark: publish+consume+ack throughput per backend, and redelivery after a SIGKILL.

Throughput: N messages (100k, 5k with --quick) published with ``publish_batch`` in batches of
500, then consumed and acked in batches of 500 by one consumer of one group; the figure is
N / (publish time + consume-and-ack time). Redelivery: a child process consumes a message with
a 1 s visibility timeout and is killed with SIGKILL while holding it; the figure is the time from
the kill until another consumer (long-polling) receives it, median of 3 runs, worst backend.

Usage: .venv/bin/python benchmarks/bus.py [--quick] [--redis-url URL] [--sqlite-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _report import write_result
from ssmas.core.bus import Bus, open_bus

PAYLOAD = {"auction_id": "", "site": "news-example", "floor_eur": 0.42, "bid_eur": 1.37, "n": 0}


def throughput(bus: Bus, n: int, batch: int) -> dict[str, float]:
    """Seconds to publish ``n`` messages in batches, then to consume and ack them all."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    for first in range(0, n, batch):
        size = min(batch, n - first)
        bus.publish_batch(topic, [{**PAYLOAD, "n": first + i} for i in range(size)])
    published = time.perf_counter()
    got = 0
    while got < n:
        deliveries = bus.consume(topic, "bench", "c1", max_messages=batch, wait_s=1.0)
        if not deliveries:
            raise RuntimeError(f"consumer starved after {got} of {n} messages")
        bus.ack(deliveries)
        got += len(deliveries)
    done = time.perf_counter()
    return {
        "publish_s": published - start,
        "consume_ack_s": done - published,
        "msgs_per_s": n / (done - start),
        "publish_per_s": n / (published - start),
        "consume_ack_per_s": n / (done - published),
    }


def hold_one(url: str, topic: str, visibility_s: float) -> int:
    """Child mode: take one message, say so, then hang until killed."""
    bus = open_bus(url)
    deliveries = bus.consume(topic, "redelivery", "doomed", visibility_timeout_s=visibility_s)
    if not deliveries:
        return 1
    print("HELD", flush=True)
    time.sleep(600)
    return 0


def redelivery(url: str, visibility_s: float) -> float:
    """Seconds from SIGKILL of a consumer holding a message until it is handed out again."""
    bus = open_bus(url)
    topic = f"redeliver-{uuid.uuid4().hex[:8]}"
    bus.publish(topic, {"n": 1})
    child = subprocess.Popen(
        [sys.executable, __file__, "--hold-one", url, topic, str(visibility_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "HELD":
        child.kill()
        raise RuntimeError("the child consumer did not take the message")
    killed = time.perf_counter()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    again = bus.consume(topic, "redelivery", "survivor", wait_s=visibility_s * 10)
    elapsed = time.perf_counter() - killed
    bus.close()
    if not again:
        raise RuntimeError("the message was never redelivered")
    return elapsed


def drop_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for first in range(0, len(keys), 1000):
        client.delete(*keys[first : first + 1000])
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k messages, 1 redelivery run")
    parser.add_argument("--messages", type=int, default=0, help="override the message count")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--visibility", type=float, default=1.0)
    parser.add_argument(
        "--redis-url", default=os.environ.get("SSMAS_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--sqlite-dir", type=Path, default=None)
    parser.add_argument("--hold-one", nargs=3, metavar=("URL", "TOPIC", "VISIBILITY"))
    args = parser.parse_args()
    if args.hold_one:
        url, topic, visibility = args.hold_one
        return hold_one(url, topic, float(visibility))

    n = args.messages or (5_000 if args.quick else 100_000)
    runs = 1 if args.quick else 3
    prefix = f"ssmas:bench:{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in args.redis_url else "?"
    tmp = tempfile.TemporaryDirectory(dir=args.sqlite_dir)
    urls = {
        "sqlite": str(Path(tmp.name) / "bus.db"),
        "redis": f"{args.redis_url}{sep}prefix={prefix}",
    }
    results: dict[str, dict[str, float]] = {}
    try:
        for backend, url in urls.items():
            bus = open_bus(url)
            results[backend] = throughput(bus, n, args.batch)
            bus.close()
            times = [redelivery(url, args.visibility) for _ in range(runs)]
            results[backend]["redelivery_s"] = statistics.median(times)
    finally:
        drop_redis_keys(args.redis_url, prefix)
        tmp.cleanup()

    figures: dict[str, Any] = {
        "sqlite_msgs_per_s": round(results["sqlite"]["msgs_per_s"]),
        "redis_msgs_per_s": round(results["redis"]["msgs_per_s"]),
        "redelivery_s": round(max(r["redelivery_s"] for r in results.values()), 3),
    }
    for backend, r in results.items():
        figures[f"{backend}_publish_per_s"] = round(r["publish_per_s"])
        figures[f"{backend}_consume_ack_per_s"] = round(r["consume_ack_per_s"])
        figures[f"{backend}_redelivery_s"] = round(r["redelivery_s"], 3)
    figures.update(messages=n, batch=args.batch, visibility_timeout_s=args.visibility)

    table = Table(title=f"bus: {n:,} messages, batches of {args.batch}, one consumer")
    for column in ("backend", "publish msg/s", "consume+ack msg/s", "end-to-end msg/s"):
        table.add_column(column, justify="right")
    table.add_column(f"redelivery after SIGKILL (vt {args.visibility:g} s)", justify="right")
    for backend, r in results.items():
        table.add_row(
            backend,
            f"{r['publish_per_s']:,.0f}",
            f"{r['consume_ack_per_s']:,.0f}",
            f"{r['msgs_per_s']:,.0f}",
            f"{r['redelivery_s']:.3f} s",
        )
    Console().print(table)
    notes = (
        f"{n} messages of ~110 B JSON, publish_batch then consume+ack in batches of {args.batch}, "
        "one process, one consumer; msgs_per_s = n / (publish + consume-and-ack seconds). "
        "SQLite: WAL, synchronous=NORMAL, temp file. Redis: local server, Lua scripts. "
        f"redelivery_s: SIGKILL of a child holding a message with visibility {args.visibility:g} s "
        f"until a long-polling consumer gets it; median of {runs}, worst backend."
    )
    write_result("bus", figures, notes, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
