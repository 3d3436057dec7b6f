"""Hardening figures (issue 12): the Schemathesis fuzz of every operation, and ``/health`` under a
header attack on a real server.

1. Fuzz: the app of every product in process (ASGI), a small real pricing model installed;
   Schemathesis (``tests/fuzz_support.py``, the test suite's runner) sends valid and invalid input
   to every documented operation, with a key holding every scope and with none, fixed seed.
   ``fuzz_cases``: requests sent; ``fuzz_server_errors``: 5xx answers; ``fuzz_failures``: failing
   (operation, mode, key) combinations of any check (server error, undocumented status, body
   or media type not as documented).
2. Header attack: ``ssmas serve`` in its own process; 8 threads each send request heads of
   1 MB (in 64 KiB writes) over and over, each refused with 431 once past 64 KiB, while one
   client times ``GET /health`` on fresh connections. ``header_attack_health_p99_ms`` against
   ``quiet_health_p99_ms`` (same client, no attack, just before). Then random keys from one
   address until the first 429: ``failed_auth_429_after``.
3. Revocation: a second ``ssmas serve`` process (fresh data directory, default settings: it
   trusts a verified key for 30 s). This process creates a key, has the server verify (and
   cache) it, then revokes it as ``ssmas keys revoke`` does (database commit, then
   ``core.api_key_revoked`` on the bus) and polls the server with the key until it is refused:
   ``revocation_s`` is the slowest of the trials (revoke started → first 401), beside the median.

    .venv/bin/python benchmarks/hardening.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._report import write_result  # noqa: E402

NAME = "hardening"
ATTACKERS = 8
ATTACK_HEAD_BYTES = 1024 * 1024


def fuzz_figures(max_examples: int) -> dict[str, Any]:
    import schemathesis
    import structlog
    from tests.fuzz_support import FuzzReport, fuzz, started_app

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as tmp, started_app(Path(tmp) / "data") as (app, raw):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = sum(1 for _ in schema.get_all_operations())
        started = time.perf_counter()
        report = FuzzReport()
        key = {"X-API-Key": raw}
        report.merge(fuzz(schema, headers=key, max_examples=max_examples, label=" key"))
        report.merge(fuzz(schema, max_examples=max_examples, label=" anonymous"))
        elapsed = time.perf_counter() - started
    for name, failure in report.failures.items():
        print(f"FAIL {name}: {failure.splitlines()[:3]}", file=sys.stderr)
    return {
        "fuzz_cases": report.cases,
        "fuzz_server_errors": report.server_errors,
        "fuzz_failures": len(report.failures),
        "fuzz_operations": operations,
        "fuzz_max_examples": max_examples,
        "fuzz_s": round(elapsed, 1),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health_ms(port: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    elapsed = (time.perf_counter() - started) * 1000
    if not answer.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"/health answered {answer[:60]!r}")
    return elapsed


def _failed_auth_429_after(port: int, limit: int = 200) -> int:
    """Random keys from one address until the first 429: how many were answered before it."""
    import secrets

    for attempt in range(limit):
        key = f"ssmas_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: "
                + key
                + b"\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if answer.startswith(b"HTTP/1.1 429 "):
            return attempt
    return limit


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2)


def _attack(port: int, stop: threading.Event, refusals: list[int]) -> None:
    chunk = b"a" * 65536
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
                try:
                    for _ in range(ATTACK_HEAD_BYTES // len(chunk)):
                        sock.sendall(chunk)
                except OSError:
                    pass  # refused and closed mid-send: expected
                try:
                    answer = sock.recv(200)
                except OSError:
                    answer = b""
                refusals.append(1 if answer.startswith(b"HTTP/1.1 431 ") else 0)
        except OSError:
            time.sleep(0.01)


@contextlib.contextmanager
def _served(data_dir: Path) -> Iterator[int]:
    """``ssmas serve`` on a free port over ``data_dir`` (test profile, embedded default)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update(
        {
            "SSMAS_PROFILE": "test",
            "SSMAS_DATA_DIR": str(data_dir),
            "SSMAS_LOG_LEVEL": "ERROR",
            "PYTHONPATH": str(ROOT / "src"),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ssmas", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _health_ms(port)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


def header_attack_figures(requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, _served(Path(tmp) / "data") as port:
        for _ in range(20):
            _health_ms(port)  # warm up
        quiet = [_health_ms(port) for _ in range(requests)]
        stop, refusals = threading.Event(), []
        threads = [
            threading.Thread(target=_attack, args=(port, stop, refusals), daemon=True)
            for _ in range(ATTACKERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the attack under way
        attacked = [_health_ms(port) for _ in range(requests)]
        stop.set()
        for thread in threads:
            thread.join(30)
        failed_auth_429_after = _failed_auth_429_after(port)
    return {
        "quiet_health_p99_ms": _p99(quiet),
        "header_attack_health_p99_ms": _p99(attacked),
        "header_attack_health_max_ms": round(max(attacked), 2),
        "header_attack_health_requests": len(attacked),
        "header_attack_clients": ATTACKERS,
        "header_attack_head_bytes": ATTACK_HEAD_BYTES,
        "header_attack_heads_sent": len(refusals),
        "header_attack_heads_refused_431": sum(refusals),
        "failed_auth_429_after": failed_auth_429_after,
    }


def _ping_status(port: int, key: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: "
            + key.encode()
            + b"\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def revocation_figures(trials: int) -> dict[str, Any]:
    """Revoke in this process, see the server process refuse: seconds per trial."""
    from ssmas.core.platform import build_platform
    from ssmas.core.security import create_api_key, revoke_api_key
    from ssmas.core.security.revocation import announce_revocation
    from ssmas.settings import Settings

    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, _served(Path(tmp) / "data") as port:
        platform = build_platform(Settings(profile="test", data_dir=Path(tmp) / "data"))
        try:
            for _ in range(trials):
                with platform.uow() as uow:
                    raw, record = create_api_key(uow.session, "revocation-bench", ["*"])
                    uow.commit()
                if _ping_status(port, raw) != 200 or _ping_status(port, raw) != 200:
                    raise RuntimeError("the server refused a fresh key")
                started = time.perf_counter()
                with platform.uow() as uow:
                    revoke_api_key(uow.session, record.prefix)
                    uow.commit()
                announce_revocation(platform.bus, record.prefix)
                while (status := _ping_status(port, raw)) == 200:
                    if time.perf_counter() - started > 60:
                        raise RuntimeError("the revoked key was still accepted after 60 s")
                    time.sleep(0.005)
                if status != 401:
                    raise RuntimeError(f"the revoked key got {status}, not 401")
                times.append(time.perf_counter() - started)
        finally:
            platform.close()
    ordered = sorted(times)
    return {
        "revocation_s": round(ordered[-1], 3),
        "revocation_median_s": round(ordered[len(ordered) // 2], 3),
        "revocation_trials": trials,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer examples and requests")
    args = parser.parse_args()
    figures = fuzz_figures(5 if args.quick else 25)
    figures |= header_attack_figures(100 if args.quick else 500)
    figures |= revocation_figures(3 if args.quick else 15)
    notes = (
        f"Fuzz: Schemathesis {_version('schemathesis')} over the OpenAPI document of the whole "
        "app in process (ASGI), positive and negative generation, derandomized, "
        f"{figures['fuzz_max_examples']} examples per operation and mode, with an every-scope "
        "key and with none; checks not_a_server_error, status_code_conformance, "
        "response_schema_conformance, content_type_conformance. Header attack: one "
        "'ssmas serve' process (uvicorn, httptools, GuardedHttpToolsProtocol: 64 KiB / 100 "
        f"fields / 10 s per head); {ATTACKERS} threads send 1 MB heads in 64 KiB writes in a "
        "loop (each refused 431 past 64 KiB) while one client times GET /health, each on a "
        "fresh connection (connect + request + answer), from the same machine. The machine "
        "(2 cores) is shared with other work. failed_auth_429_after: random keys to /v1/ping "
        "from one address on the same server, answers before the first 429 (defaults: burst 20). "
        "revocation_s: the slowest of "
        f"{figures['revocation_trials']} trials on a second 'ssmas serve' process (SQLite "
        "database and bus, key cache 30 s): this process revokes a key the server has cached "
        "(commit, then core.api_key_revoked on the bus; the server's listener polls every "
        "0.1 s) and polls /v1/ping every 5 ms on fresh connections until the first 401."
    )
    path = write_result(NAME, figures, notes, quick=args.quick)
    print(path.read_text())


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
