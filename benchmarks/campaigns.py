"""Campaigns: Mexican phone validations per minute through the bulk API's code path.

The load is a realistic mix of how leads write Mexican numbers (seed 16): area codes drawn from
the LADA catalogue with the metropolitan ones (55, 56, 33, 81) weighted up, written plain, with
spaces, parentheses and dashes, dots, ``+52``, ``52``, ``0052``, the legacy ``+52 1``, ``044``,
``045``, ``01`` and ``1``; ~15% of them damaged (too short, too long, letters, empty, another
country, an impossible prefix, toll-free, an area code missing from the catalogue) and ~5%
repeats of an earlier number. Batches of 10,000 as the bulk API receives them.

1. ``validations_per_min``: the bulk API's work for each batch, the steps ``POST
   /campaigns/validate`` takes (JSON body → ``read_bulk_request`` →
   ``BulkValidator.answer_json`` on a process pool of every core, dedup on → JSON answer),
   batches one after another, numbers per wall-clock minute; ``http_validations_per_min``: the
   same batches through that route over ASGI, with a tenant's key, quota and metering;
   ``import_rows_per_min``: a simulated lead file imported end to end on SQLite;
2. ``single_core_validations_per_min``: the same with the validation in one process;
3. ``phonenumbers_only_per_min``: plain ``phonenumbers.parse`` + ``is_valid_number`` + E.164 of
   each raw string (no legacy normalisation, no LADA), one process: the library's own speed;
   ``reference_path_per_min``: our reference path (normalisation + ``phonenumbers`` + LADA);
4. ``validations_per_cpu_min`` (and the single process's): numbers per CPU-minute of the
   parent and the workers together, a figure a busy machine disturbs less than the wall clock;
5. ``fast_vs_reference_mismatches``: numbers of the load where the fast answer differs from the
   reference (must be 0), and the share the fast path answers without the reference.

    .venv/bin/python benchmarks/campaigns.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import phonenumbers
import psutil
from phonenumbers import NumberParseException, PhoneNumberFormat
from rich.console import Console
from rich.table import Table

from _report import write_result
from ssmas.campaigns.phone import (
    BulkValidationRequest,
    BulkValidator,
    check_fast,
    check_many,
    check_reference,
    lada_catalogue,
    read_bulk_request,
)

BATCH = 10_000
SEED = 16


# How the valid numbers are written (n: the 10 digits; a, b, c: 3-3-4 groups; m, s, t: 2-4-4),
# with weights.
SPELLINGS: dict[str, float] = {
    "{n}": 30,
    "{m} {s} {t}": 8,
    "({a}) {b}-{c}": 10,
    "{a}.{b}.{c}": 4,
    "+52{n}": 10,
    "+52 {a} {b} {c}": 8,
    "52{n}": 3,
    "0052{n}": 2,
    "+52 1 {n}": 8,
    "521{n}": 3,
    "044 {n}": 5,
    "045{n}": 2,
    "01 {n}": 4,
    "1{n}": 3,
}


def spell(template: str, n: str) -> str:
    return template.format(n=n, a=n[:3], b=n[3:6], c=n[6:], m=n[:2], s=n[2:6], t=n[6:])


# How the damaged ones go wrong, with weights.
DAMAGE: list[tuple[Callable[[str, random.Random], str], float]] = [
    (lambda n, r: n[: r.randint(4, 9)], 4),
    (lambda n, r: n + str(r.randint(0, 99)), 3),
    (lambda n, r: n[:5] + "O" + n[6:], 2),
    (lambda n, r: "", 1),
    (lambda n, r: f"+1 {n}", 1),
    (lambda n, r: "1" + n[1:], 1),
    (lambda n, r: "800" + n[3:], 1),
    (lambda n, r: "220" + n[3:], 1),
    (lambda n, r: f"{n} ext. 12", 1),
]


def national_number(rng: random.Random, codes: list[str], weights: list[float]) -> str:
    code = rng.choices(codes, weights)[0]
    return code + "".join(rng.choice("0123456789") for _ in range(10 - len(code)))


def load(size: int, seed: int = SEED) -> list[str]:
    """``size`` numbers as leads write them: ~15% damaged, ~5% repeats."""
    rng = random.Random(seed)
    codes = [lada.code for lada in lada_catalogue()]
    weights = [40.0 if len(code) == 2 else 1.0 for code in codes]
    templates, template_w = list(SPELLINGS), list(SPELLINGS.values())
    damage, damage_w = zip(*DAMAGE, strict=True)
    numbers: list[str] = []
    for _ in range(size):
        if numbers and rng.random() < 0.05:
            numbers.append(rng.choice(numbers))
            continue
        template = rng.choices(templates, template_w)[0]
        written = spell(template, national_number(rng, codes, weights))
        if rng.random() < 0.15:
            written = rng.choices(damage, damage_w)[0](written, rng)
        numbers.append(written)
    return numbers


def bodies(numbers: list[str]) -> list[tuple[bytes, int]]:
    """The bulk API request bodies for ``numbers``: batches of 10,000, dedup on, a third of
    the numbers with presence flags."""
    out = []
    for start in range(0, len(numbers), BATCH):
        items: list[str | dict[str, object]] = []
        for i, raw in enumerate(numbers[start : start + BATCH]):
            items.append({"phone": raw, "whatsapp": i % 2 == 0} if i % 3 == 0 else raw)
        body = BulkValidationRequest.model_validate({"numbers": items, "dedup": True})
        out.append((body.model_dump_json(exclude_defaults=True).encode(), len(items)))
    return out


class Rate(NamedTuple):
    per_min: float  # numbers per wall-clock minute
    per_cpu_min: float  # numbers per CPU-minute of this process and the workers together
    latencies_ms: list[float]


def cpu_seconds(pids: list[int]) -> float:
    processes = [psutil.Process(), *map(psutil.Process, pids)]
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def bulk_rate(validator: BulkValidator, requests: list[tuple[bytes, int]]) -> Rate:
    """Serving ``requests`` one after another: numbers per minute of wall clock and of CPU,
    and each batch's ms."""
    pids = validator._pool.pids() if validator._pool is not None else []
    latencies, total = [], 0
    cpu = cpu_seconds(pids)
    began = time.perf_counter()
    for body, count in requests:
        start = time.perf_counter()
        # The bulk route's own steps: read the batch (to charge the tenant's quota for its
        # size), then validate it and encode the answer.
        answer = validator.answer_json(read_bulk_request(body))
        latencies.append((time.perf_counter() - start) * 1000)
        assert answer.startswith(b'{"items":')
        total += count
    wall = time.perf_counter() - began
    cpu = cpu_seconds(pids) - cpu
    return Rate(total / wall * 60, total / cpu * 60, latencies)


