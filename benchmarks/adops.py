"""AdOps agents on the live simulator: faults of every kind, detected, classified and fixed.

    .venv/bin/python benchmarks/adops.py [--quick] [--per-kind 30] [--seed 2027]

One simulated warm-up (30 hours) teaches the stream its baselines; then every fault is an
episode from that same state: a fresh incident database, the stream processor and the agents'
metrics copied from the warm-up, the fault starting 3 to 12 minutes in on a random entity of its
kind (ad units among the ten biggest), 40 minutes simulated (shadow runs 25). ``--per-kind``
faults of each of the eight kinds; seeds are not the tests' (7, 11). Active mode, auto-approval
off for high risk: a scripted approver ("bench-approver", a person) approves after two
simulated minutes. Figures:

* ``classification_pct``: the first agent case of a fault's incidents has the fault's category;
* ``automation_pct``: the fault's first incident resolved with no human (approvals are human),
  over the faults whose incidents reached an agent; ``automation_pct_of_faults`` over all
  faults; ``automation_ceiling_pct_of_faults``: the share of faults of kinds that can be
  automated at all (not ``partner_outage``, whose traffic shift is high risk and waits for a
  person, nor ``rpm_decay``, which the simulator gives no remedy); over those kinds only:
  ``automation_pct_automatable_kinds`` (their faults that reached an agent) and
  ``automation_pct_of_automatable_faults`` (all their faults);
* ``escalated_pct`` (and per kind): the fault's first agent case was handed to a person;
* ``mttr_sim_min``: mean minutes from incident opened to resolved (resolved ones);
* ``unapproved_high_risk``: high-risk actions applied without a person's approval;
* ``unrolled_harm``: applied actions whose metric got worse and were not rolled back;
* ``revenue_recovered_pct``: (agents' revenue - no-agent revenue) / (no-fault revenue - no-agent
  revenue) over the episodes, each over the same 40 minutes;
* ``shadow_same_first_action_pct``: the same episodes in shadow mode propose the same first
  action (tool and arguments) as active mode; ``shadow_control_plane_changes``: agent writes
  to the control plane in shadow mode (must be 0).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _report import write_result  # noqa: E402
from ssmas.adops.agents import KIND_CATEGORY, cases  # noqa: E402
from ssmas.adops.agents.sim import Episode  # noqa: E402
from ssmas.adops.agents.tables import AgentActionRow, ApprovalRow  # noqa: E402
from ssmas.adops.live_trial import fault_plan  # noqa: E402
from ssmas.adops.safety import SafetyPolicy  # noqa: E402
from ssmas.adops.stream import StreamProcessor  # noqa: E402
from ssmas.adops.tools import MetricsView, get_tool  # noqa: E402
from ssmas.core.db import Base, make_engine  # noqa: E402
from ssmas.exchange.control_plane import MemoryControlPlane  # noqa: E402
from ssmas.exchange.faults import FAULT_KINDS, Fault, make_fault  # noqa: E402
from ssmas.exchange.live import LiveExchange  # noqa: E402
from ssmas.exchange.world import World, build_world  # noqa: E402

console = Console()
START = datetime(2024, 10, 21, 4, tzinfo=UTC)
WARMUP = timedelta(hours=30)  # a whole day and the morning: the detector's records settle
EPISODE = timedelta(minutes=40)
SHADOW = timedelta(minutes=25)  # shadow runs only need the first proposal
APPROVER = "bench-approver"


def needs_a_person() -> dict[str, str]:
    """The fault kinds no agent may resolve alone, and why (the ceiling of ``automation_pct``):
    read from the simulator's fault catalogue and the safety policy, not chosen here."""
    policy = SafetyPolicy(mode="active", approvers=(APPROVER,))
    shift = get_tool("shift_traffic")
    out = {
        kind: f"remedy '{spec.remedy}' in the simulator's catalogue ({spec.description})"
        for kind, spec in FAULT_KINDS.items()
        if spec.remedy == "none"
    }
    if policy.needs_approval(shift.risk):  # the partner outage's fix, by the e2e test
        out["partner_outage"] = f"its fix, {shift.name}, is {shift.risk} risk: a person approves"
    return out


NEEDS_A_PERSON = needs_a_person()


def warm(world: World) -> tuple[StreamProcessor, MetricsView]:
    live = LiveExchange(world, MemoryControlPlane(world), start=START)
    processor, view = StreamProcessor(), MetricsView()
    batch: list[dict[str, Any]] = []
    while live.minute < START + WARMUP:
        points = live.step()[1]
        view.add(points)
        batch += points
        if live.minute.minute % 5 == 0:
            processor.ingest_exchange(batch)
            batch = []
    return processor, view


