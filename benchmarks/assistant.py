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
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as house
from ssmas.core.health import stop_processes

ROOT = Path(__file__).resolve().parents[1]
NAME = "assistant"
APP_SECRET = "test_app_secret_123"
BACKLOG_GROWTH = 0.01  # a backlog growing faster than 1 % of the offered rate is "growing"
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


# The real-brain run's customers (``--texts real``): Spanish and English messages of the
# default domain's topics, made different from one another the way customers' messages differ
# (months, sites, amounts, invoice numbers, wording), not by a counter appended to one text.
# Kinds: FAQ / knowledge-base questions, slot-filling (a form's intent without its slot, then
# the slot as the same customer's next message), escalations, small talk, out of scope.
MONTHS = {
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August"),
}
SITES = ("recetasfaciles.com", "motorblog.es", "techdaily.io", "viajeros.mx", "golfnews.net")
REAL_TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "kb": (
        ("en", "What is the minimum payout{for_me}?"),
        ("en", "How do I set up ads.txt on {site}?"),
        ("en", "When do you pay {month}'s earnings?"),
        ("en", "Where can I find the sellers.json entry for {site}?"),
        ("en", "How do I add the header bidding tag to {site}{please}?"),
        ("es", "¿Cuál es el pago mínimo para cobrar{por_favor}?"),
        ("es", "¿Cómo configuro el ads.txt en {site}?"),
        ("es", "¿Cuándo pagáis lo de {month}?"),
        ("es", "¿Qué es el tráfico inválido y por qué me descontáis {amount} euros?"),
        ("es", "¿Dónde veo el informe de ingresos de {site}?"),
    ),
    "form": (
        ("en", "I need my invoice{please}"),
        ("en", "My revenue dropped a lot {when_en}"),
        ("en", "I want to change how I get paid"),
        ("es", "Necesito la factura{por_favor}"),
        ("es", "Me han bajado mucho los ingresos {when_es}"),
        ("es", "Quiero cambiar el método de cobro"),
    ),
    "filled": (
        ("en", "Can you send me the invoice for {month}?"),
        ("en", "RPM on {site} fell by half {when_en}"),
        ("es", "¿Me mandas la factura de {month}?"),
        ("es", "El RPM de {site} ha caído a la mitad {when_es}"),
    ),
    "escalate": (
        ("en", "This is unacceptable, you still owe me {amount} dollars, I want a manager NOW"),
        ("en", "I want to talk to a person about my account{please}"),
        ("es", "Es una vergüenza, me debéis {amount} euros, quiero hablar con un responsable"),
        ("es", "Quiero hablar con una persona{por_favor}"),
    ),
    "smalltalk": (
        ("en", "Hi there{please}"),
        ("en", "thanks a lot, that helped"),
        ("en", "ok bye"),
        ("es", "Hola, buenas{tardes}"),
        ("es", "Muchas gracias, todo perfecto"),
        ("es", "vale, hasta luego"),
    ),
    "oos": (
        ("en", "What's the weather in {city} tomorrow?"),
        ("en", "Can you recommend a good pizza place in {city}?"),
        ("es", "¿Qué tiempo hará mañana en {city}?"),
        ("es", "¿Me recomiendas una película para esta noche en {city}?"),
    ),
}
# The kind of each message, by its index modulo 20: a form's intent is answered (its slot) by
# the same customer FOLLOW_UP_LAG messages later.
REAL_MIX = ("kb",) * 6 + ("form",) * 3 + ("answer",) * 3 + ("filled",) * 2 + ("escalate",)
REAL_MIX += ("smalltalk",) * 3 + ("oos",) * 2
FOLLOW_UP_LAG = 3
SLOT_ANSWERS = {
    "invoice": {"es": "{month}", "en": "{month}"},
    "revenue": {"es": "{site}", "en": "{site}"},
    "paid": {"es": "por PayPal", "en": "Payoneer please"},
}


