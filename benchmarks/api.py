"""API latency under an open-loop load: ``GET /v1/ping`` with a real key at a fixed request rate.

The server is the real app (one uvicorn worker, embedded defaults, a temporary data directory,
JSON request logs on) in its own process; the load comes from another process. Each request has
a scheduled send time (``start + i / rate``) and its latency is measured from that time, not from
when it was actually sent, so a slow response delays the requests behind it *and* counts against
them (no coordinated omission). Connections are kept alive; each serves every n-th slot.

    .venv/bin/python benchmarks/api.py [--quick] [--rate 200] [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAME = "api"
TARGET_P99_MS = 3.0


# --- load generator (runs in its own process; imports nothing from the platform) -------------


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response with a Content-Length body; returns (status, leftover)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    return status, rest[length:]


def _connect(host: str, port: int) -> socket.socket | None:
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError:
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _response_end(buffer: bytes) -> int:
    """Length of the first complete HTTP/1.1 response in ``buffer`` (Content-Length body), or 0."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return 0
    length = 0
    for line in buffer[:head_end].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    end = head_end + 4 + length
    return end if len(buffer) >= end else 0


class _Conn:
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock = _connect(host, port)
        self.buffer = b""
        self.in_flight: tuple[float, float] | None = None  # (scheduled, sent)

    def send(self, request: bytes, scheduled: float) -> bool:
        self.sock = self.sock or _connect(self.host, self.port)
        if self.sock is None:
            return False
        try:
            self.sock.sendall(request)
        except OSError:
            self.close()
            return False
        self.in_flight = (scheduled, time.perf_counter())
        return True

    def receive(self) -> tuple[float, float, int] | None:
        """Read what arrived; the finished request's figures once its answer is complete."""
        if self.sock is None or self.in_flight is None:
            return None
        scheduled, sent = self.in_flight
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            return (time.perf_counter() - scheduled, 0.0, 0)
        self.buffer += chunk
        end = _response_end(self.buffer)
        if not end:
            return None
        done = time.perf_counter()
        status = int(self.buffer.split(b" ", 2)[1])
        self.buffer, self.in_flight = self.buffer[end:], None
        return (done - scheduled, done - sent, status)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer, self.in_flight = None, b"", None


def open_loop(
    host: str, port: int, requests: list[bytes], rate: float, duration: float
) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``duration`` s; slot ``i`` goes on connection ``i % n``.

    Connection ``n`` always sends ``requests[n]`` (a whole HTTP/1.1 request), at the slot's
    scheduled time or as soon as that connection's previous answer is in (the wait counts
    against it: latency is from the scheduled time). One thread and ``select``, so the
    generator's own GIL hand-offs stay out of the measured latency. Returns ``elapsed_s`` and
    ``results``: ``(from scheduled, from sent, status)`` per request, status 0 when it failed.
    """
    conns = len(requests)
    total = int(rate * duration)
    pool = [_Conn(host, port) for _ in range(conns)]
    start = time.perf_counter() + 0.2
    results: list[tuple[float, float, int]] = []
    slot = 0
    while slot < total or any(c.in_flight for c in pool):
        now = time.perf_counter()
        timeout = 1.0
        if slot < total:
            scheduled = start + slot / rate
            conn = pool[slot % conns]
            if conn.in_flight is None:
                if now >= scheduled:
                    if not conn.send(requests[slot % conns], scheduled):
                        results.append((time.perf_counter() - scheduled, 0.0, 0))
                    slot += 1
                    continue
                timeout = scheduled - now
        busy = [c for c in pool if c.in_flight is not None and c.sock is not None]
        if not busy:
            time.sleep(timeout)
            continue
        readable, _, _ = select.select([c.sock for c in busy], [], [], timeout)
        for conn in busy:
            if conn.sock in readable:
                outcome = conn.receive()
                if outcome is not None:
                    results.append(outcome)
    for conn in pool:
        conn.close()
    return {"elapsed_s": time.perf_counter() - start, "results": results}


def generate(host: str, port: int, key: str, rate: float, duration: float, conns: int) -> None:
    """Drive the ping load and print one JSON line of raw results on stdout."""
    request = (
        f"GET /v1/ping HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    print(json.dumps(open_loop(host, port, [request] * conns, rate, duration)))


# --- orchestration ----------------------------------------------------------------------------


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_key(data_dir: Path) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from ssmas.core.platform import build_platform
    from ssmas.core.security.keys import create_api_key
    from ssmas.settings import Settings

    platform = build_platform(Settings(profile="test", data_dir=data_dir))
    try:
        with platform.uow() as uow:
            raw, _record = create_api_key(uow.session, "bench", ["*"])
            uow.commit()
    finally:
        platform.close()
    return str(raw)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from ssmas.core.health import ServerExited, wait_healthy

    try:
        healthy = wait_healthy(f"http://127.0.0.1:{port}", timeout_s=timeout_s, proc=proc)
    except ServerExited as exc:
        raise SystemExit(str(exc)) from exc
    if not healthy:
        raise SystemExit("server did not become healthy in time")


def _generator_cmd(port: int, key: str, rate: float, duration: float, conns: int) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--generate",
        f"--port={port}",
        f"--key={key}",
        f"--rate={rate}",
        f"--duration={duration}",
        f"--connections={conns}",
    ]


def _run_load(port: int, key: str, rate: float, duration: float, conns: int) -> dict[str, Any]:
    proc = subprocess.run(
        _generator_cmd(port, key, rate, duration, conns),
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 120,
    )
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def _server_stack() -> str:
    parts = []
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
            parts.append(module)
        except ImportError:
            parts.append(f"no {module}")
    return ", ".join(parts)


def peer_app() -> Any:
    """The peer: a bare FastAPI app answering the same JSON, no middleware, auth or logs."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/ping")
    async def ping() -> dict[str, object]:
        return {"pong": True, "key": "bench"}

    return app