def revenue(world: World, faults: list[Fault]) -> float:
    live = LiveExchange(
        world,
        MemoryControlPlane(world),
        start=START + WARMUP,
        faults=lambda at: [f for f in faults if f.start <= at < f.end + timedelta(minutes=1)],
    )
    total = 0.0
    while live.minute < START + WARMUP + EPISODE:
        total += next(p["revenue_eur"] for p in live.step()[1] if p["entity_type"] == "exchange")
    return total


def episode(
    world: World,
    fault: Fault,
    processor: StreamProcessor,
    view: MetricsView,
    mode: str,
    folder: Path,
    n: int,
) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{folder / f'{mode}{n}.db'}")
    Base.metadata.create_all(engine)
    policy = SafetyPolicy(mode=mode, approvers=(APPROVER,))  # type: ignore[arg-type]
    ep = Episode(
        world,
        engine,
        policy,
        START + WARMUP,
        faults=[fault],
        approver=(APPROVER, lambda _r: True),
        processor=StreamProcessor.from_bytes(processor.to_bytes()),
    )
    ep.ctx.metrics = copy.deepcopy(view)
    ep.run_until(START + WARMUP + (EPISODE if mode == "active" else SHADOW))
    assert ep.plane is not None
    writes = [v for v in ep.plane.history(200) if v.actor.startswith("agent:")]
    incs = sorted(ep.incidents.list_incidents(limit=500), key=lambda i: i["opened_at"])
    mine = [i for i in incs if fault.start <= i["opened_at"] < fault.end]
    by_case = {c["incident_id"]: c for c in cases(ep.incidents)}
    first_case = next(
        (
            by_case[i["incident_id"]]
            for i in mine
            if i["incident_id"] in by_case and by_case[i["incident_id"]]["category"] != "NONE"
        ),
        None,
    )
    first_inc = next(
        (i for i in mine if first_case and i["incident_id"] == first_case["incident_id"]), None
    )
    with Session(engine) as session:
        actions = session.scalars(
            sa.select(AgentActionRow).order_by(AgentActionRow.action_id)
        ).all()
        approvals = {a.approval_id: a for a in session.scalars(sa.select(ApprovalRow))}
        first_action = next(((a.tool, a.args) for a in actions), None)
        unapproved = sum(
            1
            for a in actions
            if a.risk == "high"
            and a.status in ("applied", "verified", "rolled_back")
            and not (a.approval_id and approvals[a.approval_id].decided_by == APPROVER)
        )
        harm = 0
        for a in actions:
            if a.status in ("verified", "applied") and a.verify and "after" in a.verify:
                v = a.verify
                sign = 1 if v["lower_is_better"] else -1
                if sign * (v["after"] - v["before"]) > 0.05 * abs(v["baseline"]) + 1e-3:
                    harm += 1
    engine.dispose()
    resolved = first_inc is not None and first_inc["state"] == "resolved"
    escalated = first_case is not None and first_case["state"] == "escalated"
    return {
        "kind": fault.kind,
        "detected": bool(mine),
        "category": first_case["category"] if first_case else None,
        "correct": bool(first_case and first_case["category"] == KIND_CATEGORY[fault.kind]),
        "automated": bool(resolved and first_inc and first_inc["automated"]),
        "resolved": resolved,
        "escalated": escalated,
        "mttr_min": (
            (first_inc["resolved_at"] - first_inc["opened_at"]).total_seconds() / 60
            if resolved and first_inc
            else None
        ),
        "first_action": first_action,
        "writes": len(writes),
        "unapproved_high_risk": unapproved,
        "unrolled_harm": harm,
        "revenue": ep.revenue,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-shadow", action="store_true")
    args = parser.parse_args()
    per_kind = 1 if args.quick else args.per_kind
    world = build_world(args.seed)
    began = time.time()
    load_before = os.getloadavg()[0]
    processor, view = warm(world)
    rng = np.random.default_rng(args.seed + 1)
    plan = fault_plan(
        world, per_kind=per_kind, start=START, spacing=timedelta(0), minutes=60, seed=args.seed + 2
    )
    faults = [
        make_fault(
            world,
            f.kind,
            entity=f.entity,
            minutes=60,
            start=START + WARMUP + timedelta(minutes=int(rng.integers(3, 13))),
        )
        for f in plan
    ]
    clean = revenue(world, [])
    modes = ["active"] if args.no_shadow else ["active", "shadow"]
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    no_agent: list[float] = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with tempfile.TemporaryDirectory() as tmp, Progress(*columns, console=console) as progress:
        task = progress.add_task("episodes", total=len(faults) * (len(modes) + 1))
        for n, fault in enumerate(faults):
            no_agent.append(revenue(world, [fault]))
            progress.advance(task)
            for mode in modes:
                results[mode].append(episode(world, fault, processor, view, mode, Path(tmp), n))
                progress.advance(task)
            if not console.is_terminal and (n + 1) % 10 == 0:
                print(f"{n + 1}/{len(faults)} faults done", file=sys.stderr, flush=True)
    active = results["active"]
    detected = [r for r in active if r["detected"]]
    cased = [r for r in active if r["category"] is not None]
    can = [r for r in active if r["kind"] not in NEEDS_A_PERSON]
    can_cased = [r for r in can if r["category"] is not None]
    resolved = [r for r in active if r["mttr_min"] is not None]
    lost = sum(clean - x for x in no_agent)
    gained = sum(r["revenue"] - x for r, x in zip(active, no_agent, strict=True))
    figures: dict[str, Any] = {
        "faults": len(faults),
        "per_kind": per_kind,
        "seed": args.seed,
        "detected_pct": round(100 * len(detected) / len(faults), 1),
        "classification_pct": round(100 * sum(r["correct"] for r in cased) / max(1, len(cased)), 1),
        "classification_pct_of_faults": round(
            100 * sum(r["correct"] for r in active) / len(faults), 1
        ),
        "automation_pct": round(100 * sum(r["automated"] for r in cased) / max(1, len(cased)), 1),
        "automation_pct_of_faults": round(
            100 * sum(r["automated"] for r in active) / len(faults), 1
        ),
        # what the fault mix allows at most: the kinds a person must act on count as not
        # automated whatever the agents do
        "automation_ceiling_pct_of_faults": round(100 * len(can) / len(faults), 1),
        "automation_pct_automatable_kinds": round(
            100 * sum(r["automated"] for r in can_cased) / max(1, len(can_cased)), 1
        ),
        "automation_pct_of_automatable_faults": round(
            100 * sum(r["automated"] for r in can) / max(1, len(can)), 1
        ),
        "escalated_pct": round(100 * sum(r["escalated"] for r in cased) / max(1, len(cased)), 1),
        "mttr_sim_min": round(float(np.mean([r["mttr_min"] for r in resolved])), 2)
        if resolved
        else None,
        "unapproved_high_risk": sum(r["unapproved_high_risk"] for r in active),
        "unrolled_harm": sum(r["unrolled_harm"] for r in active),
        "revenue_recovered_pct": round(100 * gained / lost, 1) if lost > 0 else None,
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "wall_s": round(time.time() - began, 1),
    }
    by_kind: dict[str, dict[str, float]] = {}
    for kind in KIND_CATEGORY:
        rows = [r for r in active if r["kind"] == kind]
        if rows:
            by_kind[kind] = {
                "faults": len(rows),
                "detected_pct": round(100 * sum(r["detected"] for r in rows) / len(rows), 1),
                "classified_pct": round(100 * sum(r["correct"] for r in rows) / len(rows), 1),
                "automated_pct": round(100 * sum(r["automated"] for r in rows) / len(rows), 1),
                "escalated_pct": round(100 * sum(r["escalated"] for r in rows) / len(rows), 1),
            }
    figures["by_kind"] = by_kind
    if "shadow" in results:
        pairs = [
            (a, s)
            for a, s in zip(active, results["shadow"], strict=True)
            if a["first_action"] is not None
        ]
        same = sum(a["first_action"] == s["first_action"] for a, s in pairs)
        figures["shadow_same_first_action_pct"] = round(100 * same / max(1, len(pairs)), 1)
        figures["shadow_control_plane_changes"] = sum(s["writes"] for s in results["shadow"])
    table = Table(title="AdOps agents on the live simulator")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        if name != "by_kind":
            table.add_row(name, str(value))
    console.print(table)
    kinds = Table(title="by fault kind")
    for col in ("kind", "faults", "detected %", "classified %", "automated %", "escalated %"):
        kinds.add_column(col)
    for kind, row in by_kind.items():
        kinds.add_row(kind, *(str(v) for v in row.values()))
    console.print(kinds)
    notes = (
        "Active mode, auto-approval off for high risk (a scripted person approves after 2 sim "
        "minutes); episodes of 40 simulated minutes from one 30-hour warm-up; classification and "
        "automation over faults whose incidents reached an agent (_of_faults: over all faults). "
        "automation_ceiling_pct_of_faults: share of faults of kinds that can be automated at all ("
        + "; ".join(f"{k} cannot: {why}" for k, why in NEEDS_A_PERSON.items())
        + "); automation_pct_automatable_kinds: automation over those kinds' faults that reached "
        "an agent (_of_automatable_faults: over all their faults). escalated_pct: the first "
        "agent case of the fault was handed to a person."
    )
    keep: tuple[str, ...] = ()
    if "shadow" not in results:  # an active-only run keeps the last shadow figures (noted)
        keep = ("shadow_same_first_action_pct", "shadow_control_plane_changes", "shadow_run")
        notes += " Shadow figures: from the run named in shadow_run (not re-measured here)."
    else:
        figures["shadow_run"] = f"seed {args.seed}, {per_kind} faults per kind"
    path = write_result("adops", figures, notes, quick=args.quick, keep=keep)
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