GREETINGS = {
    "en": ("Hi, ", "Hello team, ", "Good morning. ", "Hey, "),
    "es": ("Hola, ", "Buenas, ", "Buenos días. ", "Hola equipo, "),
}
ACCOUNT_TAILS = {
    "en": (" My publisher ID is {pid}.", " (account {pid})", " Publisher {pid}."),
    "es": (" Mi ID de editor es {pid}.", " (cuenta {pid})", " Editor {pid}."),
}


def _fill(template: str, language: str, rng: Any, decorate: bool = True) -> str:
    values = {
        "month": rng.choice(MONTHS[language]),
        "site": rng.choice(SITES),
        "amount": str(rng.randrange(40, 4000)),
        "city": rng.choice(("Madrid", "Monterrey", "Boston", "Lima", "Sevilla", "Denver")),
        "please": rng.choice(("", ", please", " please", "?")),
        "por_favor": rng.choice(("", ", por favor", " porfa", "")),
        "for_me": rng.choice(("", " for my account", " in Mexico", " this month")),
        "when_en": rng.choice(("this week", "since Monday", "yesterday", "in the last days")),
        "when_es": rng.choice(("esta semana", "desde el lunes", "ayer", "estos días")),
        "tardes": rng.choice(("", " tardes", " días", "!")),
    }
    text = template.format(**values)
    if not decorate:
        return text
    if rng.random() < 0.3:  # a greeting first
        text = rng.choice(GREETINGS[language]) + text[0].lower() + text[1:]
    if rng.random() < 0.5:  # an account number, as publishers often add
        tail = rng.choice(ACCOUNT_TAILS[language]).format(pid=rng.randrange(10_000, 999_999))
        text += tail if text[-1] in ".?!" else "." + tail
    return text


