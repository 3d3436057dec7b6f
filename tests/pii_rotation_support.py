"""The PII key rotation drill: rotate and re-encrypt while a real server serves PII traffic.

Shared by ``tests/integration/test_pii_rotation_live.py`` and ``benchmarks/ops_security.py``.
The data directory gets conversations (phone, name, message texts) and campaign leads (phone,
attributes) encrypted under key 1; ``ssmas serve`` runs in its own process; client threads
read conversations (each answer's name and texts are checked against what was seeded: a
decryption with the wrong key would fail or differ) and queue agent replies (new ciphertexts,
under whatever key the server holds at that moment). Meanwhile this process rotates to a new
key, re-encrypts every PII column, retires key 1, and the traffic goes on a little after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from ssmas.assistant.tables import ChatMessage, Conversation
from ssmas.campaigns.tables import Lead
from ssmas.campaigns.tenancy.tenants import create_tenant
from ssmas.core.db import make_engine, upgrade
from ssmas.core.security import create_api_key
from ssmas.core.security.pii import pii_cipher_from_settings
from ssmas.core.security.pii_keys import (
    PiiKeyRingError,
    add_key,
    key_usage,
    reencrypt,
    reencrypt_pass,
    retire_key,
)
from ssmas.core.worker import wait_until
from ssmas.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REFRESH_S = 0.5


@dataclass
class DrillResult:
    rows: int  # PII ciphertexts in the database before the rotation
    rewritten: int
    rotation_s: float  # add the key .. re-encryption done (final pass included)
    requests: int
    failed: int
    failures: list[str] = field(default_factory=list)
    usage_after: dict[int, int] = field(default_factory=dict)
    reads_during: int = 0
    writes_during: int = 0
    late: int = 0  # rewritten by the extra pass retire's refusal called for


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env.update(
        {
            "SSMAS_PROFILE": "test",
            "SSMAS_DATA_DIR": str(data_dir),
            "SSMAS_OPS_PII_KEY_REFRESH_S": str(REFRESH_S),
            "SSMAS_LOG_LEVEL": "WARNING",
            "SSMAS_RATE_LIMIT_PER_S": "100000",
            "SSMAS_RATE_LIMIT_BURST": "100000",
        }
    )
    return env


def seed(settings: Settings, conversations: int, messages_per: int, leads: int) -> str:
    """Encrypted rows under key 1; returns an admin API key."""
    cipher = pii_cipher_from_settings(settings)
    engine = make_engine(settings.resolved_database_url)
    now = datetime.now(UTC)
    try:
        with sa.orm.Session(engine) as session:
            raw, _ = create_api_key(session, "drill", ["*"])
            tenant = create_tenant(session, "drill", "Drill", "starter")
            session.commit()
            conv_rows = [
                {
                    "business_id": "drill",
                    "phone_index": cipher.blind_index(phone(i)),
                    "phone_enc": cipher.encrypt(phone(i)),
                    "name_enc": cipher.encrypt(name(i)),
                    "state": "bot",
                    "session_no": 1,
                    "turns": messages_per,
                    "last_activity_at": now,
                    "created_at": now,
                }
                for i in range(conversations)
            ]
            session.execute(sa.insert(Conversation), conv_rows)
            ids = list(session.scalars(sa.select(Conversation.id).order_by(Conversation.id)))
            msg_rows = [
                {
                    "conversation_id": conv_id,
                    "direction": "in",
                    "author": "customer",
                    "kind": "text",
                    "body_enc": cipher.encrypt(text(n, j)),
                    "state": "done",
                    "session_no": 1,
                    "attempts": 0,
                    "created_at": now + timedelta(microseconds=j),
                    "meta": {},
                }
                for n, conv_id in enumerate(ids)
                for j in range(messages_per)
            ]
            for start in range(0, len(msg_rows), 5000):
                session.execute(sa.insert(ChatMessage), msg_rows[start : start + 5000])
            lead_rows = [
                {
                    "tenant_id": tenant.id,
                    "phone_index": cipher.blind_index(f"+52155{i:08d}"),
                    "phone_enc": cipher.encrypt(f"+52155{i:08d}"),
                    "phone_last4": f"{i:08d}"[-4:],
                    "time_zone": "America/Mexico_City",
                    "attributes_enc": cipher.encrypt(f'{{"first_name": "Lead {i}"}}'),
                    "attribute_names": ["first_name"],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(leads)
            ]
            for start in range(0, len(lead_rows), 5000):
                session.execute(sa.insert(Lead), lead_rows[start : start + 5000])
            session.commit()
    finally:
        engine.dispose()
    return raw


def phone(i: int) -> str:
    return f"1650555{i:04d}"


def name(i: int) -> str:
    return f"Cliente {i}"


def text(n: int, j: int) -> str:
    return f"mensaje {j} de la conversación {n}"


class Traffic:
    """Client threads reading and writing PII through the server; every failure is kept."""

    def __init__(self, base: str, key: str, conversations: int, threads: int = 3) -> None:
        self.base, self.key, self.n = base, key, conversations
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = self.reads = self.writes = 0
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what[:300])

    def _run(self, seed: int) -> None:
        headers = {"X-API-Key": self.key}
        i = seed
        with httpx.Client(base_url=self.base, headers=headers, timeout=30.0) as client:
            while not self.stop.is_set():
                conv = 1 + (i * 7919) % self.n
                write = i % 4 == 0
                try:
                    if write:
                        response = client.post(
                            f"/assistant/conversations/{conv}/reply",
                            json={"text": f"respuesta {i}", "agent": "drill"},
                        )
                        ok = response.status_code == 202
                    else:
                        response = client.get(f"/assistant/conversations/{conv}")
                        ok = response.status_code == 200 and _matches(response.json(), conv)
                except httpx.HTTPError as exc:
                    self._fail(f"{'POST' if write else 'GET'} {conv}: {exc!r}")
                else:
                    if not ok:
                        self._fail(f"{response.status_code} {response.text[:200]}")
                with self.lock:
                    self.requests += 1
                    self.reads += 0 if write else 1
                    self.writes += 1 if write else 0
                i += 3


def _matches(body: dict[str, object], conv: int) -> bool:
    """The answer holds the seeded name and message texts, decrypted right."""
    n = conv - 1
    texts = {m["text"] for m in body.get("messages", []) if isinstance(m, dict)}  # type: ignore[union-attr]
    return body.get("name") == name(n) and text(n, 0) in texts


def run_drill(
    data_dir: Path,
    *,
    conversations: int = 200,
    messages_per: int = 5,
    leads: int = 500,
    settle_s: float = REFRESH_S * 2 + 0.5,
    after_s: float = 1.5,
) -> DrillResult:
    settings = Settings(profile="test", data_dir=data_dir)
    settings.ensure_dirs()
    upgrade(settings.resolved_database_url)
    key = seed(settings, conversations, messages_per, leads)
    engine = make_engine(settings.resolved_database_url)
    rows = sum(key_usage(engine).values())
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ssmas.cli", "serve", "--port", str(port)],
        env=server_env(data_dir),
        stdout=log,
        stderr=log,
        cwd=ROOT,
    )
    traffic = Traffic(base, key, conversations)
    try:
        if not wait_until(lambda: _healthy(base, proc), 90.0):
            raise AssertionError("server did not become healthy")
        traffic.start()
        assert wait_until(lambda: traffic.requests >= 20, 60.0), traffic.failures[:3]
        before = traffic.requests
        cipher = pii_cipher_from_settings(settings)
        started = time.perf_counter()
        with sa.orm.Session(engine) as session:
            add_key(session, cipher, actor="drill")
            session.commit()
        report = reencrypt(engine, cipher, settle_s=settle_s)
        rotation_s = time.perf_counter() - started
        during = traffic.requests - before
        # A write encrypted under key 1 just before the rotation but committed after the final
        # pass (seconds late on a loaded machine) keeps key 1 in use: retire refuses, and one
        # more pass (``ssmas keys pii reencrypt``) picks it up, as an operator would do.
        late = 0
        for attempt in range(5):
            try:
                with sa.orm.Session(engine) as session:
                    retire_key(session, engine, 1, actor="drill", retire_after_s=0)
                    session.commit()
                break
            except PiiKeyRingError:
                if attempt == 4:
                    raise
                extra = reencrypt_pass(engine, cipher)
                report.rewritten += extra.rewritten
                late += extra.rewritten
        time.sleep(after_s)  # the server reads everything, key 1 gone
        writes = traffic.writes
    finally:
        traffic.finish()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    usage = key_usage(engine)
    engine.dispose()
    return DrillResult(
        rows=rows,
        rewritten=report.rewritten,
        rotation_s=rotation_s,
        requests=traffic.requests,
        failed=len(traffic.failures),
        failures=traffic.failures[:5],
        usage_after=usage,
        reads_during=during,
        writes_during=writes,
        late=late,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"server exited with {proc.returncode}")
    try:
        return httpx.get(f"{base}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
