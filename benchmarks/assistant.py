"""Assistant load and latency: signed webhook deliveries at a fixed rate, then lost / duplicated
replies, end-to-end latency to the Graph API fake, cached context reads, and the NLU figures.

Processes: the API server (one uvicorn worker, embedded SQLite bus and database), one or more
``ssmas worker assistant`` processes, the Graph API fake, and the load generator
(``--generate``), each separate. The generator reuses ``benchmarks/api.py``'s socket client and
measures each acknowledgement from the request's scheduled send time (no coordinated omission).

    .venv/bin/python benchmarks/assistant.py [--quick] [--rate 1000] [--duration 60]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as house
from ssmas.core.health import stop_processes

ROOT = Path(__file__).resolve().parents[1]
NAME = "assistant"
APP_SECRET = "test_app_secret_123"
NLU_KEYS = (
    "intent_acc_en",
    "intent_acc_es",
    "oos_recall",
    "sentiment_binary_acc_es",
    "sentiment_3class_acc_es",
)


# --- the brain the workers load (SSMAS_WHATSAPP_BRAIN=assistant:bench_brain) -----------------


class OfflineBenchBrain:
    """Keyword language, no escalation, and the real offline responder (FAQ retrieval);
    ``prepare`` scores a round's messages against the FAQ in one go
    (``KnowledgeBase.prepare``)."""

    SPANISH = ("hola", "pedido", "factura", "cómo")

    def __init__(self) -> None:
        from ssmas.assistant.knowledge import KnowledgeBase

        self.knowledge = KnowledgeBase.shipped()

    def _language(self, text: str, hint_language: str | None) -> str:
        spanish = any(w in text.lower() for w in self.SPANISH)
        return "es" if spanish else (hint_language or "en")

    def prepare(self, items: list[tuple[str, str | None]]) -> None:
        by_language: dict[str, list[str]] = {}
        for text, hint in items:
            by_language.setdefault(self._language(text, hint), []).append(text)
        self.knowledge.clear_prepared()
        for language, texts in by_language.items():
            self.knowledge.prepare(texts, language)

    def understand(self, text: str, hint_language: str | None) -> Any:
        from ssmas.assistant.brain import Understanding

        return Understanding(self._language(text, hint_language), "faq", 0.9)

    def judge(self, text: str, u: Any, window: Any) -> Any:
        from ssmas.assistant.brain import EscalationCall

        return EscalationCall(False, 0, [], "low", "general")

    def reply(self, text: str, u: Any, window: Any) -> str:
        from ssmas.assistant.respond import compose_reply
        from ssmas.assistant.seed_brain import nlu_result

        return str(compose_reply(text, nlu_result(u), self.knowledge).text)


def bench_brain(settings: Any) -> OfflineBenchBrain:
    return OfflineBenchBrain()


# --- load generator (its own process) ---------------------------------------------------------


# The real-brain run's customers: Spanish and English, FAQ questions, intents, complaints that
# escalate, small talk, out of scope (each message made unique by its id).
MIXED_TEXTS = (
    "How do I download my invoice?",
    "¿Cuál es el pago mínimo para cobrar?",
    "My revenue in the dashboard does not match the report",
    "Hola, ¿cómo descargo mi factura de octubre?",
    "I want a refund, this is unacceptable, let me talk to a manager",
    "Mi eCPM ha bajado mucho esta semana, ¿por qué?",
    "Why was my site rejected?",
    "Quiero cancelar mi cuenta, estoy harto",
    "thanks a lot!",
    "¿Qué tiempo hará mañana en Madrid?",
    "I forgot my password and cannot log in",
    "No me habéis pagado todavía este mes",
)


def _delivery(message_id: str, phone: str, texts: str = "bench") -> bytes:
    from ssmas.assistant.demo_customers import Step, delivery

    if texts == "mixed":
        base = MIXED_TEXTS[int(message_id.rsplit(".", 1)[-1]) % len(MIXED_TEXTS)]
    else:
        base = "How do I download my invoice?"
    step = Step(phone, "Bench", f"{base} ({message_id[-8:]})")
    return bytes(delivery(step, message_id))


def _request(port: int, body: bytes) -> bytes:
    from ssmas.core.security import sign_sha256

    head = (
        f"POST /whatsapp/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nX-Hub-Signature-256: "
        f"{sign_sha256(APP_SECRET.encode(), body)}\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _sender(
    port: int, slots: list[tuple[float, str, bytes]], out: list[tuple[str, float, float, int]]
) -> None:
    """One keep-alive connection: send each slot's request at its time; record (id, wall
    scheduled time, latency from schedule, status 0 on failure)."""
    sock = house._connect("127.0.0.1", port)
    buffer = b""
    shift = time.time() - time.perf_counter()
    for scheduled, message_id, request in slots:
        wait = scheduled - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        status = 0
        sock = sock or house._connect("127.0.0.1", port)
        if sock is not None:
            try:
                sock.sendall(request)
                status, buffer = house._read_response(sock, buffer)
            except OSError:
                sock.close()
                sock, buffer = None, b""
        out.append((message_id, scheduled + shift, time.perf_counter() - scheduled, status))
    if sock is not None:
        sock.close()


def generate(
    port: int, rate: float, duration: float, conns: int, prefix: str, texts: str = "bench"
) -> None:
    """Drive ``rate`` unique signed deliveries/s for ``duration`` s; print one JSON line."""
    total = int(rate * duration)
    requests = []
    for i in range(total):
        message_id = f"wamid.{prefix}.{i:07d}"
        phone = f"1650{abs(hash(prefix)) % 1000:03d}{i:07d}"
        requests.append((message_id, _request(port, _delivery(message_id, phone, texts))))
    # The generator's own garbage collections must not pause the senders (a full collection
    # over the prepared requests takes a few hundred ms): freeze what exists, collect nothing.
    gc.collect()
    gc.freeze()
    gc.disable()
    start = time.perf_counter() + 0.3
    slots = [(start + i / rate, mid, req) for i, (mid, req) in enumerate(requests)]
    results: list[list[tuple[str, float, float, int]]] = [[] for _ in range(conns)]
    threads = [
        threading.Thread(target=_sender, args=(port, slots[n::conns], results[n]), daemon=True)
        for n in range(conns)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    print(json.dumps({"elapsed_s": elapsed, "results": [r for rs in results for r in rs]}))


# --- orchestration ----------------------------------------------------------------------------


def _run_load(
    port: int, rate: float, duration: float, conns: int, prefix: str, texts: str = "bench"
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--generate", f"--port={port}", f"--rate={rate}"]
    cmd += [f"--duration={duration}", f"--connections={conns}", f"--prefix={prefix}"]
    cmd += [f"--texts={texts}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration + 300, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"load generator failed: {done.stderr.strip()[-500:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def _sent(fake_url: str) -> list[dict[str, Any]]:
    import httpx

    records: list[dict[str, Any]] = httpx.get(fake_url + "/_fake/sent", timeout=60).json()
    return records


def _replies_by_id(fake_url: str, prefix: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for record in _sent(fake_url):
        ref = str(record.get("body", {}).get("context", {}).get("message_id", ""))
        if ref.startswith(f"wamid.{prefix}."):
            found.setdefault(ref, []).append(float(record["at"]))
    return found


def _settled(data_dir: Path) -> int:
    """Outbound messages the workers have finished with (sent or given up), from the database:
    a cheap progress probe, so the drain does not fetch the fake's whole record every second."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{data_dir / 'ssmas.db'}")
    try:
        with engine.connect() as conn:
            query = sa.text(
                "SELECT count(*) FROM assistant_messages WHERE direction='out'"
                " AND state IN ('sent', 'failed')"
            )
            return int(conn.execute(query).scalar_one())
    except sa.exc.OperationalError:  # tables not there yet
        return 0
    finally:
        engine.dispose()


