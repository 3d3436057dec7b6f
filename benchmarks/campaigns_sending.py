"""Campaign sending: sends per second through the fake SMS provider, and duplicates after kills.

1. ``sends_per_s``: one sender process (``ssmas worker campaigns --only sender``, SQLite ledger
   in a temporary data directory, batches of 200, 16 requests in flight) sends a queued campaign
   through the local fake of Twilio's Messages API (``ssmas.campaigns.sending.fake_provider``,
   answering at once, no receipts); messages per second from its first send to the last one
   recorded.
2. ``duplicate_sends`` (must be 0) and ``missing_sends`` (must be 0): a campaign sent by sender
   processes of which all but the last are killed with SIGKILL mid-campaign, against the fake
   made slow (5 ms per send) and deaf to ``Idempotency-Key`` (as Twilio is), so kills land
   while sends are in flight; what each handset received, counted by the fake.
   ``unrecorded_at_kills``: messages the provider had accepted and the ledger had not yet
   recorded when the kills landed, the ones only the reconciliation kept from going twice.

The figures are merged into ``results/campaigns.json`` (the issue's file) and written whole to
``results/campaigns_sending.json``.

    .venv/bin/python benchmarks/campaigns_sending.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (HERE, ROOT, ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.e2e.sender_kill_support import KillRun, run_kill_campaign  # noqa: E402

from _report import merge_figures, write_result  # noqa: E402
from ssmas.campaigns.sending.fake_provider import FakeSmsProvider  # noqa: E402

console = Console(stderr=True)


def throughput(n: int) -> KillRun:
    with tempfile.TemporaryDirectory() as tmp, FakeSmsProvider(receipts=False) as fake:
        return run_kill_campaign(
            fake, Path(tmp) / "data", recipients=n, kills=0, batch=200, concurrency=16
        )


def kills(n: int, k: int) -> KillRun:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSmsProvider(receipts=False, honour_idempotency=False, latency_s=0.005) as fake,
    ):
        return run_kill_campaign(fake, Path(tmp) / "data", recipients=n, kills=k, lease_s=2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    args = parser.parse_args()
    n_rate, n_kill, n_kills = (2_000, 300, 2) if args.quick else (20_000, 2_000, 4)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"sending {n_rate:,} messages with one sender", total=None)
        rate = throughput(n_rate)
        progress.update(task, description=f"sent {n_rate:,} messages", completed=1, total=1)
        task = progress.add_task(f"{n_kill:,} messages, {n_kills} senders killed", total=None)
        killed = kills(n_kill, n_kills)
        progress.update(task, description=f"{n_kills} kills done", completed=1, total=1)
    figures = {
        "sends_per_s": round(rate.sends_per_s, 1),
        "duplicate_sends": killed.duplicates + rate.duplicates,
        "missing_sends": killed.missing + rate.missing,
        "kills": n_kills,
        "kill_recipients": n_kill,
        "unrecorded_at_kills": sum(killed.unrecorded_at_kill),
        "rows_taken_over": killed.taken_over,
        "kill_provider_requests": killed.provider_requests,
        "rate_recipients": n_rate,
    }
    table = Table(title="campaign sending")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else f"{value:,.1f}")
    console.print(table)
    print(f"sends_per_s={figures['sends_per_s']} duplicate_sends={figures['duplicate_sends']}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes = (
        f"{'QUICK run. ' if args.quick else ''}Load average at the end {load} on "
        f"{os.cpu_count()} cores. One sender process, SQLite ledger, fake Twilio "
        f"API in the benchmark's process (the fake's Python HTTP server is part of the cost); "
        f"kills: {n_kills} SIGKILLs during {n_kill} sends at 5 ms each, the fake ignoring "
        "Idempotency-Key, lease 2 s."
    )
    path = write_result("campaigns_sending", figures, notes, quick=args.quick)
    console.print(f"wrote {path}", highlight=False)
    if not args.quick:
        keys = {k: figures[k] for k in ("sends_per_s", "duplicate_sends")}
        merged = merge_figures("campaigns", keys, "campaigns_sending.py")
        if merged is not None:
            console.print(f"merged into {merged}", highlight=False)


if __name__ == "__main__":
    main()
