"""Pricing serving under load: /v2/predict open loop, batches of 1000, MLflow serving as the peer.

A model is trained with ``train_model`` on one simulated exchange day (~200k impressions),
registered and promoted, then served by ``ssmas serve`` (one uvicorn worker) in its own process;
the load comes from another process (the house's open-loop generator from ``benchmarks/api.py``,
imported, with keep-alive connections and latency from each request's scheduled send time).

1. ``/v2/predict`` at 1,000 req/s → ``predict_p99_ms``, ``predict_rate_per_s``;
2. ``/v2/predict/batch`` of 1000 rows → ``batch1000_p99_ms``;
3. closed-loop maximum throughput at batch 1 of ours and of the same booster served by
   ``mlflow models serve --env-manager local`` (the registered ``mlflow.xgboost`` model, fed the
   already-encoded feature row) → ``mlflow_serve_throughput_ratio`` (ours / theirs);
4. in process (no HTTP): ``inplace_predict`` rows/s → ``inprocess_rows_per_s``, and the
   server-side work of one 1000-row batch body → ``inprocess_batch1000_ms``;
5. the server restarted with the model made slow (``SSMAS_PRICING_INJECTED_DELAY_MS``) →
   ``fallback_p99_ms``, to compare with the timeout.

    .venv/bin/python benchmarks/pricing_serving.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

import api as house_load  # noqa: E402  (the open-loop generator of benchmarks/api.py)
from ssmas.core.health import stop_processes  # noqa: E402

NAME = "pricing_serving"
TARGET_P99_MS = 3.0
TARGET_BATCH_P99_MS = 15.0
TARGET_RATIO = 5.0
TARGET_ROWS_PER_S = 1_000_000
TIMEOUT_MS = 50.0
SLOW_MS = 200.0
# The serving figures BENCHMARKS.md lists under pricing.json: merged there after each full run.
SHARED_KEYS = (
    "predict_p99_ms",
    "predict_rate_per_s",
    "batch1000_p99_ms",
    "mlflow_serve_throughput_ratio",
)


# --- load generation (runs in its own process) -----------------------------------------------


def _post(path: str, port: int, key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def open_loop(port: int, requests: list[bytes], rate: float, duration: float) -> dict[str, Any]:
    """One connection per request body, each serving every n-th slot of the schedule."""
    return house_load.open_loop("127.0.0.1", port, requests, rate, duration)


def closed_loop(port: int, requests: list[bytes], duration: float) -> dict[str, Any]:
    """Each connection sends its request again as soon as the answer arrives."""
    deadline = time.perf_counter() + duration
    counts = [0] * len(requests)
    errors = [0] * len(requests)

    def run(n: int) -> None:
        sock = house_load._connect("127.0.0.1", port)
        buffer = b""
        while sock is not None and time.perf_counter() < deadline:
            try:
                sock.sendall(requests[n])
                status, buffer = house_load._read_response(sock, buffer)
            except OSError:
                errors[n] += 1
                break
            if status == 200:
                counts[n] += 1
            else:
                errors[n] += 1
        if sock is not None:
            sock.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"rate_per_s": sum(counts) / elapsed, "ok": sum(counts), "errors": sum(errors)}


def generate(args: argparse.Namespace) -> None:
    spec = json.loads(Path(args.spec).read_text())
    requests = [_post(spec["path"], args.port, spec["key"], b.encode()) for b in spec["bodies"]]
    if args.closed:
        print(json.dumps(closed_loop(args.port, requests, args.duration)))
    else:
        print(json.dumps(open_loop(args.port, requests, args.rate, args.duration)))


def _drive(
    spec: dict[str, Any], port: int, rate: float, duration: float, closed: bool = False
) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    cmd = [sys.executable, __file__, "--generate", f"--spec={handle.name}", f"--port={port}"]
    cmd += [f"--rate={rate}", f"--duration={duration}"] + (["--closed"] if closed else [])
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=True, timeout=duration + 120
        )
    finally:
        os.unlink(handle.name)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(raw: dict[str, Any]) -> dict[str, Any]:
    results = raw["results"]
    ok = sorted(r[0] * 1000 for r in results if r[2] == 200)
    return {
        "rate_per_s": round(len(results) / raw["elapsed_s"], 1),
        "p50_ms": round(house_load._percentile(ok, 0.50), 3),
        "p99_ms": round(house_load._percentile(ok, 0.99), 3),
        "p999_ms": round(house_load._percentile(ok, 0.999), 3),
        "errors": sum(1 for r in results if r[2] != 200),
        "requests": len(results),
    }


# --- preparation: model, registry, key, request bodies ---------------------------------------


def prepare(data_dir: Path, rows: int) -> dict[str, Any]:
    """Train and register the champion; return the key, request bodies and encoded rows."""
    from ssmas.core.platform import build_platform
    from ssmas.core.registry import registry_from_settings
    from ssmas.core.security.keys import create_api_key
    from ssmas.exchange import SimulationConfig, simulate_frame
    from ssmas.pricing.model.bundle import MODEL_NAME, save_to_registry, train_model
    from ssmas.pricing.schemas import PredictRequest
    from ssmas.pricing.serving.capture import sampled
    from ssmas.settings import Settings

    settings = Settings(profile="test", data_dir=data_dir)
    started = time.perf_counter()
    impressions, _ = simulate_frame(
        SimulationConfig(start=date(2026, 3, 2), days=1, impressions_per_day=rows)
    )
    model, metrics = train_model(impressions)
    train_s = time.perf_counter() - started
    registry = registry_from_settings(settings)
    info = save_to_registry(registry, model, tags={"purpose": "benchmark"})
    registry.promote(MODEL_NAME, info.version)
    platform = build_platform(settings)
    try:
        with platform.uow() as uow:
            key, _record = create_api_key(uow.session, "bench", ["pricing:read"])
            uow.commit()
    finally:
        platform.close()

    fields = list(PredictRequest.model_fields)
    table = impressions.select([f for f in fields if f in impressions.column_names])
    picked = table.slice(0, 2000).to_pylist()
    bodies = []
    for row in picked:
        body = {
            k: v for k, v in row.items() if v is not None and k not in ("bidder", "demand_channel")
        }
        bodies.append(
            PredictRequest.model_validate(body).model_dump(mode="json", exclude_none=True)
        )
    # 10 single-request connections, one of them in the 10% capture sample (as in production).
    singles = [b for b in bodies if sampled(b["impression_id"], 0.1)][:1]
    singles += [b for b in bodies if not sampled(b["impression_id"], 0.1)][:9]
    encoded = model.encoder.encode_requests([PredictRequest.model_validate(b) for b in singles])
    return {
        "key": key,
        "singles": singles,
        "batch": bodies[:1000],
        "encoded": encoded.tolist(),
        "features": list(model.schema.feature_names),
        "version": info.version,
        "train_rows": int(metrics["train_rows"]),
        "prepare_s": round(train_s, 1),
        "valid_rmse": round(metrics["valid_rmse"], 4),
        **inprocess(model, impressions, bodies[:1000], 200_000 if rows < 100_000 else 1_000_000),
    }


def inprocess(model: Any, impressions: Any, batch: list[Any], rows: int) -> dict[str, Any]:
    """In-process figures, free of HTTP and of the machine's queueing.

    ``inprocess_rows_per_s``: ``inplace_predict`` on the day's own encoded rows (tiled to
    ``rows``), best of 1 and 2 XGBoost threads. ``inprocess_batch1000_ms``: the median server
    work of one 1000-row ``/v2/predict/batch`` body (decode, encode, score, answer JSON).
    """
    import numpy as np

    from ssmas.pricing.api import PREDICT_ROWS
    from ssmas.pricing.model.bundle import request_view
    from ssmas.pricing.serving.responses import Priced, batch_json, utc_timestamp

    encoded = np.ascontiguousarray(model.encoder.encode_frame(request_view(impressions)))
    x = np.ascontiguousarray(np.resize(encoded, (rows, encoded.shape[1])))
    rates = {}
    for threads in (1, 2):
        model.set_threads(threads)
        model.predict_point(x[:1000])
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            model.predict_point(x)
            best = max(best, rows / (time.perf_counter() - started))
        rates[threads] = best
    model.set_threads(1)
    raw = json.dumps(batch).encode()

    def one_batch() -> bytes:
        read = PREDICT_ROWS.parse(raw)  # the route's reader (per-row errors when any)
        reqs = read.rows
        features, history = model.encoder.encode_batch(reqs)
        priced = Priced.empty(len(reqs))
        priced.point, priced.lower, priced.upper = model.predict_matrix(features)
        priced.history = history
        return batch_json(reqs, priced, utc_timestamp(), 1.0, read.errors)

    times = []
    for _ in range(60):
        started = time.perf_counter()
        one_batch()
        times.append(time.perf_counter() - started)
    return {
        "inprocess_rows_per_s": round(max(rates.values())),
        "inprocess_rows_per_s_1thread": round(rates[1]),
        "inprocess_rows_per_s_2threads": round(rates[2]),
        "inprocess_batch1000_ms": round(sorted(times)[len(times) // 2] * 1000, 3),
    }


# --- servers ----------------------------------------------------------------------------------


def _env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update(
        {
            "SSMAS_PROFILE": "test",
            "SSMAS_DATA_DIR": str(data_dir),
            "SSMAS_RATE_LIMIT_PER_S": "1000000",
            "SSMAS_RATE_LIMIT_BURST": "1000000",
            "SSMAS_LOG_LEVEL": "WARNING",
            "SSMAS_PRICING_TIMEOUT_MS": str(TIMEOUT_MS),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            # mlflow models serve execs `uvicorn` from PATH: the venv's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    env.update(extra or {})
    return env


def _get(port: int, path: str, key: str = "") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode())
        status, _ = house_load._read_response(sock, b"")
        return status, b""


def _wait_model(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    """Wait until /ready answers 200 (the champion load has finished)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with code {proc.returncode}")
        try:
            if _get(port, "/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the pricing server did not load its model in time")