def _template(i: int) -> tuple[str, str, str]:
    kind = REAL_MIX[i % len(REAL_MIX)]
    options = REAL_TEMPLATES[kind]
    language, template = options[(i // len(REAL_MIX)) % len(options)]
    return kind, language, template


def real_message(i: int) -> tuple[str, str, int]:
    """Message ``i`` of the real-brain stream: its kind, its text, and the index of the
    message whose customer sends it (``i``, or the form message it answers)."""
    import random

    rng = random.Random(i)
    kind = REAL_MIX[i % len(REAL_MIX)]
    if kind == "answer":
        opener = i - FOLLOW_UP_LAG
        _, language, template = _template(opener)
        topic = "paid"
        if "nvoice" in template or "factura" in template:
            topic = "invoice"
        elif "revenue" in template or "ingresos" in template:
            topic = "revenue"
        return kind, _fill(SLOT_ANSWERS[topic][language], language, rng, False), opener
    _, language, template = _template(i)
    return kind, _fill(template, language, rng, kind != "smalltalk"), i


def _delivery(message_id: str, phone: str, texts: str = "bench", text: str = "") -> bytes:
    from ssmas.assistant.demo_customers import Step, delivery

    if texts == "real":
        base = text
    elif texts == "mixed":
        base = MIXED_TEXTS[int(message_id.rsplit(".", 1)[-1]) % len(MIXED_TEXTS)]
        base = f"{base} ({message_id[-8:]})"
    else:
        base = f"How do I download my invoice? ({message_id[-8:]})"
    step = Step(phone, "Bench", base)
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
    """Drive ``rate`` unique signed deliveries/s for ``duration`` s; print one JSON line.

    Every message comes from a customer of its own, except (``--texts real``) a form's answer,
    which its opener's customer sends ``FOLLOW_UP_LAG`` messages later."""
    total = int(rate * duration)
    requests = []
    base = abs(hash(prefix)) % 1000
    for i in range(total):
        message_id = f"wamid.{prefix}.{i:07d}"
        text, sender = "", i
        if texts == "real":
            _, text, sender = real_message(i)
        phone = f"1650{base:03d}{sender:07d}"
        requests.append((message_id, _request(port, _delivery(message_id, phone, texts, text))))
    # The generator's own garbage collections must not pause the senders (a full collection
    # over the prepared requests takes a few hundred ms): freeze what exists, collect nothing.
    gc.collect()
    gc.freeze()
    gc.disable()
    start = time.perf_counter() + 0.3
    print(json.dumps({"start_wall": start + time.time() - time.perf_counter()}), flush=True)
    slots = [(start + i / rate, mid, req) for i, (mid, req) in enumerate(requests)]
    # One customer's messages go over one connection, in order (their follow-ups too).
    lanes: list[list[tuple[float, str, bytes]]] = [[] for _ in range(conns)]
    for i, slot in enumerate(slots):
        sender = real_message(i)[2] if texts == "real" else i
        lanes[sender % conns].append(slot)
    results: list[list[tuple[str, float, float, int]]] = [[] for _ in range(conns)]
    threads = [
        threading.Thread(target=_sender, args=(port, lanes[n], results[n]), daemon=True)
        for n in range(conns)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    print(json.dumps({"elapsed_s": elapsed, "results": [r for rs in results for r in rs]}))


# --- orchestration ----------------------------------------------------------------------------


def _start_load(
    port: int, rate: float, duration: float, conns: int, prefix: str, texts: str = "bench"
) -> subprocess.Popen[str]:
    """The load generator, started (``_finish_load`` collects what it measured)."""
    cmd = [sys.executable, __file__, "--generate", f"--port={port}", f"--rate={rate}"]
    cmd += [f"--duration={duration}", f"--connections={conns}", f"--prefix={prefix}"]
    cmd += [f"--texts={texts}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish_load(
    proc: subprocess.Popen[str], duration: float, output: tuple[str, str] | None = None
) -> dict[str, Any]:
    """What the generator measured (``output``: its stdout and stderr, already read)."""
    if output is None:
        try:
            output = proc.communicate(timeout=duration + 600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit("load generator did not finish") from None
    out, err = output
    if proc.returncode != 0:
        raise SystemExit(f"load generator failed: {err.strip()[-500:]}")
    lines = out.strip().splitlines()
    data: dict[str, Any] = json.loads(lines[-1])
    data["start_wall"] = json.loads(lines[0]).get("start_wall") if len(lines) > 1 else None
    return data


def _run_load(
    port: int, rate: float, duration: float, conns: int, prefix: str, texts: str = "bench"
) -> dict[str, Any]:
    return _finish_load(_start_load(port, rate, duration, conns, prefix, texts), duration)


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


def _why_unanswered(data_dir: Path, ids: list[str]) -> dict[str, Any]:
    """What became of messages the webhook accepted and the fake never saw a reply to: counts
    by where each stopped (not stored; stored with no reply row; reply row in a state, by the
    conversation's state), with the bus's remaining backlog and dead letters per topic."""
    import sqlalchemy as sa

    from ssmas.core.bus.sqlite import SqliteBus

    where: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    engine = sa.create_engine(f"sqlite:///{data_dir / 'ssmas.db'}")
    # one joined query per 500 ids (each message with its reply, if any), not two per message
    query = sa.text(
        "SELECT m.wa_id, m.state, m.intent, c.state AS conv, r.state AS reply_state,"
        " r.kind AS reply_kind FROM assistant_messages m"
        " JOIN assistant_conversations c ON c.id = m.conversation_id"
        " LEFT JOIN assistant_messages r ON r.direction = 'out' AND r.reply_to_id = m.id"
        " WHERE m.wa_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    try:
        with engine.connect() as conn:
            found: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                for row in conn.execute(query, {"ids": ids[start : start + 500]}):
                    got = (
                        f"reply_{row.reply_state}_{row.reply_kind}"
                        if row.reply_state is not None
                        else "no_reply_row"
                    )
                    found[row.wa_id] = (
                        f"{got} (in {row.state}, intent {row.intent}, conversation {row.conv})"
                    )
            for mid in ids:
                kind = found.get(mid, "not_stored")
                where[kind] += 1
                examples.setdefault(kind, [])
                if len(examples[kind]) < 3:
                    examples[kind].append(mid)
    finally:
        engine.dispose()
    bus = SqliteBus(data_dir / "bus.db", checkpoint_interval_s=None)
    try:
        backlog = {
            f"{b.group}/{b.topic}": b.messages
            for b in bus.backlog()
            if b.messages and b.group.startswith("assistant-")
        }
        from ssmas.assistant.dlq_commands import assistant_topics
        from ssmas.core.bus.dlq import dead_letters
        from ssmas.settings import Settings

        topics = assistant_topics(Settings(data_dir=data_dir))  # the stack's, text partitions too
        letters = Counter(f"{d.origin}: {d.error[:80]}" for d in dead_letters(bus, topics))
    finally:
        bus.close()
    return {
        "where": dict(where),
        "examples": examples,
        "backlog": backlog,
        "dead_letters": dict(letters),
    }


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
        self,
        data_dir: Path,
        workers: int,
        nice: int = 0,
        brain: str = "assistant:bench_brain",
        profile: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.profile = profile  # py-spy output for the first worker (``--profile-worker``)
        self.profiler: subprocess.Popen[bytes] | None = None
        self.api_proc: subprocess.Popen[bytes] | None = None
        self.fake_proc: subprocess.Popen[bytes] | None = None
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
        """Train the real brain's NLU in this data directory as ``load_nlu`` does on first use
        (``train_assistant``, what ``ssmas assistant train`` runs); returns the seconds it
        took."""
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
        self.api_proc, self.fake_proc = api, fake
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
        if self.profile and self.profiler is None:
            self.profiler = self._profile(self.worker_procs[0].pid, self.profile)

    def _profile(self, pid: int, path: str) -> subprocess.Popen[bytes]:
        """py-spy sampling every thread of the worker ``pid`` until the stack stops (it writes
        ``path`` when interrupted): cProfile would see only the main thread, which waits."""
        spy = shutil.which("py-spy")
        if spy is None:
            raise SystemExit("--profile-worker needs py-spy on the PATH (pip install py-spy)")
        cmd = [spy, "record", "--pid", str(pid), "--rate", "50", "--format", "raw"]
        cmd += ["--output", path, "--nonblocking"]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_workers(self) -> None:
        """Stop the worker processes (SIGTERM: each finishes or gives back its batch)."""
        stop_processes(self.worker_procs, timeout_s=30)
        self.worker_procs = []

    def stop(self) -> None:
        if self.profiler is not None:  # py-spy writes its profile on SIGINT
            self.profiler.send_signal(signal.SIGINT)
            self.profiler.wait(timeout=60)
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


def _cpu_s(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU seconds the processes have used so far (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in procs:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class CpuMeter:
    """CPU seconds of the workers, the API and the fake between two ``take`` calls."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.last = self._now()

    def _now(self) -> dict[str, float]:
        return {
            "worker": _cpu_s(self.stack.worker_procs),
            "api": _cpu_s([self.stack.api_proc]) if self.stack.api_proc else 0.0,
            "fake": _cpu_s([self.stack.fake_proc]) if self.stack.fake_proc else 0.0,
        }

    def take(self, messages: int) -> dict[str, float | None]:
        """CPU ms per message of each process kind since the previous call."""
        now = self._now()
        used = {k: now[k] - self.last[k] for k in now}
        self.last = now
        return {k: round(v * 1000 / messages, 2) if messages else None for k, v in used.items()}


def _backlog_probe(data_dir: Path) -> Any:
    """A function giving the assistant's bus backlog now: messages accepted by the webhook and
    not yet acknowledged by the router, text, status, outbound or escalation consumers."""
    from ssmas.core.bus.sqlite import SqliteBus

    bus = SqliteBus(data_dir / "bus.db", checkpoint_interval_s=None)

    def probe() -> int:
        return sum(b.messages for b in bus.backlog() if b.group.startswith("assistant-"))

    return probe


def _slope(points: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of ``(t, value)`` points, per second."""
    if len(points) < 2:
        return None
    ts = [t for t, _ in points]
    vs = [v for _, v in points]
    mt, mv = sum(ts) / len(ts), sum(vs) / len(vs)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (v - mv) for t, v in points) / den if den else None


def _sustained(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """``args.rate`` real-brain messages/s offered open loop for ``args.duration`` s; the bus
    backlog sampled every ``args.sample_s`` while it runs and while it drains."""
    probe = _backlog_probe(stack.data_dir)
    proc = _start_load(
        stack.api_port, args.rate, args.duration, args.connections, "rb-load", "real"
    )
    first = proc.stdout.readline() if proc.stdout is not None else ""
    if not first:
        _finish_load(proc, args.duration)
        raise SystemExit("load generator gave no start time")
    start = float(json.loads(first)["start_wall"])
    # The generator's results are one long line: read it while sampling, or its write blocks.
    output: list[tuple[str, str]] = []
    reader = threading.Thread(target=lambda: output.append(proc.communicate()), daemon=True)
    reader.start()
    samples: list[tuple[float, int, float]] = []  # (s since start, backlog, load average)
    while reader.is_alive():
        samples.append((time.time() - start, probe(), os.getloadavg()[0]))
        reader.join(timeout=args.sample_s)
    raw = _finish_load(proc, args.duration, output[0] if output else ("", "no output"))
    raw["start_wall"] = start
    accepted = {r[0]: r[1] for r in raw["results"] if r[3] == 200}
    samples.append((time.time() - start, probe(), os.getloadavg()[0]))
    drained = _wait_drained(
        stack.fake_url,
        "rb-load",
        len(accepted),
        args.idle,
        args.drain_max,
        progress=lambda: _settled(stack.data_dir),
    )
    missing = [mid for mid in accepted if mid not in drained["replies"]]
    why = _why_unanswered(stack.data_dir, missing) if missing else None
    if why is not None:
        print(f"unanswered {len(missing)}: {json.dumps(why, indent=1)}", flush=True)
    return {
        "why_unanswered": why,
        "raw": raw,
        "accepted": accepted,
        "replies": drained["replies"],
        "drain_s": drained["drain_s"],
        "complete": drained["complete"],
        "stored": _stored(stack.data_dir, "rb-load"),
        "samples": samples,
        "start": start,
    }


def _sustained_figures(run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Reply rate over the steady window (after the first ``warm`` seconds, up to the end of
    the offered load) and the backlog's course over it."""
    start, duration = run["start"], args.duration
    warm = min(0.1 * duration, 30.0)
    replies: dict[str, list[float]] = run["replies"]
    firsts = [min(v) - start for v in replies.values()]
    in_window = sum(1 for t in firsts if warm <= t < duration)
    steady = [(t, b) for t, b, _ in run["samples"] if warm <= t <= duration]
    middle = steady[len(steady) // 2][1] if steady else None
    slope = _slope([(t, b) for t, b in steady])
    accepted, results = run["accepted"], run["raw"]["results"]
    acks = [r[2] * 1000 for r in results if r[3] == 200]
    unanswered = sum(1 for mid in accepted if mid not in replies)
    lost = max(unanswered, len(accepted) - run["stored"]) if run["complete"] else None
    loads = [load for _, _, load in run["samples"]]
    return {
        "real_reply_rate_per_s": round(in_window / (duration - warm), 1),
        "real_offered_rate_per_s": round(len(acks) / run["raw"]["elapsed_s"], 1),
        "real_target_rate_per_s": args.rate,
        "real_duration_s": duration,
        "real_window_s": [round(warm, 1), duration],
        "real_backlog_start": steady[0][1] if steady else None,
        "real_backlog_mid": middle,
        "real_backlog_end": steady[-1][1] if steady else None,
        "real_backlog_max": max((b for _, b in steady), default=None),
        "real_backlog_slope_per_s": round(slope, 2) if slope is not None else None,
        "real_backlog_growing": slope is not None and slope > BACKLOG_GROWTH * args.rate,
        "real_backlog_samples": [[round(t, 1), b] for t, b, _ in run["samples"]],
        "real_webhook_ack_p99_ms": _p(acks, 0.99),
        "real_sent": len(results),
        "real_rejected": len(results) - len(acks),
        "real_replied": len(replies),
        "real_lost": lost,
        "real_duplicated": sum(len(v) - 1 for v in replies.values() if len(v) > 1),
        "real_drain_complete": run["complete"],
        "real_unanswered_why": run.get("why_unanswered"),
        "real_drain_s": round(run["drain_s"], 1),
        "real_load_avg_1m_during": [round(min(loads), 2), round(max(loads), 2)] if loads else None,
    }


def measure_real(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The stack with the brain production starts (see the notes): a paced e2e stream, then a
    sustained open-loop load with the backlog sampled over time."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ssmas-bench-assistant-real-") as tmp:
        stack = Stack(
            Path(tmp) / "data",
            args.workers,
            args.worker_nice,
            brain="",
            profile=args.profile_worker,
        )
        try:
            train_s = stack.train_nlu()
            load_start = os.getloadavg()[0]
            stack.start()
            _run_load(stack.api_port, 20.0, 2.0, 2, "warm", "real")  # warm-up (not counted)
            _wait_drained(stack.fake_url, "warm", 40, 60.0)
            cpu = CpuMeter(stack)
            paced = _phase(stack, "rb-e2e", args.e2e_rate, args.e2e_duration, 4, args, texts="real")
            cpu_paced = cpu.take(len(paced["replies"]))
            load_paced = os.getloadavg()[0]
            sustained = _sustained(stack, args)
            cpu_sustained = cpu.take(len(sustained["replies"]))
        finally:
            stack.stop()
    paced_replies = paced["replies"]
    e2e = [
        (min(paced_replies[mid]) - sent) * 1000
        for mid, sent in paced["accepted"].items()
        if mid in paced_replies
    ]
    figures: dict[str, Any] = {
        "real_e2e_p99_ms": _p(e2e, 0.99),
        "real_e2e_p50_ms": _p(e2e, 0.5),
        "real_e2e_rate_per_s": args.e2e_rate,
        "real_e2e_messages": len(paced["accepted"]),
        "real_e2e_lost": len(paced["accepted"]) - len(e2e),
        "real_e2e_duplicated": sum(len(v) - 1 for v in paced_replies.values() if len(v) > 1),
    }
    figures.update(_sustained_figures(sustained, args))
    figures.update(
        {
            "real_worker_cpu_ms_per_msg": cpu_sustained["worker"],
            "real_api_cpu_ms_per_msg": cpu_sustained["api"],
            "real_fake_cpu_ms_per_msg": cpu_sustained["fake"],
            "real_e2e_worker_cpu_ms_per_msg": cpu_paced["worker"],
            "real_workers": args.workers,
            "real_worker_nice": args.worker_nice,
            "real_train_s": round(train_s, 1),
            "real_load_avg_1m_before": round(load_before, 2),
            "real_load_avg_1m_start": round(load_start, 2),
            "real_load_avg_1m_after_e2e": round(load_paced, 2),
            "real_load_avg_1m_after": round(os.getloadavg()[0], 2),
        }
    )
    command = " ".join(["benchmarks/assistant.py", *sys.argv[1:]])
    kinds = ", ".join(f"{k} {REAL_MIX.count(k)}/{len(REAL_MIX)}" for k in dict.fromkeys(REAL_MIX))
    notes = (
        "Real brain (real_* keys): the same stack with SSMAS_WHATSAPP_BRAIN unset, so the "
        "workers load ssmas.assistant.seed_brain.brain_from_settings, the brain `ssmas up`, "
        "the demo and first use load: the NLU that `ssmas assistant train` produces (trained "
        "first in the fresh data directory by load_nlu, which runs train_assistant: the shipped "
        "domain, MiniLM features for English intents when installed; real_train_s, not timed "
        "in the figures), the entity tagger and forms, the seed's escalation score, and the "
        "knowledge base (shipped FAQ, BM25 + MiniLM). Customers write Spanish and English "
        f"(benchmarks/assistant.py:real_message; kinds per 20 messages: {kinds}; a form's "
        f"slot answer comes from its opener's customer {FOLLOW_UP_LAG} messages later, every "
        "other message from a customer of its own; greetings and publisher IDs vary the texts). "
        f"real_e2e_*: an open-loop paced stream of {args.e2e_rate:g}/s for "
        f"{args.e2e_duration:g} s, each message's scheduled webhook send time to its reply's "
        "record time at the Graph fake. real_reply_rate_per_s: "
        f"{args.rate:g} messages/s offered open loop for {args.duration:g} s over "
        f"{args.connections} keep-alive connections; replies recorded at the fake in the "
        "steady window (real_window_s: after the first tenth, at most 30 s, up to the end of "
        "the offered load) divided by its length. real_backlog_*: the bus backlog of the "
        f"assistant's consumer groups sampled every {args.sample_s:g} s (real_backlog_samples: "
        "[s since the load started, messages]); start / mid / end of the steady window, its "
        "least-squares slope in messages/s, and real_backlog_growing = slope > "
        f"{BACKLOG_GROWTH:g} x the offered rate. real_*cpu_ms_per_msg: CPU (user + system, "
        "/proc) the worker processes, the API and the fake used during the sustained phase, "
        "per reply (real_e2e_worker_cpu_ms_per_msg: during the paced phase); far less "
        f"sensitive to the machine's load than wall times. Workers: {args.workers}. "
        f"Reproduce: `.venv/bin/python {command}`."
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
    # The keys of the earlier real-brain run (the old seed brain, a drained backlog) are
    # replaced by this run's real_* keys.
    body["figures"] = {
        k: v
        for k, v in body["figures"].items()
        if not k.startswith(("real_brain_", "e2e_real_brain_", "real_"))
    }
    body["figures"].update(figures)
    headline = str(body.get("notes", "")).split(" Real brain (")[0]
    body["notes"] = (
        f"{headline} {notes} The real_* keys were measured separately ({when}, commit "
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
        choices=("bench", "real"),
        default="bench",
        help="bench (default): the headline run (bench brain); real: the brain production "
        "starts, its real_* keys merged into the existing results (--sustained: 10 minutes)",
    )
    parser.add_argument(
        "--sustained",
        action="store_true",
        help="real brain: the 10-minute sustained run (500/s for 600 s, e2e 100/s for 60 s)",
    )
    parser.add_argument(
        "--sample-s", type=float, default=None, help="real brain: backlog sampling interval"
    )
    parser.add_argument(
        "--profile-worker",
        default=None,
        metavar="PATH",
        help="sample the first worker with py-spy (every thread), writing PATH (raw format)",
    )
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="load", help=argparse.SUPPRESS)
    parser.add_argument("--texts", default="bench", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    if (
        args.brain == "real" and not args.generate
    ):  # the real brain's defaults: the 100/s paced e2e and 500/s sustained
        long = args.sustained
        args.rate = args.rate or 500.0
        args.duration = args.duration or (600.0 if long else 10.0 if quick else 30.0)
        args.e2e_rate = args.e2e_rate or 100.0
        args.e2e_duration = args.e2e_duration or (60.0 if long else 5.0 if quick else 15.0)
        args.sample_s = args.sample_s or (10.0 if long else 2.0)
    args.rate = args.rate or (100.0 if quick else 1000.0)
    args.duration = args.duration or (3.0 if quick else 60.0)
    args.e2e_rate = args.e2e_rate or (10.0 if quick else 20.0)
    args.e2e_duration = args.e2e_duration or (3.0 if quick else 20.0)
    args.connections = args.connections or (4 if quick else 16)
    args.idle = args.idle or (15.0 if quick else 60.0)
    args.sample_s = args.sample_s or 2.0
    if args.sustained and args.brain != "real":
        parser.error("--sustained is a real-brain run: add --brain real")

    if args.generate:
        generate(args.port, args.rate, args.duration, args.connections, args.prefix, args.texts)
        return

    from rich.console import Console
    from rich.table import Table

    from _report import write_result

    figures: dict[str, Any] = {}
    if args.brain == "bench":
        figures, notes = measure(args)
        path = write_result(NAME, figures, notes, quick=quick)
    if args.brain == "real":
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