def _wait_drained(
    fake_url: str,
    prefix: str,
    expected: int,
    idle_s: float,
    max_s: float = 600.0,
    *,
    progress: Any = None,
) -> dict[str, Any]:
    """Wait until every expected reply is at the fake, nothing new happens for ``idle_s``, or
    ``max_s`` passes (then ``complete`` is False and the remainder is still queued).

    ``progress()`` (a cheap counter that grows as the workers finish messages) is polled while
    it moves; the fake itself is read whenever the counter says the work may be done, when it
    stops moving, and at the end: replies are always counted at the fake."""
    began = time.monotonic()
    last, last_change = -1, began
    start = progress() if progress is not None else 0
    while True:
        waited = time.monotonic() - began
        if progress is not None:
            value = progress()
            if value != last:
                last, last_change = value, time.monotonic()
            quiet = time.monotonic() - last_change > min(2.0, idle_s)
            if value - start < expected and not quiet and waited <= max_s:
                time.sleep(0.5)
                continue
        replies = _replies_by_id(fake_url, prefix)
        count = sum(len(v) for v in replies.values())
        if progress is None and count != last:
            last, last_change = count, time.monotonic()
        if (
            len(replies) >= expected
            or time.monotonic() - last_change > idle_s
            or time.monotonic() - began > max_s
        ):
            return {
                "replies": replies,
                "drain_s": time.monotonic() - began,
                "complete": len(replies) >= expected,
            }
        time.sleep(1.0 if progress is None else 2.0)


