"""Lead quality (issue 16, item 3): how well the seed's ensemble recovers the simulator's ground
truth, and how fast it scores, in process and over HTTP.

1. ``ssmas campaigns quality train``'s path: simulated leads (seed 0) train the four members
   with 5-fold cross-validated weights; the version is registered and becomes champion. On
   held-out simulated leads (another seed): the ensemble's AUC → ``lead_quality_auc``; its
   ratio to the best single member's AUC → ``ensemble_vs_best_single``; also every member's
   AUC, the oracle's (the true probability), the share of the oracle's skill the ensemble
   reaches, Brier scores.
2. In process: the champion loaded back from the registry as the ``FastScorer``; batches of
   10,000 raw leads (features + four members + weights) → ``lead_batch_per_s`` (median of
   the repeats), beside the libraries' own ``predict_proba`` on the same batches.
3. Over HTTP: ``ssmas serve`` (one uvicorn worker) in its own process, one lead per request
   at a fixed open-loop rate (latency from the scheduled send time) → ``lead_predict_p99_ms``;
   10,000-lead column batches back to back → ``lead_batch_http_per_s``.

    .venv/bin/python benchmarks/campaigns_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from rich.console import Console  # noqa: E402
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

import api as house_load  # noqa: E402  (ports, keys, health, percentiles)
import pricing_serving as serving  # noqa: E402  (server processes and the load generator)
from _report import merge_figures, write_result  # noqa: E402

NAME = "campaigns_quality"
SHARED_KEYS = ("lead_quality_auc", "ensemble_vs_best_single", "lead_predict_p99_ms")
SHARED_KEYS += ("lead_batch_per_s",)
TARGET_P99_MS = 5.0
TARGET_BATCH_PER_S = 100_000
BATCH = 10_000
console = Console()


def quality(data_dir: Path, quick: bool) -> dict[str, Any]:
    from ssmas.campaigns.quality.lifecycle import TrainConfig, train_and_decide
    from ssmas.core.registry import registry_from_settings
    from ssmas.settings import Settings

    config = TrainConfig(
        leads=3_000 if quick else 20_000,
        test_leads=5_000 if quick else 50_000,
        folds=2 if quick else 5,
        rounds=60 if quick else 200,
        seed=0,
    )
    registry = registry_from_settings(Settings(profile="test", data_dir=data_dir))
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("training", total=None)
        decision = train_and_decide(
            registry, config, progress=lambda text: bar.update(task, description=text)
        )
    return {
        "decision": decision,
        "config": config,
        "train_s": time.perf_counter() - started,
    }


def inprocess(data_dir: Path, quick: bool) -> dict[str, Any]:
    from ssmas.campaigns.quality.fast import FastScorer
    from ssmas.campaigns.quality.features import LEAD_FIELDS, lead_matrix
    from ssmas.campaigns.quality.lifecycle import load
    from ssmas.campaigns.quality.simulator import simulate_leads
    from ssmas.core.registry import registry_from_settings
    from ssmas.settings import Settings

    ensemble, version = load(registry_from_settings(Settings(profile="test", data_dir=data_dir)))
    scorer = FastScorer(ensemble, version=str(version))
    frames = [simulate_leads(BATCH, seed=100 + i)[list(LEAD_FIELDS)] for i in range(3)]
    repeats = 5 if quick else 30

    def rates(score: Any) -> tuple[list[float], float]:
        score(frames[0])  # warm-up
        out = []
        cpu = time.process_time()
        for i in range(repeats):
            t0 = time.perf_counter()
            score(frames[i % len(frames)])
            out.append(BATCH / (time.perf_counter() - t0))
        return out, BATCH * repeats / (time.process_time() - cpu)

    from ssmas.campaigns.quality.features import lead_row

    singles = frames[0].head(2000).to_dict("records")
    scorer.score(lead_row(singles[0]))
    one_ms = []
    for lead in singles:
        t0 = time.perf_counter()
        scorer.score(lead_row(lead))
        one_ms.append((time.perf_counter() - t0) * 1000.0)
    one_ms.sort()
    fast, fast_cpu = rates(lambda f: scorer.score(lead_matrix(f)))
    reference, _ = rates(lambda f: ensemble.predict_with_confidence(lead_matrix(f)))
    return {
        "scorer": scorer,
        "one_p50_ms": house_load._percentile(one_ms, 0.5),
        "one_p99_ms": house_load._percentile(one_ms, 0.99),
        "fast_median": statistics.median(fast),
        "fast_per_cpu_s": fast_cpu,
        "fast_best": max(fast),
        "reference_median": statistics.median(reference),
        "trees": ensemble.tree_counts(),
        "weights": dict(ensemble.weights_),
        "cv_auc": dict(ensemble.cv_auc_),
    }


def _one_leads(n: int) -> list[dict[str, Any]]:
    from ssmas.campaigns.quality.features import LEAD_FIELDS
    from ssmas.campaigns.quality.simulator import simulate_leads

    frame = simulate_leads(n, seed=7)[list(LEAD_FIELDS)]
    return json.loads(frame.to_json(orient="records"))  # type: ignore[no-any-return]


def _batch_body() -> bytes:
    from ssmas.campaigns.quality.features import LEAD_FIELDS
    from ssmas.campaigns.quality.simulator import simulate_leads

    frame = simulate_leads(BATCH, seed=8)[list(LEAD_FIELDS)]
    columns = json.loads(frame.to_json(orient="split"))
    data = list(zip(*columns["data"], strict=True))
    body = {"columns": dict(zip(columns["columns"], map(list, data), strict=True))}
    return json.dumps(body, separators=(",", ":")).encode()


def over_http(data_dir: Path, quick: bool) -> dict[str, Any]:
    import httpx

    key = house_load._create_key(data_dir)
    port = house_load._free_port()
    path = "/campaigns/quality/score"
    duration = 3.0 if quick else 20.0
    singles = [json.dumps(lead) for lead in _one_leads(64)]
    spec = {"key": key, "path": path, "bodies": singles}
    batch = _batch_body()
    with serving.servers((serving._ssmas_cmd(port), serving._env(data_dir))) as (server,):
        server.wait(lambda p: house_load._wait_healthy(port, p, 300.0))
        url = f"http://127.0.0.1:{port}{path}"
        headers = {"X-API-Key": key, "content-type": "application/json"}
        with httpx.Client(timeout=60) as client:
            first = client.post(url, content=singles[0], headers=headers)  # loads the champion
            if first.status_code != 200:
                raise SystemExit(f"the server refused a lead: {first.status_code} {first.text}")
            serving._drive(spec, port, 200.0, 1.0 if quick else 3.0)  # warm-up
            single = serving._summary(serving._drive(spec, port, 200.0, duration))
            seconds = []
            for _ in range(3 if quick else 10):
                t0 = time.perf_counter()
                answer = client.post(url, content=batch, headers=headers)
                seconds.append(time.perf_counter() - t0)
                if answer.status_code != 200 or answer.json()["count"] != BATCH:
                    raise SystemExit(f"batch refused: {answer.status_code} {answer.text[:300]}")
    return {
        "single": single,
        "batch_http_per_s": BATCH / statistics.median(seconds),
        "batch_body_bytes": len(batch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute or two")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-quality-") as tmp:
        data_dir = Path(tmp) / "data"
        trained = quality(data_dir, args.quick)
        local = inprocess(data_dir, args.quick)
        http = over_http(data_dir, args.quick)
    decision, config = trained["decision"], trained["config"]
    m = decision.metrics
    single = http["single"]
    figures: dict[str, Any] = {
        "lead_quality_auc": round(m["auc"], 4),
        "ensemble_vs_best_single": round(m["ensemble_vs_best_single"], 4),
        "lead_predict_p99_ms": single["p99_ms"],
        "lead_batch_per_s": round(local["fast_median"]),
        "lead_predict_p50_ms": single["p50_ms"],
        "lead_score_inprocess_p50_ms": round(local["one_p50_ms"], 3),
        "lead_score_inprocess_p99_ms": round(local["one_p99_ms"], 3),
        "lead_predict_p999_ms": single["p999_ms"],
        "lead_predict_rate_per_s": single["rate_per_s"],
        "lead_predict_errors": single["errors"],
        "lead_predict_requests": single["requests"],
        "lead_batch_best_per_s": round(local["fast_best"]),
        "lead_batch_per_cpu_s": round(local["fast_per_cpu_s"]),
        "lead_batch_reference_per_s": round(local["reference_median"]),
        "lead_batch_http_per_s": round(http["batch_http_per_s"]),
        "batch_body_bytes": http["batch_body_bytes"],
        "best_single_auc": round(m["best_single_auc"], 4),
        **{f"auc_{name}": round(m[f"auc_{name}"], 4) for name in local["weights"]},
        "oracle_auc": round(m["oracle_auc"], 4),
        "oracle_skill_share": round(m["oracle_skill_share"], 4),
        "brier": round(m["brier"], 5),
        "oracle_brier": round(m["oracle_brier"], 5),
        "true_p_corr": round(m["true_p_corr"], 4),
        "true_p_mae": round(m["true_p_mae"], 4),
        "weights": {k: round(v, 4) for k, v in local["weights"].items()},
        "cv_auc": {k: round(v, 4) for k, v in local["cv_auc"].items()},
        "trees": local["trees"],
        "train_leads": config.leads,
        "test_leads": config.test_leads,
        "folds": config.folds,
        "train_s": round(trained["train_s"], 1),
        "target_p99_ms": TARGET_P99_MS,
        "target_batch_per_s": TARGET_BATCH_PER_S,
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(os.getloadavg()[0], 2),
    }
    table = Table(title="lead quality" + (" (quick)" if args.quick else ""))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)
    notes = (
        f"Simulated leads (ssmas.campaigns.quality.simulator, known ground truth: observable "
        f"log-odds plus N(0, 0.6) unobserved intent, labels drawn from the true probability): "
        f"{config.leads:,} to train (seed 0, {config.folds}-fold CV for the weights), "
        f"{config.test_leads:,} held out (another seed). lead_quality_auc is the ensemble's AUC "
        "on the held-out labels; ensemble_vs_best_single divides it by the best member's AUC "
        "on the same leads; oracle_auc is the true probability's AUC (the ceiling) and "
        "oracle_skill_share (AUC - 0.5) / (oracle - 0.5). lead_batch_per_s: in process, the "
        "registered champion loaded back as the FastScorer, 10,000-lead batches from raw "
        "fields (features included), median of the repeats, one thread per library "
        "(lead_batch_per_cpu_s: the same work per second of this process's CPU time, less "
        "sensitive to a busy machine); "
        "lead_batch_reference_per_s is the libraries' own predict_proba on the same batches. "
        "lead_score_inprocess_p50/p99_ms: one lead's features and scores in process "
        "(the compiled forest and the MLP), without HTTP. "
        "lead_predict_p99_ms: `ssmas serve` (one uvicorn worker, SQLite, every product "
        "started) in its own process, one lead per POST /campaigns/quality/score at 200/s "
        "open loop, latency from the scheduled send time (no coordinated omission); "
        "lead_batch_http_per_s: 10,000-lead column bodies posted back to back. The machine "
        "is shared (2 cores): load_avg_before / after say how busy it was."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    console.print(f"wrote {path.relative_to(ROOT)}")
    if not args.quick:
        merged = merge_figures("campaigns", {k: figures[k] for k in SHARED_KEYS}, f"{NAME}.py")
        if merged is not None:
            console.print(f"merged {', '.join(SHARED_KEYS)} into {merged.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
