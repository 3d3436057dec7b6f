"""Ops figures (issue 18): how fast an alert reaches every receiver, and how often.

The alert drill of ``tests/ops_alert_support.py`` on the real binaries: ``ssmas serve`` in its
own process with its cache on a Redis of the drill's own; Debian's ``prometheus`` scraping it
every ``--scrape`` s and evaluating the repository's rules (range windows 30 times shorter, no
holds) every ``--evaluate`` s; ``prometheus-alertmanager`` with the repository's routing, group
wait ``--group-wait`` s, its Slack, webhook and PagerDuty receivers pointed at a local HTTP
server and email at a local aiosmtpd. The Redis stops, the cache check fails, ``/ready``
answers 503 to the clients calling it, and ``SsmasHighErrorRate`` fires; the Redis starts
again and it resolves.

- ``alert_fire_s``: worst over receivers and runs, from the condition (the scrape that gives
  ``rate()`` its second sample of the new 5xx series; before it no rule can see an error rate)
  to the notification at the receiver. Target: within one evaluation interval plus the group
  wait (``alert_fire_budget_s``); ``alert_fire_overshoot_ms`` is what a worst case spends past
  it, the delivery itself (the budget's two waits can both be spent in full).
- ``alert_fire_from_fault_s``: the same from the first failing request (one scrape more).
- ``alert_resolve_s``: from the fault's end to the resolved notification (the rate window, 10 s
  here, must slide past the last failure). The condition's time is the Prometheus timestamp of
  that scrape (``/api/v1/query``).
- ``alert_notifications``, ``alert_resolutions``: per receiver and run (1 each is right);
  ``other_alerts``: any other alert that notified (none is right).
- ``absence_alert_s``: then the server is SIGKILLed; seconds until ``SsmasTargetDown`` (absence
  of data) is at every receiver; ``absence_notifications``: per receiver (1 per run is right).

    .venv/bin/python benchmarks/ops.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._report import write_result  # noqa: E402

NAME = "ops"
# Figures other parts of issue 18 measure into the same file (benchmarks/ops_backup.py,
# ops_autoscale.py, ops_heal.py: the worker killed under load); a run of this script keeps them.
OTHER_FIGURES = (
    "rto_s",
    "rpo_s",
    "pg_rto_s",
    "pg_rpo_s",
    "dr_integrity_ok",
    "pg_dr_integrity_ok",
    "dr_checks",
    "pg_dr_checks",
    "backup_state_gb",
    "pg_backup_state_gb",
    "backup_full_s",
    "pg_backup_full_s",
    "backup_incremental_s",
    "pg_backup_incremental_s",
    "dr_rows_written_under_load",
    "pg_dr_rows_written_under_load",
    "backup_interval_s",
    "rpo_bound_s",
    "pg_rpo_bound_s",
    "worker_restart_s",
    "worker_restart_median_s",
    "worker_restart_within_10s",
    "worker_respawn_s",
    "worker_resume_s",
    "worker_drain_s",
    "worker_events_published",
    "worker_lost_events",
    "worker_duplicate_events",
    "worker_dead_letters",
    "worker_kill_runs",
    "worker_kill_load_avg",
    "worker_kill_load",
    "autoscale_cover_pct",
    "autoscale_overprovision_pct",
    "autoscale_mape_pct",
    "autoscale_naive_mape_pct",
    "autoscale_interval_cover_pct",
    "autoscale_service_hours",
    "autoscale_backtest_s",
    "autoscale_by_service",
    "page_load_max_ms",
    "page_load_within_budget",
    "page_load_pages",
    "page_load_loadavg",
    "key_rotation_rows",
    "key_rotation_rewritten",
    "key_rotation_s",
    "key_rotation_requests",
    "key_rotation_requests_during",
    "key_rotation_failed_requests",
    "key_rotation_left_under_old_key",
    "key_rotation_late_rewritten",
    "key_rotation_refresh_s",
    "key_rotation_loadavg",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scrape", type=float, default=1.0)
    parser.add_argument("--evaluate", type=float, default=1.0)
    parser.add_argument("--group-wait", type=float, default=1.0)
    args = parser.parse_args()
    runs = 1 if args.quick else max(1, args.runs)

    import structlog
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from tests.ops_alert_support import RECEIVERS, DrillResult, run_drill

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    results: list[DrillResult] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("alert drill", total=runs)
        for i in range(runs):
            progress.update(task, description=f"alert drill {i + 1}/{runs}")
            with tempfile.TemporaryDirectory() as tmp:
                results.append(
                    run_drill(
                        Path(tmp),
                        scrape_s=args.scrape,
                        evaluate_s=args.evaluate,
                        group_wait_s=args.group_wait,
                    )
                )
            progress.advance(task)

    table = Table(title="Alert drill: SsmasHighErrorRate (seconds; sent = firing+resolved)")
    for column in ("run", "receiver", "from condition", "from fault", "resolved after", "sent"):
        table.add_column(column)
    for i, result in enumerate(results, 1):
        for receiver in RECEIVERS:
            table.add_row(
                str(i),
                receiver,
                f"{result.fire_from_condition_s[receiver]:.2f}",
                f"{result.fire_s[receiver]:.2f}",
                f"{result.resolve_s[receiver]:.2f}",
                f"{result.firing[receiver]}+{result.resolved[receiver]}",
            )
    Console().print(table)

    budget = results[0].budget_from_condition_s
    fire = max(max(r.fire_from_condition_s.values()) for r in results)
    figures: dict[str, Any] = {
        "alert_fire_s": round(fire, 3),
        "alert_fire_budget_s": budget,
        "alert_fire_within_budget": fire <= budget,
        # The budget leaves nothing for delivery: Alertmanager's HTTP / SMTP send adds a few ms.
        "alert_fire_overshoot_ms": round(max(0.0, fire - budget) * 1000, 1),
        "alert_fire_from_fault_s": round(max(max(r.fire_s.values()) for r in results), 3),
        "alert_resolve_s": round(max(max(r.resolve_s.values()) for r in results), 3),
        "alert_notifications": {k: sum(r.firing[k] for r in results) for k in RECEIVERS},
        "alert_resolutions": {k: sum(r.resolved[k] for r in results) for k in RECEIVERS},
        "alert_other_alerts": sorted({a for r in results for a in r.other_alerts}),
        "absence_alert_s": round(max(max(r.down_s.values()) for r in results), 3),
        "absence_notifications": {
            k: sum(r.down_firing.get(k, 0) for r in results) for k in RECEIVERS
        },
        "alert_runs": runs,
        "alert_intervals_s": {
            "scrape": args.scrape,
            "evaluation": args.evaluate,
            "group_wait": args.group_wait,
        },
    }
    print(
        f"alert_fire_s {fire:.2f} (budget: evaluation {args.evaluate:g} s + group wait "
        f"{args.group_wait:g} s = {budget:g} s) · from the fault "
        f"{figures['alert_fire_from_fault_s']:.2f} s · resolved after "
        f"{figures['alert_resolve_s']:.2f} s · per receiver {figures['alert_notifications']}"
    )
    print(
        f"absence_alert_s {figures['absence_alert_s']:.2f} (server killed -> SsmasTargetDown) · "
        f"per receiver {figures['absence_notifications']}"
    )
    notes = (
        f"{runs} drill(s) on the real prometheus 2.42 and alertmanager 0.25 (Debian) against "
        "`ssmas serve` in its own process; the repository's rules with windows 30x shorter and no "
        "'for' holds (promtool's unit tests check those), the repository's routing with its four "
        "receivers pointed at local sinks (HTTP and aiosmtpd). Fault: the server's Redis (cache) "
        "stops, so /ready answers 503 to clients calling /health and /ready 10 times a second "
        "each, until it starts again; then the server is SIGKILLed. Counts "
        "are summed over runs (runs per receiver is exactly once each)."
    )
    write_result(NAME, figures, notes, quick=args.quick, keep=OTHER_FIGURES)
    once = dict.fromkeys(RECEIVERS, 1)
    ok = all(r.firing == once and r.resolved == once and r.down_firing == once for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