def _drive_server(
    cmd: list[str], env: dict[str, str], port: int, key: str, load: tuple[float, float, int]
) -> tuple[dict[str, Any], float]:
    """Start a server, warm it up, drive the load; return raw results and server CPU seconds."""
    import psutil

    rate, duration, conns = load
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(port, server)
            _run_load(port, key, rate=100.0, duration=2.0, conns=conns)  # warm-up
            proc = psutil.Process(server.pid)
            before = proc.cpu_times()
            raw = _run_load(port, key, rate, duration, conns)
            after = proc.cpu_times()
        finally:
            server.terminate()
            server.wait(timeout=30)
    cpu_s = (after.user + after.system) - (before.user + before.system)
    return raw, cpu_s


def _summarise(raw: dict[str, Any], cpu_s: float) -> dict[str, Any]:
    results = raw["results"]
    latencies = sorted(r[0] * 1000 for r in results if r[2] == 200)
    service = sorted(r[1] * 1000 for r in results if r[2] == 200)
    return {
        "rate_per_s": round(len(results) / raw["elapsed_s"], 1),
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "errors": sum(1 for r in results if r[2] != 200),
        "p999_ms": round(_percentile(latencies, 0.999), 3),
        "max_ms": round(latencies[-1], 3) if latencies else None,
        "service_p99_ms": round(_percentile(service, 0.99), 3),
        "requests": len(results),
        "server_cpu_ms_per_request": round(cpu_s * 1000 / max(1, len(results)), 3),
    }


def measure(
    rate: float, duration: float, conns: int, server_env: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """Measure the peer, then the platform app, under the same load; return figures and notes."""
    load = (rate, duration, conns)
    load_before = os.getloadavg()[0]
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", "1"]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-api-") as tmp:
        data_dir = Path(tmp) / "data"
        key = _create_key(data_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
        env.update({"SSMAS_PROFILE": "test", "SSMAS_DATA_DIR": str(data_dir), **server_env})
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])

        port = _free_port()
        peer_cmd = [*uvicorn, "--port", str(port), "--no-access-log", "--log-level", "warning"]
        peer_cmd += ["--factory", "--app-dir", str(Path(__file__).parent), "api:peer_app"]
        peer = _summarise(*_drive_server(peer_cmd, env, port, key, load))

        port = _free_port()
        ours_cmd = [*uvicorn, "--port", str(port), "--factory"]
        ours_cmd += ["ssmas.server:create_app_from_env"]
        figures = _summarise(*_drive_server(ours_cmd, env, port, key, load))

    figures.update(
        {
            "target_rate_per_s": rate,
            "duration_s": duration,
            "connections": conns,
            "target_p99_ms": TARGET_P99_MS,
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
            "peer_p50_ms": peer["p50_ms"],
            "peer_p99_ms": peer["p99_ms"],
            "peer_errors": peer["errors"],
            "peer_server_cpu_ms_per_request": peer["server_cpu_ms_per_request"],
        }
    )
    notes = (
        f"open loop: {rate:g} req/s for {duration:g} s over {conns} keep-alive connections, "
        "latency from each request's scheduled send time (service_p99_ms: from actual send). "
        f"Server: the real app, one uvicorn worker ({_server_stack()}), SQLite + memory cache + "
        "memory rate limiter (default 200/s, burst 400), a JSON log line per request; "
        "/v1/ping is a lean route (ssmas.core.api.lean: exact-path dispatch, same auth). "
        "Peer (peer_*): a bare FastAPI app with the same route on the same uvicorn, measured "
        "just before in the same run, to show what the machine allows. Load generator: a "
        "separate Python process, one thread, raw sockets and select(). The machine (2 cores) "
        "is shared with other work (see load_avg_1m_*): when other processes keep both cores "
        "busy, requests wait for a CPU time slice (~5 ms) and p99 rises for the peer and the "
        "app alike."
    )
    return figures, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s instead of 20 s")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="SSMAS_X=value",
        help="extra server setting, e.g. SSMAS_RATE_LIMIT_BACKEND=redis (repeatable)",
    )
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    duration = args.duration or (3.0 if args.quick else 20.0)

    if args.generate:
        generate("127.0.0.1", args.port, args.key, args.rate, duration, args.connections)
        return

    from rich.console import Console
    from rich.table import Table

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import write_result

    server_env = dict(item.split("=", 1) for item in args.server_env)
    figures, notes = measure(args.rate, duration, args.connections, server_env)
    if server_env:
        notes += f" Server overrides: {server_env}."
    path = write_result(NAME, figures, notes, quick=args.quick)

    table = Table(title=f"API: GET /v1/ping, open loop {args.rate:g}/s for {duration:g} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    verdict = "meets" if figures["p99_ms"] <= TARGET_P99_MS else "MISSES"
    console.print(f"p99 {figures['p99_ms']} ms {verdict} the {TARGET_P99_MS} ms target")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