def _stored(data_dir: Path, prefix: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{data_dir / 'ssmas.db'}")
    try:
        with engine.connect() as conn:
            query = sa.text(
                "SELECT count(*) FROM assistant_messages WHERE direction='in' AND wa_id LIKE :p"
            )
            return int(conn.execute(query, {"p": f"wamid.{prefix}.%"}).scalar_one())
    finally:
        engine.dispose()


def _p(values: list[float], q: float) -> float:
    return round(house._percentile(sorted(values), q), 3)


def measure_context(reads: int) -> dict[str, float]:
    """p50/p99 of ``runtime.contexts.cached`` over ``reads`` cache hits, in process."""
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from datetime import UTC, datetime

    from ssmas.assistant.context import ContextWindow
    from ssmas.assistant.runtime import build_assistant_runtime, release_runtime
    from ssmas.assistant.store import Turn
    from ssmas.core.platform import build_platform
    from ssmas.settings import Settings

    with tempfile.TemporaryDirectory(prefix="ssmas-bench-ctx-") as tmp:
        platform = build_platform(Settings(profile="test", data_dir=Path(tmp)))
        runtime = build_assistant_runtime(platform, brain=bench_brain(platform.settings))
        try:
            now = datetime.now(UTC)
            for cid in range(1, 101):
                turns = [
                    Turn(
                        "user" if t % 2 == 0 else "bot",
                        f"turn {t} about invoices",
                        now,
                        "faq",
                        "text",
                    )
                    for t in range(10)
                ]
                runtime.contexts.save(ContextWindow(cid, 1, "bot", "en", "", turns))
            timings = []
            for i in range(reads):
                began = time.perf_counter()
                window = runtime.contexts.cached(1 + i % 100)
                timings.append((time.perf_counter() - began) * 1000)
                if window is None:
                    raise SystemExit("context cache miss during the benchmark")
        finally:
            release_runtime(platform)
            platform.close()
    return {"context_p50_ms": _p(timings, 0.5), "context_p99_ms": _p(timings, 0.99)}


def _nlu_figures() -> tuple[dict[str, Any], str]:
    path = ROOT / "benchmarks" / "results" / "assistant_nlu.json"
    if not path.is_file():
        return {}, "NLU keys absent: benchmarks/results/assistant_nlu.json not found."
    body = json.loads(path.read_text())
    figures = {k: body["figures"][k] for k in NLU_KEYS if k in body["figures"]}
    return figures, f"NLU keys copied from assistant_nlu.json ({body['when']}, {body['commit']})."


class Stack:
    """The Graph fake, the API server and the worker processes on a fresh data directory."""

    def __init__(
        self, data_dir: Path, workers: int, nice: int = 0, brain: str = "assistant:bench_brain"
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.nice = nice
        self.fake_port, self.api_port = house._free_port(), house._free_port()
        self.fake_url = f"http://127.0.0.1:{self.fake_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
        bench_dir = str(Path(__file__).resolve().parent)
        env.update(
            {
                "SSMAS_PROFILE": "test",
                "SSMAS_DATA_DIR": str(data_dir),
                "SSMAS_LOG_LEVEL": "WARNING",
                "SSMAS_WHATSAPP_GRAPH_URL": self.fake_url + "/v23.0",
                "SSMAS_WHATSAPP_BRAIN": brain,
                "SSMAS_WHATSAPP_SEND_RATE_PER_S": "100000",
                # The load is one business number and reused senders: measure the pipeline,
                # not the inbound limits (their tests are in test_assistant_inbound_limits.py).
                "SSMAS_WHATSAPP_INBOUND_NUMBER_PER_S": "0",
                "SSMAS_WHATSAPP_INBOUND_SENDER_PER_MIN": "0",
                "SSMAS_WHATSAPP_RECIPIENT_RATE_PER_S": "100",
                "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), bench_dir]),
            }
        )
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.worker_procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, *args: str, nice: int = 0) -> subprocess.Popen[bytes]:
        prefix = ["nice", "-n", str(nice)] if nice else []
        proc = subprocess.Popen(
            [*prefix, sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def train_nlu(self) -> float:
        """Train the real brain's NLU in this data directory, as ``load_nlu`` does on first use
        (TF-IDF recipe, no MiniLM, no MLflow); returns the seconds it took."""
        began = time.monotonic()
        code = "from ssmas.settings import Settings\nfrom ssmas.assistant.nlu import load_nlu\n"
        code += "load_nlu(Settings())\n"
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"NLU training failed: {done.stderr.strip()[-800:]}")
        return time.monotonic() - began

    def start(self, workers: bool = True) -> None:
        # The fake stands in for Meta's servers, which do not share our CPU: it runs at the
        # workers' lower priority so it does not take the API's share either.
        fake = self._spawn(
            "-m",
            "ssmas.assistant.whatsapp.graph_fake",
            "--port",
            str(self.fake_port),
            nice=self.nice,
        )
        api = self._spawn(
            "-m",
            "uvicorn",
            "ssmas.server:create_app_from_env",
            "--factory",
            "--workers",
            "1",
            "--port",
            str(self.api_port),
            "--log-level",
            "warning",
            "--no-access-log",
        )
        house._wait_healthy(self.api_port, api)
        deadline = time.monotonic() + 30
        while True:
            try:
                _sent(self.fake_url)
                break
            except Exception:
                if fake.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the Graph API fake did not start") from None
                time.sleep(0.1)
        if workers:
            self.start_workers()

    def start_workers(self) -> None:
        for _ in range(self.workers):
            nice = ("--nice", str(self.nice)) if self.nice else ()
            self.worker_procs.append(self._spawn("-m", "ssmas", "worker", "assistant", *nice))

    def stop_workers(self) -> None:
        """Stop the worker processes (SIGTERM: each finishes or gives back its batch)."""
        stop_processes(self.worker_procs, timeout_s=30)
        self.worker_procs = []

    def stop(self) -> None:
        stop_processes(self.procs, timeout_s=15)


def _phase(
    stack: Stack,
    prefix: str,
    rate: float,
    duration: float,
    conns: int,
    args: argparse.Namespace,
    texts: str = "bench",
) -> dict[str, Any]:
    raw = _run_load(stack.api_port, rate, duration, conns, prefix, texts)
    accepted = {r[0]: r[1] for r in raw["results"] if r[3] == 200}
    drained = _wait_drained(
        stack.fake_url,
        prefix,
        len(accepted),
        args.idle,
        args.drain_max,
        progress=lambda: _settled(stack.data_dir),
    )
    replies: dict[str, list[float]] = drained["replies"]
    return {
        "raw": raw,
        "accepted": accepted,
        "replies": replies,
        "drain_s": drained["drain_s"],
        "complete": drained["complete"],
        "stored": _stored(stack.data_dir, prefix),
    }


def measure(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-assistant-") as tmp:
        stack = Stack(Path(tmp) / "data", args.workers, args.worker_nice)
        try:
            stack.start()
            _run_load(stack.api_port, 20.0, 1.0, 2, "warm")  # warm-up (not counted)
            _wait_drained(stack.fake_url, "warm", 20, 30.0)
            paced = _phase(stack, "e2e", args.e2e_rate, args.e2e_duration, 2, args)
            load = _phase(stack, "load", args.rate, args.duration, args.connections, args)
        finally:
            stack.stop()
    results = load["raw"]["results"]
    acks = [r[2] * 1000 for r in results if r[3] == 200]
    accepted, replies = load["accepted"], load["replies"]
    unanswered = sum(1 for mid in accepted if mid not in replies)
    # A message still queued when the drain gave up is not lost: only a complete drain decides.
    lost = max(unanswered, len(accepted) - load["stored"]) if load["complete"] else None
    duplicated = sum(len(v) - 1 for v in replies.values() if len(v) > 1)
    paced_replies = paced["replies"]
    e2e = [
        (min(paced_replies[mid]) - sent) * 1000
        for mid, sent in paced["accepted"].items()
        if mid in paced_replies
    ]
    figures: dict[str, Any] = {
        "webhook_rate_per_s": round(len(acks) / load["raw"]["elapsed_s"], 1),
        "webhook_ack_p99_ms": _p(acks, 0.99),
        "lost": lost,
        "duplicated": duplicated,
        "e2e_p99_ms": _p(e2e, 0.99),
    }
    figures.update(measure_context(args.context_reads))
    nlu, nlu_note = _nlu_figures()
    figures.update(nlu)
    figures.update(
        {
            "webhook_ack_p50_ms": _p(acks, 0.5),
            "webhook_ack_max_ms": round(max(acks), 3) if acks else None,
            "webhook_sent": len(results),
            "webhook_rejected": len(results) - len(acks),
            "stored": load["stored"],
            "replied": len(replies),
            "drain_s": round(load["drain_s"], 1),
            "drain_complete": load["complete"],
            "unanswered_at_cutoff": unanswered,
            "pipeline_replies_per_s": round(
                len(replies) / (load["raw"]["elapsed_s"] + load["drain_s"]), 1
            ),
            "e2e_p50_ms": _p(e2e, 0.5),
            "e2e_messages": len(paced["accepted"]),
            "e2e_lost": len(paced["accepted"]) - len(e2e),
            "e2e_duplicated": sum(len(v) - 1 for v in paced_replies.values() if len(v) > 1),
            "target_rate_per_s": args.rate,
            "duration_s": args.duration,
            "workers": args.workers,
            "worker_nice": args.worker_nice,
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        }
    )
    notes = (
        f"Embedded default (SQLite database and bus, memory cache); one uvicorn worker for the "
        f"API, {args.workers} `ssmas worker assistant` process(es), the Graph API fake "
        f"and the load generator each in their own process; the workers and the fake run at "
        f"nice {args.worker_nice} (the API at 0: under overload the acknowledgements get the CPU "
        "first and the backlog waits in the bus, which is what the queue is for). "
        f"Load: open loop, {args.rate:g} "
        f"unique signed text deliveries/s for {args.duration:g} s over {args.connections} "
        "keep-alive connections (benchmarks/api.py client); ack latency from each request's "
        "scheduled send time. lost = accepted deliveries not stored as an inbound message or "
        "without a reply at the fake once replies stopped arriving "
        f"({args.idle:g} s idle, at most {args.drain_max:g} s: drain_complete says whether "
        "every reply came in time; when it is false, lost is null and unanswered_at_cutoff "
        "counts the replies still owed; progress is probed in the database, replies are "
        "counted at the fake); duplicated = extra replies per message id (the reply's "
        "context.message_id). e2e: a separate paced stream, run first on the idle stack, of "
        f"{args.e2e_rate:g}/s for "
        f"{args.e2e_duration:g} s, scheduled send time to the fake's record time. Brain: "
        "benchmarks/assistant.py:bench_brain (keyword language, no escalation, the real offline "
        "FAQ responder) instead of the trained NLU, which the fresh data directory does not "
        "have (its latency is in assistant_nlu.json: analyse_p99_ms). The per-number send limit "
        "was raised (SSMAS_WHATSAPP_SEND_RATE_PER_S=100000) so the fake is not paced at 80/s. "
        "context: runtime.contexts.cached() over "
        f"{args.context_reads} reads of 100 cached 10-turn windows, in process. {nlu_note} "
        "The machine (2 cores) is shared with other engineers' work: see load_avg_1m_*."
    )
    return figures, notes


def measure_real(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The same stack with the real brain (trained NLU, seed escalation, offline responder):
    a paced e2e stream, then the drain rate of a backlog queued while the workers were stopped.
    Customers write Spanish and English (``MIXED_TEXTS``)."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-assistant-real-") as tmp:
        stack = Stack(Path(tmp) / "data", args.workers, args.worker_nice, brain="")
        try:
            train_s = stack.train_nlu()
            load_start = os.getloadavg()[0]
            stack.start()
            _run_load(stack.api_port, 20.0, 1.0, 2, "warm", "mixed")  # warm-up (not counted)
            _wait_drained(stack.fake_url, "warm", 20, 60.0)
            paced = _phase(
                stack, "rb-e2e", args.e2e_rate, args.e2e_duration, 2, args, texts="mixed"
            )
            stack.stop_workers()
            backlog = _run_load(
                stack.api_port,
                args.backlog_rate,
                args.backlog_duration,
                args.connections,
                "rb-backlog",
                "mixed",
            )
            queued = [r[0] for r in backlog["results"] if r[3] == 200]
            stack.start_workers()
            drained = _wait_drained(
                stack.fake_url,
                "rb-backlog",
                len(queued),
                args.idle,
                args.drain_max,
                progress=lambda: _settled(stack.data_dir),
            )
            stored = _stored(stack.data_dir, "rb-backlog")
        finally:
            stack.stop()
    paced_replies = paced["replies"]
    e2e = [
        (min(paced_replies[mid]) - sent) * 1000
        for mid, sent in paced["accepted"].items()
        if mid in paced_replies
    ]
    replies: dict[str, list[float]] = drained["replies"]
    moments = sorted(min(v) for v in replies.values())
    span = moments[-1] - moments[0] if len(moments) > 1 else 0.0
    unanswered = sum(1 for mid in queued if mid not in replies)
    lost = max(unanswered, len(queued) - stored) if drained["complete"] else None
    figures: dict[str, Any] = {
        "e2e_real_brain_p50_ms": _p(e2e, 0.5),
        "e2e_real_brain_p99_ms": _p(e2e, 0.99),
        "real_brain_replies_per_s": round((len(moments) - 1) / span, 1) if span else None,
        "e2e_real_brain_messages": len(paced["accepted"]),
        "e2e_real_brain_lost": len(paced["accepted"]) - len(e2e),
        "e2e_real_brain_duplicated": sum(len(v) - 1 for v in paced_replies.values() if len(v) > 1),
        "real_brain_backlog": len(queued),
        "real_brain_replied": len(replies),
        "real_brain_lost": lost,
        "real_brain_duplicated": sum(len(v) - 1 for v in replies.values() if len(v) > 1),
        "real_brain_drain_complete": drained["complete"],
        "real_brain_drain_s": round(drained["drain_s"], 1),
        "real_brain_train_s": round(train_s, 1),
        "real_brain_load_avg_1m_before": round(load_before, 2),
        "real_brain_load_avg_1m_start": round(load_start, 2),
        "real_brain_load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    notes = (
        "Real brain (*real_brain* keys): the same stack with SSMAS_WHATSAPP_BRAIN unset, so the "
        "workers load ssmas.assistant.seed_brain.brain_from_settings: the trained NLU "
        "(language, domain intents with out-of-scope, entities, sentiment), the seed's "
        "escalation score and the domain's dialogue policy with the knowledge base, with "
        "SeedBrain.prepare running the NLU once per round. The NLU is trained first in the "
        "fresh data directory by load_nlu on first use, which runs train_assistant exactly as "
        "`ssmas assistant train` does (real_brain_train_s, not timed in the figures). "
        "Customers write Spanish and English "
        f"({len(MIXED_TEXTS)} texts in turn: FAQ questions, intents, escalating complaints, "
        "small talk, out of scope). e2e_real_brain_*: a paced stream of "
        f"{args.e2e_rate:g}/s for {args.e2e_duration:g} s on the idle stack, scheduled send "
        "time to the fake's record time. real_brain_replies_per_s: a backlog of "
        f"{args.backlog_rate:g}/s for {args.backlog_duration:g} s is queued while the workers "
        "are stopped, then drained by the restarted workers; the rate is replies between the "
        "first and the last reply at the fake (worker start-up and model loading not "
        "counted; real_brain_drain_s includes them)."
    )
    return figures, notes


def _merge_real(figures: dict[str, Any], notes: str, quick: bool) -> Path:
    """Add the real-brain keys to an existing results file, keeping its other keys, date and
    commit (the headline run) untouched; the notes say when the merged keys were measured."""
    from _report import RESULTS, _commit, write_result

    path = RESULTS / (f"{NAME}.quick.json" if quick else f"{NAME}.json")
    if not path.is_file():
        return write_result(NAME, figures, notes, quick=quick)
    body = json.loads(path.read_text())
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body["figures"].update(figures)
    headline = str(body.get("notes", "")).split(" Real brain (*real_brain* keys):")[0]
    body["notes"] = (
        f"{headline} {notes} The real-brain keys were measured separately ({when}, commit "
        f"{_commit()}) and merged into this file; every other key is from the run of "
        f"{body['when']} ({body['commit']})."
    )
    path.write_text(json.dumps(body, indent=2, sort_keys=False) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100/s for 3 s, e2e 10/s for 3 s")
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--duration", type=float, default=None)
    parser.add_argument("--e2e-rate", type=float, default=None)
    parser.add_argument("--e2e-duration", type=float, default=None)
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="CPU priority the workers (and the Graph fake) run at, below the API's (0: equal)",
    )
    parser.add_argument("--idle", type=float, default=None, help="drain: seconds with no reply")
    parser.add_argument("--drain-max", type=float, default=600.0, help="drain: give up after")
    parser.add_argument("--context-reads", type=int, default=10_000)
    parser.add_argument(
        "--brain",
        choices=("bench", "real", "both"),
        default="bench",
        help="bench (default): the headline run (bench brain); real: only the trained-NLU "
        "brain's run, its keys merged into the existing results; both: one after the other",
    )
    parser.add_argument("--backlog-rate", type=float, default=None, help="real brain: backlog/s")
    parser.add_argument("--backlog-duration", type=float, default=None)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="load", help=argparse.SUPPRESS)
    parser.add_argument("--texts", default="bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    args.rate = args.rate or (100.0 if quick else 1000.0)
    args.duration = args.duration or (3.0 if quick else 60.0)
    args.e2e_rate = args.e2e_rate or (10.0 if quick else 20.0)
    args.e2e_duration = args.e2e_duration or (3.0 if quick else 20.0)
    args.connections = args.connections or (4 if quick else 16)
    args.idle = args.idle or (15.0 if quick else 60.0)
    args.backlog_rate = args.backlog_rate or (100.0 if quick else 500.0)
    args.backlog_duration = args.backlog_duration or (2.0 if quick else 10.0)

    if args.generate:
        generate(args.port, args.rate, args.duration, args.connections, args.prefix, args.texts)
        return

    from rich.console import Console
    from rich.table import Table

    from _report import write_result

    figures: dict[str, Any] = {}
    if args.brain in ("bench", "both"):
        figures, notes = measure(args)
        path = write_result(NAME, figures, notes, quick=quick)
    if args.brain in ("real", "both"):
        real, real_notes = measure_real(args)
        figures.update(real)
        path = _merge_real(real, real_notes, quick)
    table = Table(title=f"Assistant: webhook {args.rate:g}/s for {args.duration:g} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
