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
# A number as people write it: digits with spaces, dashes, brackets or a leading +.
PHONE_RE = re.compile(rb"(?<![0-9])\+?[0-9(][0-9 ()+-]{8,22}[0-9](?![0-9])")
# Messages short or common enough to be in the bot's own knowledge and replies are left out.
MIN_TEXT = 12


def _national_numbers() -> set[str]:
    """The last ten digits of every number that went through the demo: the leads' valid ones
    (however the CSV spelled them) and the assistant's customers'."""
    reader = csv.DictReader(io.StringIO(simulated_leads_csv(DEMO_LEADS, seed=16).decode()))
    numbers: set[str] = set()
    for row in reader:
        raw = row["telefono"]
        only = re.sub(r"\D", "", raw)
        if not re.search(r"[A-Za-z]", raw) and len(only) >= 10:
            numbers.add(only[-10:])
    numbers |= {step.phone[-10:] for step in SCRIPT}
    return numbers


def _texts() -> list[bytes]:
    """The customers' names and longer messages, raw and as ASCII JSON escapes them."""
    texts = {step.name for step in SCRIPT}
    texts |= {step.text for step in SCRIPT if len(step.text) >= MIN_TEXT}
    variants = {t.encode() for t in texts} | {json.dumps(t)[1:-1].encode() for t in texts}
    return sorted(variants)


def _parquet_text(path: Path) -> bytes:
    """A Parquet file's values as text (its pages are compressed: raw bytes would hide them)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    values = (str(value) for column in table.columns for value in column.to_pylist())
    return "\n".join(values).encode()


def findings_in(name: str, data: bytes, numbers: set[str], texts: list[bytes]) -> list[str]:
    """Phone numbers (any spelling whose last ten digits are one of ``numbers``) and texts."""
    found = []
    for match in PHONE_RE.findall(data):
        digits = re.sub(rb"[^0-9]", b"", match).decode()
        if len(digits) >= 10 and digits[-10:] in numbers:
            found.append(f"{name}: number {match.decode()!r}")
    found += [f"{name}: text {t[:40]!r}" for t in texts if t in data]
    return found


def scan(data_dir: Path, output: bytes, key: bytes) -> tuple[list[str], int]:
    """Every finding in the demo's output and data directory, and the files scanned."""
    numbers, texts = _national_numbers(), _texts()
    assert len(numbers) > 1000 and texts
    findings: list[str] = []
    # The banner prints the demo key once; no other line of the output may hold any key.
    assert output.count(key) == 1
    rest = output.replace(key, b"", 1)
    findings += [f"demo output: API key {k[:14]!r}..." for k in KEY_RE.findall(rest)]
    findings += findings_in("demo output", output, numbers, texts)
    scanned = 0
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(data_dir))
        data = path.read_bytes()
        if path.suffix == ".parquet":
            data += b"\n" + _parquet_text(path)
        if path.name != "demo_api_key":
            findings += [f"{name}: API key {k[:14]!r}..." for k in KEY_RE.findall(data)]
        findings += findings_in(name, data, numbers, texts)
        scanned += 1
    return findings, scanned


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
    findings, scanned = scan(data_dir, log_path.read_bytes(), key)
    assert scanned > 5
    assert findings == [], "\n".join(findings[:40])


def _conversations(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM assistant_conversations")).scalar_one()
            )
    except sa.exc.OperationalError:
        return 0


def test_the_search_finds_each_kind_of_plaintext(tmp_path: Path) -> None:
    """The search itself can fail: a number spelled as the CSV spells it in a SQLite file, a
    customer's name in a Parquet file (compressed), a key in a log, a text JSON-escaped."""
    import sqlite3

    import pyarrow as pa
    import pyarrow.parquet as pq

    lead = sorted(_national_numbers())[0]
    key = b"ssmas_abcd1234_" + b"x" * 43
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "demo_api_key").write_bytes(key)  # its own file may hold it
    db = sqlite3.connect(data_dir / "leak.db")
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (f"({lead[:3]}) {lead[3:6]}-{lead[6:]}",))
    db.commit()
    db.close()
    pq.write_table(
        pa.table({"who": ["Sheena Nelson"] * 50}), data_dir / "lake.parquet", compression="zstd"
    )
    (data_dir / "worker.log").write_bytes(b'{"event": "auth", "key": "' + key + b'"}\n')
    output = key + b'\n{"text": "' + json.dumps(SCRIPT[1].text)[1:-1].encode() + b'"}\n'
    findings, scanned = scan(data_dir, output, key)
    assert scanned == 4
    joined = "\n".join(findings)
    assert f"leak.db: number '({lead[:3]})" in joined
    assert "lake.parquet: text b'Sheena Nelson'" in joined
    assert "worker.log: API key" in joined
    assert "demo output: text" in joined
    assert "demo_api_key" not in joined
