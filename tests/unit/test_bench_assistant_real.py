"""The real-brain benchmark's parts (``benchmarks/assistant.py``): the customers' stream keeps
its mix and its form answers go to the opener's customer; the sustained figures count replies
in the steady window only and call a backlog growing by its slope, not by its last value."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "assistant.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_assistant", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_assistant"] = module
    spec.loader.exec_module(module)
    return module


def test_real_stream_mixes_kinds_and_sends_form_answers_from_the_opener(bench: ModuleType) -> None:
    messages = [bench.real_message(i) for i in range(2000)]
    kinds = [kind for kind, _, _ in messages]
    assert set(kinds) == set(bench.REAL_MIX)
    assert kinds.count("kb") == 600 and kinds.count("escalate") == 100
    for i, (kind, text, sender) in enumerate(messages):
        if kind == "answer":
            assert sender == i - bench.FOLLOW_UP_LAG
            assert messages[sender][0] == "form"
            assert len(text.split()) <= 2
        else:
            assert sender == i
    texts = [text for _, text, _ in messages]
    assert len(set(texts)) > 0.3 * len(texts)
    assert any("¿" in t for t in texts) and any(t.startswith("What") for t in texts)
    assert bench.real_message(17) == bench.real_message(17)  # deterministic


def test_slope_of_a_line_and_of_too_few_points(bench: ModuleType) -> None:
    assert bench._slope([(0.0, 10), (2.0, 30), (4.0, 50)]) == pytest.approx(10.0)
    assert bench._slope([(0.0, 10)]) is None
    assert bench._slope([(1.0, 10), (1.0, 20)]) is None


def _run(backlogs: list[int], replies_at: list[float]) -> dict[str, object]:
    start = 1000.0
    replies = {f"wamid.rb-load.{i:07d}": [start + t] for i, t in enumerate(replies_at)}
    results = [[mid, start, 0.002, 200] for mid in replies]
    return {
        "start": start,
        "replies": replies,
        "samples": [(10.0 * n, b, 3.0) for n, b in enumerate(backlogs)],
        "accepted": {mid: start for mid in replies},
        "raw": {"results": results, "elapsed_s": 100.0},
        "stored": len(replies),
        "complete": True,
        "drain_s": 1.0,
    }


def test_sustained_figures_use_the_steady_window_and_the_slope(bench: ModuleType) -> None:
    args = argparse.Namespace(duration=100.0, rate=500.0)
    # 10 s warm-up excluded: 90 replies in [10, 100), 5 before, 5 after the offered load
    at = [1.0] * 5 + [10.0 + n for n in range(90)] + [101.0] * 5
    flat = bench._sustained_figures(_run([0, 40, 35, 42, 38, 41, 39, 40, 37, 41, 40], at), args)
    assert flat["real_reply_rate_per_s"] == 1.0
    assert flat["real_backlog_growing"] is False
    assert flat["real_backlog_start"] == 40 and flat["real_backlog_end"] == 40
    assert flat["real_lost"] == 0 and flat["real_duplicated"] == 0
    growing = bench._sustained_figures(_run([0, 500, 1000, 1500, 2000, 2600], at), args)
    assert growing["real_backlog_growing"] is True
    assert growing["real_backlog_slope_per_s"] == pytest.approx(52.0, rel=0.05)


def test_why_unanswered_says_where_each_message_stopped(bench: ModuleType, tmp_path: Path) -> None:
    """One joined query per chunk: a message with a reply row in some state, one with none,
    one never stored; read from a real data directory (schema by migrations)."""
    from datetime import UTC, datetime

    from ssmas.assistant.tables import ChatMessage, Conversation
    from ssmas.core.db import UnitOfWork
    from ssmas.core.platform import build_platform
    from ssmas.settings import Settings

    platform = build_platform(Settings(data_dir=tmp_path / "data"))
    now = datetime.now(UTC)
    try:
        with UnitOfWork(platform.session_factory) as uow:

            def stored(row: Any) -> Any:
                uow.session.add(row)
                uow.session.flush()  # its id, for the rows that point at it
                return row

            conversation = stored(
                Conversation(
                    business_id="b",
                    phone_index="i",
                    phone_enc="e",
                    last_activity_at=now,
                    created_at=now,
                )
            )

            def message(wa_id: str | None, direction: str, state: str, **kw: object) -> ChatMessage:
                return stored(
                    ChatMessage(
                        conversation_id=conversation.id,
                        wa_id=wa_id,
                        direction=direction,
                        author="customer" if direction == "in" else "bot",
                        kind="text",
                        body_enc="x",
                        state=state,
                        created_at=now,
                        **kw,
                    )
                )

            answered = message("wamid.a", "in", "done", intent="thank")
            message(None, "out", "failed", reply_to_id=answered.id)
            message("wamid.b", "in", "received")
            uow.commit()
    finally:
        platform.close()
    ids = ["wamid.a", "wamid.b", "wamid.c"] + [f"wamid.z{i}" for i in range(600)]
    why = bench._why_unanswered(tmp_path / "data", ids)
    assert why["where"] == {
        "reply_failed_text (in done, intent thank, conversation bot)": 1,
        "no_reply_row (in received, intent None, conversation bot)": 1,
        "not_stored": 601,
    }
    assert why["examples"]["not_stored"] == ["wamid.c", "wamid.z0", "wamid.z1"]
    assert why["dead_letters"] == {} and why["backlog"] == {}
