"""``ssmas demo`` for a minute, then every log and every file of its data directory (databases,
their WAL files, the bus, the lake's Parquet, model artifacts) is searched for the personal data
and secrets that went through it in plain: API keys, the simulated customers' and leads' phone
numbers, the customers' names and message texts. Only the demo's own key file may hold its key,
and only the demo's banner may print it (once, for the person who started it)."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ssmas.assistant.demo_customers import SCRIPT
from ssmas.campaigns.demo import DEMO_LEADS
from ssmas.campaigns.leads import simulated_leads_csv
from ssmas.core.worker import wait_until
from tests.e2e.test_demo import _ledger_counts
from tests.e2e.test_serve import free_port, server_env, wait_healthy

RUN_S = 60.0
KEY_RE = re.compile(rb"ssmas_[a-z0-9]{8}_[A-Za-z0-9_-]{32,128}")
DIGITS_RE = re.compile(rb"(?<![0-9])[0-9]{10,13}(?![0-9])")
# Messages short or common enough to be in the bot's own knowledge and replies are left out.
MIN_TEXT = 12


def _lead_numbers() -> tuple[set[bytes], set[bytes]]:
    """The demo leads' numbers as digit strings (national, +52, +52 1) and their spellings."""
    reader = csv.DictReader(io.StringIO(simulated_leads_csv(DEMO_LEADS, seed=16).decode()))
    digits: set[bytes] = set()
    spellings: set[bytes] = set()
    for row in reader:
        raw = row["telefono"]
        only = re.sub(r"\D", "", raw)
        if re.search(r"[A-Za-z]", raw) or len(only) < 10:
            continue
        national = only[-10:]
        digits |= {national.encode(), f"52{national}".encode(), f"521{national}".encode()}
        if not raw.isdigit():
            spellings.add(raw.encode())
    return digits, spellings


def _needles() -> tuple[set[bytes], list[bytes]]:
    """Digit strings to find as whole numbers, and texts to find anywhere (raw and as JSON
    escapes them)."""
    digits, spellings = _lead_numbers()
    texts: set[str] = set()
    for step in SCRIPT:
        digits.add(step.phone.encode())
        texts.add(step.name)
        if len(step.text) >= MIN_TEXT:
            texts.add(step.text)
    variants: set[bytes] = set(spellings)
    for text in texts:
        variants.add(text.encode())
        variants.add(json.dumps(text)[1:-1].encode())  # "Mar\\u00eda" in ASCII JSON logs
    return digits, sorted(variants, key=len, reverse=True)


def _parquet_text(path: Path) -> bytes:
    """A Parquet file's values as text (its pages are compressed: raw bytes would hide them)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return "\n".join(
        str(value) for column in table.columns for value in column.to_pylist()
    ).encode()


def _findings(name: str, data: bytes, digits: set[bytes], texts: list[bytes]) -> list[str]:
    found = [f"{name}: number {m.decode()}" for m in DIGITS_RE.findall(data) if m in digits]
    found += [f"{name}: text {t[:40]!r}" for t in texts if t in data]
    return found


@pytest.mark.slow
def test_a_minute_of_demo_leaves_no_plaintext_secret_or_personal_data(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    env["SSMAS_WHATSAPP_GRAPH_URL"] = f"http://127.0.0.1:{free_port()}/v23.0"
    env["SSMAS_CAMPAIGNS_PROVIDER_URL"] = f"http://127.0.0.1:{free_port()}"
    env["SSMAS_LOG_LEVEL"] = "DEBUG"  # the most a log can say
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ssmas.cli", "demo", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started = time.monotonic()
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            # PII flowed: the assistant's customers wrote, the campaign went out.
            engine = sa.create_engine(f"sqlite:///{data_dir / 'ssmas.db'}")
            try:
                assert wait_until(lambda: _ledger_counts(engine)["sent"] > 0, 240.0)
                assert wait_until(lambda: _conversations(engine) >= 2, 240.0)
            finally:
                engine.dispose()
            time.sleep(max(0.0, RUN_S - (time.monotonic() - started)))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    key = (data_dir / "demo_api_key").read_text().strip().encode()
    digits, texts = _needles()
    output = log_path.read_bytes()
    findings: list[str] = []
    # The banner prints the demo key once; no other line of the output may hold any key.
    assert output.count(key) == 1
    leaked_keys = KEY_RE.findall(output.replace(key, b"", 1))
    findings += [f"demo output: API key {k[:14]!r}..." for k in leaked_keys]
    findings += _findings("demo output", output, digits, texts)
    scanned = 0
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(data_dir))
        data = path.read_bytes()
        if path.suffix == ".parquet":
            data += b"\n" + _parquet_text(path)
        if path.name != "demo_api_key":
            findings += [f"{name}: API key {k[:14]!r}..." for k in KEY_RE.findall(data)]
        findings += _findings(name, data, digits, texts)
        scanned += 1
    assert scanned > 5 and len(digits) > 1000 and texts
    assert findings == [], "\n".join(findings[:40])


def _conversations(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM assistant_conversations")).scalar_one()
            )
    except sa.exc.OperationalError:
        return 0
