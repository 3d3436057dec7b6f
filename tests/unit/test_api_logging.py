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