class Server:
    """A server process with its output kept aside (shown if it fails to start)."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Any) -> None:
        self.log = log
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, ready: Any) -> None:
        try:
            ready(self.proc)
        except BaseException:
            self.log.seek(0)
            sys.stderr.write(self.log.read().decode(errors="replace")[-4000:])
            raise

    def stop(self) -> None:
        stop_processes([self.proc], timeout_s=30)


@contextmanager
def servers(*specs: tuple[list[str], dict[str, str]]) -> Iterator[list[Server]]:
    """Start every server at once (their imports overlap), stop them all at the end."""
    with ExitStack() as stack:
        started = []
        for cmd, env in specs:
            server = Server(cmd, env, stack.enter_context(tempfile.TemporaryFile()))
            stack.callback(server.stop)
            started.append(server)
        yield started


def _ssmas_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "ssmas.cli", "serve", "--port", str(port), "--workers", "1"]


def _fallback_check(port: int, key: str, body: dict[str, Any]) -> dict[str, Any]:
    import httpx

    answer = httpx.post(
        f"http://127.0.0.1:{port}/v2/predict", json=body, headers={"X-API-Key": key}, timeout=10
    )
    return dict(answer.json())


def measure(quick: bool) -> tuple[dict[str, Any], str]:
    duration = 2.0 if quick else 20.0
    rows = 30_000 if quick else 200_000
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-pricing-") as tmp:
        data_dir = Path(tmp) / "data"
        prep = prepare(data_dir, rows)
        key = prep["key"]
        single = {
            "key": key,
            "path": "/v2/predict",
            "bodies": [json.dumps(b) for b in prep["singles"]],
        }
        batch = {"key": key, "path": "/v2/predict/batch", "bodies": [json.dumps(prep["batch"])] * 2}

        port, slow_port, peer_port = (house_load._free_port() for _ in range(3))
        mlflow_cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve"]
        mlflow_cmd += ["-m", f"models:/pricing-cpm/{prep['version']}", "--env-manager", "local"]
        mlflow_cmd += ["--host", "127.0.0.1", "-p", str(peer_port), "-w", "1"]
        mlflow_env = _env(data_dir, {"MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow.db'}"})
        slow_env = _env(data_dir, {"SSMAS_PRICING_INJECTED_DELAY_MS": str(SLOW_MS)})
        peer_bodies = [
            json.dumps({"dataframe_split": {"columns": prep["features"], "data": [row]}})
            for row in prep["encoded"][:4]
        ]
        peer_spec = {"key": "", "path": "/invocations", "bodies": peer_bodies}
        warm = 1.0 if quick else 3.0
        with servers(
            (_ssmas_cmd(port), _env(data_dir)),
            (_ssmas_cmd(slow_port), slow_env),
            (mlflow_cmd, mlflow_env),
        ) as (ours, slow, peer):
            ours.wait(lambda p: _wait_model(port, p))
            slow.wait(lambda p: _wait_model(slow_port, p))
            peer.wait(lambda p: house_load._wait_healthy(peer_port, p, 300.0))

            _drive(single, port, 200.0, warm)  # warm-up: the model earns the inline path
            _drive(batch, port, 20.0, max(warm, 1.5))  # and its batches (20 fast calls)
            predict = _summary(_drive(single, port, 1000.0, duration))
            batched = _summary(_drive(batch, port, 20.0, 3 * duration))
            ours_max = _drive({**single, "bodies": single["bodies"][:4]}, port, 0, duration, True)

            _drive(peer_spec, peer_port, 20.0, warm)  # warm-up
            peer_max = _drive(peer_spec, peer_port, 0, duration, True)

            answer = _fallback_check(slow_port, key, prep["singles"][0])
            fallback = _summary(_drive(single, slow_port, 100.0, duration))

    ratio = ours_max["rate_per_s"] / peer_max["rate_per_s"] if peer_max["rate_per_s"] else None
    figures: dict[str, Any] = {
        "predict_p99_ms": predict["p99_ms"],
        "predict_rate_per_s": predict["rate_per_s"],
        "predict_p50_ms": predict["p50_ms"],
        "predict_p999_ms": predict["p999_ms"],
        "predict_errors": predict["errors"],
        "predict_requests": predict["requests"],
        "batch1000_p99_ms": batched["p99_ms"],
        "batch1000_p50_ms": batched["p50_ms"],
        "batch1000_rate_per_s": batched["rate_per_s"],
        "batch1000_errors": batched["errors"],
        "batch1000_requests": batched["requests"],
        "ours_max_rate_per_s": round(ours_max["rate_per_s"], 1),
        "mlflow_max_rate_per_s": round(peer_max["rate_per_s"], 1),
        "mlflow_errors": peer_max["errors"],
        "mlflow_serve_throughput_ratio": None if ratio is None else round(ratio, 2),
        "fallback_p99_ms": fallback["p99_ms"],
        "fallback_p50_ms": fallback["p50_ms"],
        "fallback_errors": fallback["errors"],
        "fallback_flagged": bool(answer.get("fallback")),
        "timeout_ms": TIMEOUT_MS,
        "slow_model_delay_ms": SLOW_MS,
        "target_p99_ms": TARGET_P99_MS,
        "target_batch1000_p99_ms": TARGET_BATCH_P99_MS,
        "duration_s": duration,
        "train_rows": prep["train_rows"],
        "valid_rmse": prep["valid_rmse"],
        "inprocess_rows_per_s": prep["inprocess_rows_per_s"],
        "inprocess_rows_per_s_1thread": prep["inprocess_rows_per_s_1thread"],
        "inprocess_rows_per_s_2threads": prep["inprocess_rows_per_s_2threads"],
        "inprocess_batch1000_ms": prep["inprocess_batch1000_ms"],
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    notes = (
        f"Model: train_model on one simulated exchange day ({rows:,} impressions, "
        f"{prep['train_rows']:,} filled training rows), registered and promoted; served by "
        "`ssmas serve` (one uvicorn worker, SQLite, JSON logs at WARNING, rate limit raised) in "
        "its own process. Load from a separate process with the open-loop generator of "
        "benchmarks/api.py (keep-alive connections, latency from each request's scheduled send "
        f"time): /v2/predict at 1000 req/s for {duration:g} s over 10 connections (10 impression "
        "ids, one in the 10% capture sample); /v2/predict/batch of 1000 rows at 20 req/s over 2 "
        f"connections for {3 * duration:g} s (batch1000_requests answers: at 20 req/s a 20 s "
        "run holds 400, and its p99 would be the 4th slowest alone). Throughput: closed loop, "
        "4 connections, batch of 1, for ours and for "
        "`mlflow models serve --env-manager local -w 1` serving the same registered booster "
        "(mlflow.xgboost flavor) fed the already-encoded 17-feature row (dataframe_split), so "
        "the peer does less work per request than we do. Fallback: a second server of ours "
        f"with a {SLOW_MS:g} ms delay injected into every model call and a {TIMEOUT_MS:g} ms "
        "timeout, 100 req/s over the 10 connections. Before measuring, 200 req/s singles and "
        "20 batches/s warm our server up (a model earns the inline path after 20 fast calls, "
        "singles and batches separately). The three servers start together and "
        "idle while another is measured. The machine (2 cores) is shared with other work "
        "(load_avg_1m_*): when it is oversubscribed, a server gets a fraction of a core and "
        "latency is queueing for the CPU, not serving. In-process (parent process, before the "
        "servers start): inprocess_rows_per_s is inplace_predict on the day's encoded rows "
        "tiled to 1M (200k with --quick), best of 1 and 2 threads; inprocess_batch1000_ms is "
        "the median server-side work of one 1000-row batch body (msgspec decode, columnar "
        "encoding, scoring, JSON answer), without HTTP or queueing."
    )
    return figures, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per measurement, smaller model")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--closed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args)
        return

    from rich.console import Console
    from rich.table import Table

    from _report import merge_figures, write_result

    figures, notes = measure(args.quick)
    path = write_result(NAME, figures, notes, quick=args.quick)
    if not args.quick:  # BENCHMARKS.md reports these under pricing.json
        merge_figures("pricing", {k: figures[k] for k in SHARED_KEYS}, f"benchmarks/{NAME}.py")
    table = Table(title="Pricing serving: /v2/predict, batches, MLflow peer, fallback")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, str(value))
    console = Console()
    console.print(table)
    checks = [
        ("predict p99", figures["predict_p99_ms"], TARGET_P99_MS, "ms", "<="),
        ("batch1000 p99", figures["batch1000_p99_ms"], TARGET_BATCH_P99_MS, "ms", "<="),
        ("throughput vs MLflow", figures["mlflow_serve_throughput_ratio"], TARGET_RATIO, "x", ">="),
        ("fallback p99", figures["fallback_p99_ms"], TIMEOUT_MS * 1.2, "ms", "<="),
        ("in-process rows/s", figures["inprocess_rows_per_s"], TARGET_ROWS_PER_S, "", ">="),
    ]
    for label, value, target, unit, op in checks:
        met = value is not None and (value <= target if op == "<=" else value >= target)
        console.print(f"{label}: {value} {unit} {'meets' if met else 'MISSES'} {op} {target:g}")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
