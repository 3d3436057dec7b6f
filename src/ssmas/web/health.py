"""The platform page's readiness report: the same checks as ``/ready``, shaped for a template.

Each check from ``Platform.readiness_checks()`` (db, bus, cache, then any product's) runs in a
worker thread with a timeout; a failure is reported with its exception type and first line of
message, never raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ssmas.core.platform import Platform

CHECK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class CheckResult:
    """One readiness check: its name, outcome, and a short human detail."""

    name: str
    ok: bool
    detail: str
    ms: float


@dataclass(frozen=True)
class HealthReport:
    """All checks at one moment; ``ready`` when every one passed."""

    checks: list[CheckResult]
    checked_at: str

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)


async def _run(name: str, check: Callable[[], object], timeout_s: float) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.to_thread(check), timeout_s)
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout_s:g} s"
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        ok, detail = False, f"{type(exc).__name__}: {first_line}"[:200]
    else:
        ok, detail = True, ""
    ms = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult(name=name, ok=ok, detail=detail or f"answered in {ms:g} ms", ms=ms)


async def check_health(platform: Platform, *, timeout_s: float = CHECK_TIMEOUT_S) -> HealthReport:
    """Run every readiness check of ``platform`` concurrently."""
    checks = platform.readiness_checks()
    results = await asyncio.gather(*(_run(n, c, timeout_s) for n, c in checks.items()))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return HealthReport(checks=list(results), checked_at=stamp)