def http_rate(requests: list[tuple[bytes, int]], workers: int) -> Rate:
    """The same batches through ``POST /campaigns/validate`` of the real app (in process, over
    ASGI): an enterprise tenant's key, its quota, the metering of each batch."""
    import tempfile

    from fastapi.testclient import TestClient

    from ssmas.bootstrap import create_app, find_product
    from ssmas.campaigns.phone import BulkValidator as Validator
    from ssmas.campaigns.runtime import campaigns_runtime
    from ssmas.campaigns.tenancy import create_tenant, issue_key
    from ssmas.core.logging import configure_logging
    from ssmas.core.platform import build_platform
    from ssmas.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(profile="test", data_dir=Path(folder), log_level="WARNING")
        settings = settings.model_copy(update={"rate_limit_burst": 1_000_000})
        settings.ensure_dirs()
        configure_logging(settings)  # one request line per batch would drown the table
        platform = build_platform(settings)
        try:
            runtime = campaigns_runtime(platform)
            runtime.validator.close()
            runtime.validator = Validator(workers).start()
            with platform.uow() as uow:
                tenant = create_tenant(uow.session, "bench-mx", "Bench", "enterprise")
                raw, _ = issue_key(uow.session, tenant)
                uow.commit()
            app = create_app(platform, products=[find_product("campaigns")])
            headers = {"X-API-Key": raw, "Content-Type": "application/json"}
            with TestClient(app) as client:
                client.post("/campaigns/validate", content=requests[0][0], headers=headers)
                pids = runtime.validator._pool.pids() if runtime.validator._pool else []
                latencies, total = [], 0
                cpu = cpu_seconds(pids)
                began = time.perf_counter()
                for body, count in requests:
                    start = time.perf_counter()
                    answer = client.post("/campaigns/validate", content=body, headers=headers)
                    latencies.append((time.perf_counter() - start) * 1000)
                    assert answer.status_code == 200, answer.text[:200]
                    total += count
                wall = time.perf_counter() - began
                cpu = cpu_seconds(pids) - cpu
        finally:
            platform.close()
    return Rate(total / wall * 60, total / cpu * 60, latencies)


