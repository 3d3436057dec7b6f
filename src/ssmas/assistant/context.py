"""Conversation context: the last turns of a session, pruned to a token budget with a summary.

The database is the record (``store.recent_turns``); the cache holds each conversation's pruned
window, sealed with the PII cipher, for ``ttl_s`` seconds, so the text pipeline reads context
without a database round trip. A cache miss rebuilds the window from the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    ) -> None:
        self._cache = cache
        self._cipher = cipher
        self.max_turns = max_turns
        self.token_budget = token_budget
        self.ttl_s = ttl_s

    @staticmethod
    def key(conversation_id: int) -> str:
        return f"assistant:ctx:{conversation_id}"

    def cached(self, conversation_id: int) -> ContextWindow | None:
        """The cached window, or None on a miss (or an entry this key cannot open)."""
        raw = self._cache.get(self.key(conversation_id))
        if raw is None:
            return None
        try:
            return ContextWindow.from_json(json.loads(self._cipher.decrypt(raw.decode("ascii"))))
        except (PiiDecryptError, ValueError, KeyError, TypeError):
            return None

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
        blob = json.dumps(window.to_json(), separators=(",", ":"), ensure_ascii=False)
        self._cache.set(
            self.key(window.conversation_id), self._cipher.encrypt(blob).encode(), self.ttl_s
        )

    def forget(self, conversation_id: int) -> None:
        self._cache.delete(self.key(conversation_id))
