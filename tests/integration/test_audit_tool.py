"""``make audit`` (tools/audit.py): says plainly when no vulnerability database answers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ssmas_audit_tool", ROOT / "tools" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = _load()


class _Advisories(BaseHTTPRequestHandler):
    body = b"{}"

    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake_osv() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Advisories)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    server.shutdown()
    server.server_close()


def test_a_database_that_lists_advisories_counts_as_reachable(
    fake_osv: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _url, body, field = audit.PROBES["osv"]
    monkeypatch.setitem(audit.PROBES, "osv", (fake_osv, body, field))
    monkeypatch.setattr(_Advisories, "body", json.dumps({"vulns": [{"id": "X"}]}).encode())
    assert audit.reachable("osv")
    monkeypatch.setattr(_Advisories, "body", b"<html>not an API</html>")
    assert not audit.reachable("osv")


def test_nothing_listening_is_not_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    _url, body, field = audit.PROBES["osv"]
    monkeypatch.setitem(audit.PROBES, "osv", ("http://127.0.0.1:1/v1/query", body, field))
    assert not audit.reachable("osv")


def test_offline_it_says_so_in_one_line_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(audit, "reachable", lambda service: False)
    assert audit.main([]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("audit skipped: no vulnerability database")


def test_the_script_runs_as_make_audit_runs_it() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "audit.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--service" in done.stdout