def import_rate(rows: int, workers: int) -> tuple[float, int]:
    """Rows a minute of a lead import on the embedded default (SQLite): a simulated CSV read,
    validated by the bulk validator, deduplicated, encrypted and written; and the leads made."""
    import tempfile

    from ssmas.campaigns.leads import import_leads, simulated_leads_csv
    from ssmas.campaigns.runtime import campaigns_runtime
    from ssmas.campaigns.tenancy import create_tenant
    from ssmas.core.platform import build_platform
    from ssmas.settings import Settings

    data = simulated_leads_csv(rows, seed=SEED)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(profile="test", data_dir=Path(folder))
        settings.ensure_dirs()
        platform = build_platform(settings)
        try:
            runtime = campaigns_runtime(platform)
            runtime.validator.close()
            runtime.validator = BulkValidator(workers).start()
            with platform.uow() as uow:
                tenant = create_tenant(uow.session, "bench-import", "Bench", "enterprise")
                uow.commit()
            began = time.perf_counter()
            summary = import_leads(
                platform.session_factory,
                tenant.id,
                "bench.csv",
                data,
                cipher=runtime.cipher,
                checker=runtime.validator,
            )
            wall = time.perf_counter() - began
        finally:
            platform.close()
    return summary.rows / wall * 60, summary.created


def phonenumbers_only(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, "MX")
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def per_minute(function: Callable[[str], object], numbers: list[str]) -> tuple[float, float]:
    """``function`` over ``numbers`` in this process: numbers per wall-clock and CPU minute."""
    start, cpu = time.perf_counter(), time.process_time()
    for raw in numbers:
        function(raw)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(numbers) / wall * 60, len(numbers) / cpu * 60


