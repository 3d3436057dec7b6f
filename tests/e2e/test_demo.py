"""``ssmas demo`` as a newcomer runs it: a real process serving the dashboard and the API."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa
from typer.testing import CliRunner

from ssmas.cli import app
from ssmas.core.bus import open_bus
from ssmas.core.worker import wait_until
from tests.e2e.test_serve import free_port, server_env, wait_healthy


def _ledger_counts(engine: sa.Engine) -> dict[str, int]:
    """Messages of the send ledger accepted by the provider (sent) and delivered so far."""
    query = sa.text(
        "SELECT count(sent_at), coalesce(sum(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), 0)"
        " FROM campaigns_send_ledger"
    )
    try:
        with engine.connect() as conn:
            sent, delivered = conn.execute(query).one()
    except sa.exc.OperationalError:  # the database is busy or not migrated yet
        return {"sent": 0, "delivered": 0}
    return {"sent": int(sent), "delivered": int(delivered)}


def test_demo_serves_dashboard_and_api_with_its_printed_key(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    # The demo serves the WhatsApp Graph API fake; keep it off the default port.
    env["SSMAS_WHATSAPP_GRAPH_URL"] = f"http://127.0.0.1:{free_port()}/v23.0"
    # And the fake SMS provider the campaigns scenario serves.
    env["SSMAS_CAMPAIGNS_PROVIDER_URL"] = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ssmas.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        key = (data_dir / "demo_api_key").read_text().strip()
        assert key.startswith("ssmas_")
        login = httpx.get(f"{base}/", follow_redirects=True, timeout=5.0)
        assert login.status_code == 200
        assert "API key" in login.text
        ping = httpx.get(f"{base}/v1/ping", headers={"X-API-Key": key}, timeout=5.0)
        assert ping.status_code == 200
        assert httpx.get(f"{base}/v1/ping", timeout=5.0).status_code == 401
        ready = httpx.get(f"{base}/ready", timeout=5.0)
        assert ready.status_code == 200
        # The live exchange feeds the other products through the bus.
        bus = open_bus(str(data_dir / "bus.db"))
        try:
            assert wait_until(lambda: bool(bus.replay("metrics.adops", limit=1)), 90.0)
            point = bus.replay("metrics.adops", limit=1)[0].payload
        finally:
            bus.close()
        assert point
        # The campaigns scenario's campaign goes out through the fake SMS provider and its
        # delivery receipts come back: the ledger's sent and delivered counts rise from 0.
        engine = sa.create_engine(f"sqlite:///{data_dir / 'ssmas.db'}")
        try:
            assert wait_until(lambda: _ledger_counts(engine)["delivered"] > 0, 180.0)
            counts = _ledger_counts(engine)
        finally:
            engine.dispose()
        assert counts["sent"] >= counts["delivered"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        # The assistant's first NLU training (a worker thread building its runtime) cannot be
        # cut short; on two busy cores it can run past a minute after the start.
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert key in out.decode(errors="replace")
    assert "warning: SSMAS_SECRET_KEY is not set" in out.decode(errors="replace")


def test_worker_for_an_unknown_product_exits_2() -> None:
    result = CliRunner().invoke(app, ["worker", "nosuchproduct"])
    assert result.exit_code == 2
    assert "no product called 'nosuchproduct'" in result.output
