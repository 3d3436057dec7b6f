"""``configure_logging``: one JSON object per line, UTC ISO time, context merged, level honoured."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from ssmas.core.logging import configure_logging, get_logger
from ssmas.settings import Settings


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level = saved


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_structlog_and_stdlib_share_one_json_shape() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_level="INFO"), stream=stream)
    log = get_logger("ssmas.test", product="pricing")  # module-level style, before any event
    structlog.contextvars.bind_contextvars(request_id="req-1")
    log.info("model_loaded", version=3)
    logging.getLogger("uvicorn.error").warning("port %s busy", 8000)
    structlog.contextvars.clear_contextvars()

    first, second = lines(stream)
    assert first["event"] == "model_loaded"
    assert first["version"] == 3 and first["product"] == "pricing"
    assert first["request_id"] == "req-1"
    assert first["logger"] == "ssmas.test"
    assert first["level"] == "info"
    assert str(first["timestamp"]).endswith("Z") and "T" in str(first["timestamp"])
    assert second["event"] == "port 8000 busy"
    assert second["logger"] == "uvicorn.error"
    assert second["request_id"] == "req-1"
    assert second["level"] == "warning"


@pytest.mark.usefixtures("restore_logging")
def test_level_filters_and_exceptions_render_in_one_line() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_level="WARNING"), stream=stream)
    log = get_logger("ssmas.test")
    log.info("hidden")
    logging.getLogger("sqlalchemy").info("hidden too")
    try:
        raise KeyError("boom")
    except KeyError:
        log.exception("failed")
    events = lines(stream)
    assert [e["event"] for e in events] == ["failed"]
    assert "KeyError" in str(events[0]["exception"])


@pytest.mark.usefixtures("restore_logging")
def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging(Settings(log_level="CHATTY"), stream=io.StringIO())


@pytest.mark.usefixtures("restore_logging")
def test_a_server_on_a_background_thread_does_not_log_a_second_start() -> None:
    # The demo serves the WhatsApp Graph fake in-process: its uvicorn start-up lines used to
    # repeat the platform server's "Started server process [pid]" (same pid, same logger).
    from ssmas.assistant.whatsapp.graph_fake import start_graph_fake

    stream = io.StringIO()
    configure_logging(Settings(log_level="INFO"), stream=stream)
    fake = start_graph_fake()
    fake.stop()
    events = [str(line["event"]) for line in lines(stream)]
    assert not [e for e in events if "Started server process" in e or "Uvicorn running" in e]
    # Only that thread is quiet, and only while it runs: the platform's own lines still pass.
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
    assert [line["event"] for line in lines(stream)][-1] == "Started server process [1]"
    assert logging.getLogger("uvicorn.error").filters == []


def test_a_dict_with_non_string_keys_is_logged_not_raised() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_level="INFO", log_json=True), stream=stream)
    get_logger("ssmas.test").info("pruned", deleted={("a", 1): 3, 7: "x"})
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "pruned" and line["deleted"] == {"('a', 1)": 3, "7": "x"}


class WriteCalls(io.StringIO):
    """A stream that remembers each ``write`` call, as an unbuffered file would issue them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


@pytest.mark.usefixtures("restore_logging")
def test_each_line_is_one_write_so_processes_sharing_a_file_never_join_lines() -> None:
    """A server and its workers log to one file; ``print`` wrote a line and its newline in two
    calls, and on an unbuffered stream another process's line landed between them (two JSON
    objects on one line, seen in tests/e2e/test_serve.py)."""
    stream = WriteCalls()
    configure_logging(Settings(log_level="INFO", log_json=True), stream=stream)
    get_logger("ssmas.test").info("no_impressions", reason="empty lake")
    get_logger("ssmas.test").warning("shutting_down")
    logging.getLogger("uvicorn.error").warning("Shutting down")
    assert len(stream.calls) == 3
    assert all(call.endswith("\n") and call.count("\n") == 1 for call in stream.calls)
    assert [json.loads(call)["event"] for call in stream.calls] == [
        "no_impressions",
        "shutting_down",
        "Shutting down",
    ]
