"""Conversation context: the last turns of a session, pruned to a token budget with a summary.

The database is the record (``store.recent_turns``); the cache holds each conversation's pruned
window, sealed with the PII cipher, for ``ttl_s`` seconds, so the text pipeline reads context
without a database round trip. A cache miss rebuilds the window from the database.

Reads are on the hot path of every message, so a store also remembers, per conversation, the
sealed bytes it last wrote or opened and what they decoded to. A read whose cache entry is
byte-for-byte the one remembered skips the decryption and the parsing (about 90 % of a read);
any other entry (written by another process, or expired and rebuilt) is opened as usual. That
memo is bounded (``memo_size`` conversations) and lives only in this process's memory, where
the pipeline holds the same windows while it works on them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from ssmas.assistant.store import Turn, recent_turns
from ssmas.assistant.tables import Conversation
from ssmas.core.cache import Cache
from ssmas.core.security import PiiCipher, PiiDecryptError

SUMMARY_LINE_CHARS = 80
SUMMARY_MAX_LINES = 8


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters per token, at least one per word)."""
    return max(len(text.split()), (len(text) + 3) // 4)


def summarize(turns: list[Turn]) -> str:
    """One short line per older turn, newest kept when there are too many (extractive)."""
    lines = []
    for turn in turns:
        label = f"{turn.role} ({turn.intent})" if turn.intent else turn.role
        text = " ".join(turn.text.split())
        if len(text) > SUMMARY_LINE_CHARS:
            text = text[: SUMMARY_LINE_CHARS - 1] + "…"
        lines.append(f"{label}: {text}")
    return "\n".join(lines[-SUMMARY_MAX_LINES:])


def prune(
    turns: list[Turn], budget_tokens: int, *, keep_min: int = 2, summary: str = ""
) -> tuple[str, list[Turn]]:
    """Keep the newest turns that fit ``budget_tokens`` (at least ``keep_min``); fold the rest,
    with any earlier ``summary``, into a new summary."""
    kept: list[Turn] = []
    used = estimate_tokens(summary) if summary else 0
    for turn in reversed(turns):
        cost = estimate_tokens(turn.text)
        if len(kept) >= keep_min and used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    older = turns[: len(turns) - len(kept)]
    if not older:
        return summary, kept
    folded = summarize(older)
    merged = f"{summary}\n{folded}" if summary else folded
    return "\n".join(merged.splitlines()[-SUMMARY_MAX_LINES:]), kept


@dataclass
class ContextWindow:
    """What the pipeline knows of a conversation: state, language, summary, recent turns."""

    conversation_id: int
    session_no: int
    state: str
    language: str | None = None
    summary: str = ""
    turns: list[Turn] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Turns in the session so far that the window still shows (summary lines count)."""
        return len(self.turns) + (len(self.summary.splitlines()) if self.summary else 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "c": self.conversation_id,
            "n": self.session_no,
            "s": self.state,
            "l": self.language,
            "m": self.summary,
            "t": [[t.role, t.text, t.at.isoformat(), t.intent, t.kind] for t in self.turns],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContextWindow:
        turns = [
            Turn(role=r, text=x, at=datetime.fromisoformat(a), intent=i, kind=k)
            for r, x, a, i, k in data["t"]
        ]
        return cls(data["c"], data["n"], data["s"], data["l"], data["m"], turns)


# What a window decoded to, immutable (turns are frozen), so a read can hand out a fresh window.
_Snapshot = tuple[int, int, str, str | None, str, tuple[Turn, ...]]


def _snapshot(window: ContextWindow) -> _Snapshot:
    return (
        window.conversation_id,
        window.session_no,
        window.state,
        window.language,
        window.summary,
        tuple(window.turns),
    )


def _window(snap: _Snapshot) -> ContextWindow:
    return ContextWindow(snap[0], snap[1], snap[2], snap[3], snap[4], list(snap[5]))


class ContextStore:
    """Read and extend conversation windows; the cache first, the database on a miss."""

    def __init__(
        self,
        cache: Cache,
        cipher: PiiCipher,
        *,
        max_turns: int = 10,
        token_budget: int = 600,
        ttl_s: float = 1800.0,
        memo_size: int = 1024,
    ) -> None:
        if memo_size < 0:
            raise ValueError("memo_size must be >= 0")
        self._cache = cache
        self._cipher = cipher
        self.max_turns = max_turns
        self.token_budget = token_budget
        self.ttl_s = ttl_s
        self.memo_size = memo_size
        # conversation id -> (sealed bytes, what they decode to); insertion order = age
        self._memo: dict[int, tuple[bytes, _Snapshot]] = {}
        self._memo_lock = threading.Lock()

    @staticmethod
    def key(conversation_id: int) -> str:
        return f"assistant:ctx:{conversation_id}"

    def cached(self, conversation_id: int) -> ContextWindow | None:
        """The cached window, or None on a miss (or an entry this key cannot open).

        Every call returns a new ``ContextWindow``: callers may change it freely."""
        raw = self._cache.get(self.key(conversation_id))
        if raw is None:
            self._forget_memo(conversation_id)
            return None
        memo = self._memo.get(conversation_id)
        if memo is not None and (memo[0] is raw or memo[0] == raw):
            return _window(memo[1])
        try:
            plain = self._cipher.decrypt(raw.decode("ascii"))
            window = ContextWindow.from_json(orjson.loads(plain))
        except (PiiDecryptError, ValueError, KeyError, TypeError):
            return None
        if window.conversation_id != conversation_id:
            return None
        self._remember(raw, window)
        return window

    def load(self, session: Session, conversation: Conversation) -> ContextWindow:
        """The window of ``conversation``'s current session: cached, else rebuilt and cached."""
        window = self.cached(conversation.id)
        if window is not None and window.session_no == conversation.session_no:
            window.state = conversation.state
            return window
        turns = recent_turns(session, self._cipher, conversation, self.max_turns * 2)
        window = ContextWindow(
            conversation.id, conversation.session_no, conversation.state, conversation.language
        )
        self._fit(window, turns)
        self.save(window)
        return window

    def extend(self, window: ContextWindow, *turns: Turn) -> ContextWindow:
        """Append turns, prune to the budget and the turn limit, and write the window back."""
        self._fit(window, [*window.turns, *turns])
        self.save(window)
        return window

    def _fit(self, window: ContextWindow, turns: list[Turn]) -> None:
        if len(turns) > self.max_turns:
            overflow = turns[: len(turns) - self.max_turns]
            window.summary, _ = prune(overflow, 0, keep_min=0, summary=window.summary)
            turns = turns[len(overflow) :]
        window.summary, window.turns = prune(turns, self.token_budget, summary=window.summary)

    def save(self, window: ContextWindow) -> None:
        sealed = self._cipher.encrypt(orjson.dumps(window.to_json()).decode("utf-8")).encode()
        self._cache.set(self.key(window.conversation_id), sealed, self.ttl_s)
        self._remember(sealed, window)

    def forget(self, conversation_id: int) -> None:
        self._forget_memo(conversation_id)
        self._cache.delete(self.key(conversation_id))

    def _remember(self, sealed: bytes, window: ContextWindow) -> None:
        if self.memo_size == 0:
            return
        with self._memo_lock:
            self._memo.pop(window.conversation_id, None)
            self._memo[window.conversation_id] = (sealed, _snapshot(window))
            while len(self._memo) > self.memo_size:
                del self._memo[next(iter(self._memo))]

    def _forget_memo(self, conversation_id: int) -> None:
        with self._memo_lock:
            self._memo.pop(conversation_id, None)
