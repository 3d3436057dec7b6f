"""Key revocations announced on the bus, so every process forgets a revoked key at once.

API processes remember verified keys for a while (``ssmas.core.api.auth.KeyVerifier``); without
word from outside, a key revoked elsewhere would keep working there until that memory expires.
Whoever revokes a key publishes :class:`KeyRevoked` on :data:`TOPIC` after committing, and each
API process runs a :class:`RevocationListener` that tails the topic and drops the key from its
cache. The listener reads with ``Bus.replay`` (no consumer group): every process must see every
announcement, and a process leaves nothing behind in the bus when it goes away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ssmas.core.bus.base import Bus, BusError
from ssmas.core.db.base import utcnow

TOPIC = "core.api_key_revoked"
DEFAULT_POLL_S = 0.1
# Announcements published up to this long before a listener starts are still applied: forgetting
# a key twice is harmless, and it covers clocks that disagree a little between hosts.
LOOKBACK = timedelta(seconds=30)
_BATCH = 500
_log = structlog.get_logger(__name__)


class KeyRevoked(BaseModel):
    """An API key was revoked (the database already says so when this is published)."""

    model_config = ConfigDict(frozen=True)

    prefix: str = Field(min_length=1, max_length=64)
    revoked_at: AwareDatetime


def announce_revocation(bus: Bus, prefix: str, *, now: datetime | None = None) -> str:
    """Publish that the key ``prefix`` was revoked; the message id."""
    event = KeyRevoked(prefix=prefix, revoked_at=now or utcnow())
    return bus.publish(TOPIC, event.model_dump(mode="json"))


class RevocationListener:
    """Calls ``on_revoked(prefix)`` for each revocation announced after it started.

    :meth:`poll` reads what is new (a test or a caller's own loop can call it);
    :meth:`start` runs it every ``poll_s`` seconds on a daemon thread until :meth:`close`.
    A bus error is logged and the next poll tries again; nothing is skipped by it.
    """

    def __init__(
        self,
        bus: Bus,
        on_revoked: Callable[[str], object],
        *,
        poll_s: float = DEFAULT_POLL_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._bus = bus
        self._on_revoked = on_revoked
        self._poll_s = poll_s
        self._since = clock() - LOOKBACK
        self._next_offset = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Apply every announcement not seen yet; how many were applied."""
        applied = 0
        while True:
            messages = self._bus.replay(
                TOPIC, since=self._since, from_offset=self._next_offset, limit=_BATCH
            )
            for message in messages:
                self._next_offset = message.offset + 1
                prefix = message.payload.get("prefix")
                if isinstance(prefix, str) and prefix:
                    self._on_revoked(prefix)
                    applied += 1
            if len(messages) < _BATCH:
                return applied

    def start(self) -> RevocationListener:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ssmas-key-revocations", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                if self.poll():
                    _log.info("api_key_revocations_applied")
            except BusError as exc:
                _log.warning("api_key_revocations_unreadable", error=type(exc).__name__)
            except Exception as exc:  # a dead listener would let revoked keys live: keep going
                _log.warning("api_key_revocations_failed", error=type(exc).__name__)

    def close(self) -> None:
        """Stop the thread (waits for the poll under way)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
