"""PII key rotation under traffic (issue 18): no failed request, nothing left under the old key.

The drill of ``tests/pii_rotation_support.py``: a data directory with conversations, messages
and campaign leads encrypted under key 1; ``ssmas serve`` in its own process; three client
threads reading conversations (each answer's decrypted name and texts checked) and queueing
agent replies (new ciphertexts) throughout; meanwhile a new key is added, every PII column is
re-encrypted in batches (final pass after the ring refresh interval), key 1 is retired, and the
traffic goes on 1.5 s more with key 1 gone.

- ``key_rotation_rows``: PII ciphertexts in the database when the rotation starts;
- ``key_rotation_rewritten``: ciphertexts re-encrypted (the seeded ones plus replies the server
  wrote under key 1 before it re-read the ring);
- ``key_rotation_s``: from adding the key to the end of the final pass (it includes the wait
  of twice the refresh interval);
- ``key_rotation_requests``, ``key_rotation_failed_requests``: requests served during the whole
  drill and how many failed (any status but the expected one, a wrong decrypted value, an error);
- ``key_rotation_left_under_old_key``: ciphertexts under any key but the new one afterwards;
- ``key_rotation_late_rewritten``: rows written under key 1 but committed after the final pass,
  which ``retire`` refused for until one more pass re-encrypted them (0 on a quiet machine).

    .venv/bin/python benchmarks/ops_security.py [--quick] [--conversations N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._report import merge_figures, write_result  # noqa: E402

NAME = "ops_security"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small data set")
    parser.add_argument("--conversations", type=int, default=5_000)
    parser.add_argument("--messages", type=int, default=4, help="messages per conversation")
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    conversations = 200 if args.quick else args.conversations
    leads = 500 if args.quick else args.leads

    from rich.console import Console
    from tests.pii_rotation_support import REFRESH_S, run_drill

    console = Console()
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory() as tmp,
        console.status("key rotation drill: seeding, serving, rotating under traffic"),
    ):
        result = run_drill(
            Path(tmp) / "data",
            conversations=conversations,
            messages_per=args.messages,
            leads=leads,
        )
    load_after = os.getloadavg()[0]
    left = sum(n for key, n in result.usage_after.items() if key != max(result.usage_after))
    figures = {
        "key_rotation_rows": result.rows,
        "key_rotation_rewritten": result.rewritten,
        "key_rotation_s": round(result.rotation_s, 2),
        "key_rotation_requests": result.requests,
        "key_rotation_requests_during": result.reads_during,
        "key_rotation_failed_requests": result.failed,
        "key_rotation_left_under_old_key": left,
        "key_rotation_late_rewritten": result.late,
        "key_rotation_refresh_s": REFRESH_S,
        "key_rotation_loadavg": [round(load_before, 2), round(load_after, 2)],
    }
    for name, value in figures.items():
        console.print(f"{name:36} {value}")
    if result.failures or left:
        print(f"failed requests: {result.failures}; left under old keys: {left}", file=sys.stderr)
    notes = (
        f"{conversations:,} conversations x {args.messages} messages and {leads:,} leads "
        f"(phones, names, texts, attributes) re-encrypted while ssmas serve answered three "
        f"client threads; ring refresh {REFRESH_S} s; 2-core machine shared with other "
        f"sessions, load average {load_before:.2f} before and {load_after:.2f} after"
    )
    write_result(NAME, figures, notes, quick=args.quick)
    if not args.quick:
        merge_figures("ops", figures, "benchmarks/ops_security.py")
    return 0 if result.failed == 0 and left == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
