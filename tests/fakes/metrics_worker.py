"""A stand-in worker process for the supervisor's health-check tests: it serves made-up
metrics on ``/metrics`` as a JSON spec file tells it, and ends on SIGTERM.

    python tests/fakes/metrics_worker.py PORT SPEC

``SPEC`` (re-read at every scrape): ``rss_mb``, ``heartbeat_age_s`` (how old the heartbeat
looks), ``acked`` / ``nacked`` / ``handling_s`` added at every scrape (so rates come out of
successive scrapes), ``backlog`` ``{group: messages}`` and ``backlog_age_s``. Standard library
only, so it starts in milliseconds.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

totals = {"acked": 0.0, "nacked": 0.0, "handling_s": 0.0}


def exposition(spec: dict) -> str:  # type: ignore[type-arg]
    for key in totals:
        totals[key] += float(spec.get(key, 0))
    lines = [
        f"process_resident_memory_bytes {spec.get('rss_mb', 40) * 1024 * 1024}",
        f"ssmas_worker_heartbeat_timestamp_seconds {time.time() - spec.get('heartbeat_age_s', 0)}",
        "# TYPE ssmas_bus_acked_total counter",
        f'ssmas_bus_acked_total{{topic="t",group="g"}} {totals["acked"]}',
        "# TYPE ssmas_bus_nacked_total counter",
        f'ssmas_bus_nacked_total{{topic="t",group="g"}} {totals["nacked"]}',
        "# TYPE ssmas_worker_handling_seconds_total counter",
        f'ssmas_worker_handling_seconds_total{{topic="t",group="g"}} {totals["handling_s"]}',
    ]
    for group, messages in spec.get("backlog", {}).items():
        lines.append(f'ssmas_bus_backlog_count{{topic="t",group="{group}"}} {messages}')
        age = spec.get("backlog_age_s", 0)
        lines.append(f'ssmas_bus_backlog_age_seconds{{topic="t",group="{group}"}} {age}')
    return "\n".join(lines) + "\n"


def main() -> None:
    port, spec_path = int(sys.argv[1]), Path(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(json.loads(spec_path.read_text())).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
