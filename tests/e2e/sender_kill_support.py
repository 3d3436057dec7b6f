"""Kill real sender processes mid-campaign against the fake SMS provider, and count what the
handsets received. Used by the SIGKILL test and by ``benchmarks/campaigns_sending.py``.

The campaign is queued in this process; each sender is ``python -m ssmas worker campaigns
--only sender`` on the same data directory. All but the last sender are killed with SIGKILL
once the handsets have received their share; the last runs until nothing is queued. The fake
ignores ``Idempotency-Key`` (as Twilio does), so only the ledger's reconciliation stands
between a takeover and a second copy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ssmas.campaigns.sending.recipient import Recipient
from ssmas.campaigns.sending.runtime import sending_runtime
from ssmas.campaigns.sending.sender import LedgerSender
from ssmas.core.platform import build_platform
from ssmas.settings import CampaignsSettings, Settings
from tests.fakes.sms_provider import FakeSmsProvider

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sender-kill-test-secret-0123456789abcdef"
TEMPLATE = "Hola {nombre}, tu cupón es {cupon}"


@dataclass
class KillRun:
    """What one run did: recipients, kills, and what the handsets got."""

    recipients: int
    kills: int
    handset: Counter[str] = field(default_factory=Counter)
    # Messages the provider had accepted that the ledger had not yet recorded, at each kill.
    unrecorded_at_kill: list[int] = field(default_factory=list)
    taken_over: int = 0  # rows claimed more than once
    seconds: float = 0.0
    provider_requests: int = 0
    # The last sender's steady rate: messages from its first send to the last, per second.
    sends_per_s: float = 0.0

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.handset.values() if n > 1)

    @property
    def missing(self) -> int:
        return self.recipients - len(self.handset)


def kill_settings(
    data_dir: Path,
    provider_url: str,
    *,
    lease_s: float,
    batch: int,
    concurrency: int = 8,
    database_url: str | None = None,
) -> Settings:
    section = CampaignsSettings(
        provider_url=provider_url,
        quiet_start_hour=0,
        quiet_end_hour=0,  # no quiet hours: the run uses the real clock
        cap_per_day=1_000,
        cap_per_week=1_000,
        tenant_rate_per_s=1e6,
        tenant_burst=1_000_000,
        lease_s=lease_s,
        sender_batch=batch,
        sender_concurrency=concurrency,
    )
    s = Settings(
        profile="test",
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,
        campaigns=section,
    )
    s.ensure_dirs()
    return s


def sender_env(settings: Settings) -> dict[str, str]:
    cs = settings.campaigns
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "SSMAS_PROFILE": "test",
        "SSMAS_DATA_DIR": str(settings.data_dir),
        "SSMAS_SECRET_KEY": SECRET,
        "SSMAS_LOG_LEVEL": "WARNING",
    }
    if settings.database_url:
        env["SSMAS_DATABASE_URL"] = settings.database_url
    for name in (
        "provider_url",
        "quiet_start_hour",
        "quiet_end_hour",
        "cap_per_day",
        "cap_per_week",
        "tenant_rate_per_s",
        "tenant_burst",
        "lease_s",
        "sender_batch",
        "sender_concurrency",
    ):
        env[f"SSMAS_CAMPAIGNS_{name.upper()}"] = str(getattr(cs, name))
    return env


def people(n: int) -> list[Recipient]:
    return [
        Recipient(
            lead_id=i + 1,
            e164=f"+5233{20_000_000 + i:08d}",
            variables={"nombre": f"Cliente {i + 1}", "cupon": f"C{i:05d}"},
        )
        for i in range(n)
    ]


def _wait(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the senders did not get there in time")
        time.sleep(0.01)


def run_kill_campaign(
    fake: FakeSmsProvider,
    data_dir: Path,
    *,
    recipients: int,
    kills: int,
    lease_s: float = 2.0,
    batch: int = 50,
    concurrency: int = 8,
    parallel: int = 1,
    database_url: str | None = None,
    timeout_s: float = 120.0,
) -> KillRun:
    """Queue ``recipients`` messages, run ``kills + 1`` stages of ``parallel`` senders each,
    killing every sender of all but the last stage mid-campaign, and return what the handsets
    received. With ``database_url`` (a shared PostgreSQL database) the ledger starts empty."""
    settings = kill_settings(
        data_dir,
        fake.url,
        lease_s=lease_s,
        batch=batch,
        concurrency=concurrency,
        database_url=database_url,
    )
    platform = build_platform(settings)
    run = KillRun(recipients=recipients, kills=kills)
    try:
        if database_url:
            with platform.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM campaigns_send_ledger"))
                conn.execute(sa.text("DELETE FROM campaigns_opt_outs"))
        LedgerSender(sending_runtime(platform)).enqueue(1, 1, "sms", TEMPLATE, people(recipients))

        def recorded() -> int:
            with platform.engine.connect() as conn:
                query = "SELECT count(*) FROM campaigns_send_ledger WHERE sent_at IS NOT NULL"
                return int(conn.execute(sa.text(query)).scalar_one())

        env = sender_env(settings)
        command = [sys.executable, "-m", "ssmas", "worker", "campaigns", "--only", "sender"]
        began = time.monotonic()
        for k in range(kills + 1):
            logs = [(data_dir / f"sender{k}-{i}.log").open("w") for i in range(parallel)]
            procs = [
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                for log in logs
            ]
            try:
                if k < kills:
                    share = recipients * (k + 1) // (kills + 2)
                    _wait(lambda share=share: fake.handset.total() >= share, timeout_s)
                    for proc in procs:
                        proc.send_signal(signal.SIGKILL)
                    for proc in procs:
                        proc.wait(10)
                    run.unrecorded_at_kill.append(fake.handset.total() - recorded())
                else:
                    before = fake.handset.total()
                    _wait(lambda before=before: fake.handset.total() > before, timeout_s)
                    first, at = fake.handset.total(), time.monotonic()
                    _wait(lambda: recorded() >= recipients, timeout_s)
                    elapsed = time.monotonic() - at
                    run.sends_per_s = (fake.handset.total() - first) / elapsed if elapsed else 0.0
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.terminate()
                        proc.wait(15)
                for log in logs:
                    log.close()
        run.seconds = time.monotonic() - began
        run.handset = Counter(fake.handset)
        run.provider_requests = fake.requests
        with platform.engine.connect() as conn:
            query = "SELECT count(*) FROM campaigns_send_ledger WHERE attempts > 1"
            run.taken_over = int(conn.execute(sa.text(query)).scalar_one())
    finally:
        platform.close()
    return run