def contention_note(load_avg: float) -> str:
    """Why the wall-clock figures move on a busy machine, when it is busy."""
    if load_avg < (os.cpu_count() or 1):
        return ""
    try:
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        autogroup = False
    note = " The machine was busy with other work: wall-clock rates are below an idle machine's"
    if autogroup:
        note += (
            "; with sched_autogroup on, the kernel shares the CPU per session, so the worker "
            "pool's extra processes likely add little CPU to this run while its IPC costs some "
            "(validations_per_cpu_min depends less on the load)"
        )
    return note + "."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 batches, 5k reference numbers")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    batches = 3 if args.quick else 60
    single_batches = 2 if args.quick else 20
    reference_n = 5_000 if args.quick else 50_000
    numbers = load(batches * BATCH)
    requests = bodies(numbers)
    checks = check_many(numbers[:reference_n])
    reasons = Counter(check.reason.value if check.reason else "valid" for check in checks)
    invalid_share = 1 - reasons["valid"] / len(checks)

    with BulkValidator(args.workers).start() as validator:
        bulk_rate(validator, requests[:1])  # warm: first batch through the pool
        bulk = bulk_rate(validator, requests)
    single = bulk_rate(BulkValidator(1), requests[:single_batches])
    http = http_rate(requests, args.workers)
    import_rows = 5_000 if args.quick else 50_000
    imported_per_min, imported_leads = import_rate(import_rows, args.workers)

    sample = numbers[:reference_n]
    only_pn, only_pn_cpu = per_minute(phonenumbers_only, sample)
    reference, _ = per_minute(check_reference, sample)
    fast = [check_fast(raw) for raw in sample]
    mismatches = sum(
        f is not None and f != check_reference(raw) for f, raw in zip(fast, sample, strict=True)
    )
    fast_share = sum(f is not None for f in fast) / len(sample)

    figures = {
        "validations_per_min": round(bulk.per_min),
        "http_validations_per_min": round(http.per_min),
        "http_bulk_10k_p50_ms": round(statistics.median(http.latencies_ms), 1),
        "import_rows_per_min": round(imported_per_min),
        "single_core_validations_per_min": round(single.per_min),
        "phonenumbers_only_per_min": round(only_pn),
        "reference_path_per_min": round(reference),
        "speedup_vs_phonenumbers_only": round(bulk.per_min / only_pn, 1),
        "validations_per_cpu_min": round(bulk.per_cpu_min),
        "single_core_validations_per_cpu_min": round(single.per_cpu_min),
        "phonenumbers_only_per_cpu_min": round(only_pn_cpu),
        "bulk_10k_p50_ms": round(statistics.median(bulk.latencies_ms), 1),
        "bulk_10k_max_ms": round(max(bulk.latencies_ms), 1),
        "fast_vs_reference_mismatches": mismatches,
        "fast_path_share": round(fast_share, 4),
        "invalid_share": round(invalid_share, 4),
        "workers": args.workers,
        "numbers": len(numbers),
    }
    table = Table(title=f"campaigns: {len(numbers):,} numbers in batches of {BATCH:,}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
    Console().print("load mix (first sample):", dict(reasons.most_common()))

    load_avg = os.getloadavg()[0]
    notes = (
        f"{'QUICK run. ' if args.quick else ''}Bulk API code path without HTTP, the steps "
        "POST /campaigns/validate takes: JSON body -> read_bulk_request (msgspec; pydantic for "
        "what it refuses) -> BulkValidator.answer_json "
        f"({args.workers} worker processes, dedup on) -> JSON answer, "
        f"{len(requests)} batches of {BATCH:,} back to back after one warm batch; "
        "http_validations_per_min: the same batches through the route itself over ASGI "
        "(TestClient, an enterprise tenant's key, its validations quota and usage metering); "
        f"import_rows_per_min: a {import_rows:,}-row simulated lead CSV imported on SQLite "
        f"({imported_leads:,} leads made; validation, dedup, Fernet encryption, metering); "
        f"single core: the same with workers=1 ({single_batches} batches); phonenumbers only: "
        f"parse+is_valid+E.164 per raw string on {reference_n:,} numbers in one process. "
        f"Mix: seed {SEED}, {invalid_share:.1%} rejected ({dict(reasons.most_common())}). "
        f"Fast path checked against the reference on the same {reference_n:,}: {mismatches} "
        f"mismatches. 1-minute load average at the end {load_avg:.1f} on {os.cpu_count()} "
        f"cores.{contention_note(load_avg)}"
    )
    # Lead-quality figures are measured by another script and merged into the same file.
    keep = ("lead_quality_auc", "ensemble_vs_best_single", "lead_predict_p99_ms")
    keep += ("lead_batch_per_s",)
    path = write_result("campaigns", figures, notes, quick=args.quick, keep=keep)
    print(f"wrote {path}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
