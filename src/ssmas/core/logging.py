"""Structured logging: one JSON event per line on stderr, ISO UTC timestamps, context merged.

``configure_logging`` sets up structlog and routes the standard library's loggers (uvicorn,
SQLAlchemy, alembic) through the same renderer, so every line of a process has one shape.
Context bound with ``structlog.contextvars`` (request ids, message ids, incident ids) is merged
into every event. Request bodies and personal data are never passed to a logger.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

import orjson
import structlog
from structlog.typing import Processor

from ssmas.settings import Settings

__all__ = ["configure_logging", "get_logger", "logs_to_stderr"]

_NOISY_LOGGERS = ("uvicorn.access", "httpx", "httpcore")


class _NamedPrintLogger(structlog.PrintLogger):
    """A print logger that remembers the name it was asked for (``get_logger(__name__)``)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name

    def msg(self, message: str) -> None:
        """The line and its newline in one ``write``: ``print`` writes them apart, and on an
        unbuffered stream a process sharing the file (a server and its workers logging to one
        file) could land its own line between the two, joining two JSON lines into one."""
        target = sys.stdout if self._file is sys.__stdout__ else self._file  # as print does
        with self._lock:
            target.write(message + "\n")
            target.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write, not at configuration: a
    test runner (or a CLI harness) that swaps stderr and closes its copy later must not leave
    the loggers writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def logs_to_stderr() -> None:
    """Send structlog's lines to stderr (the stderr of the moment), changing nothing else: for
    commands whose stdout carries data (JSON) and that would rather not reconfigure logging."""
    structlog.configure(logger_factory=_NamedPrintLoggerFactory(cast(TextIO, _CurrentStderr())))


class _NamedPrintLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedPrintLogger:
        return _NamedPrintLogger(self._file, str(args[0]) if args else "ssmas")


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _orjson_text(event: Any, **_: Any) -> str:
    # orjson is several times faster than json.dumps; default=str keeps odd values loggable.
    try:
        return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # a key orjson can't turn into a string (a tuple): a log never raises
        return orjson.dumps(_str_keys(event), default=str).decode()


def _str_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_str_keys(v) for v in value]
    return value


def _renderer(json_lines: bool) -> Processor:
    if json_lines:
        return structlog.processors.JSONRenderer(serializer=_orjson_text)
    return structlog.dev.ConsoleRenderer(colors=False)


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging from ``settings.log_level`` / ``settings.log_json``.

    Safe to call more than once (the last call wins); ``stream`` defaults to stderr.
    """
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {settings.log_level!r}")
    out = stream if stream is not None else cast(TextIO, _CurrentStderr())
    renderer = _renderer(settings.log_json)
    shared = _shared_processors()

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_NamedPrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn installs its own handlers when given a log config, and a dictConfig run
        # earlier in the process (uvicorn's, alembic's fileConfig) may have disabled or
        # re-levelled these loggers: ours take over instead.
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
        named.disabled = False
        named.setLevel(logging.NOTSET)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger, optionally with bound values (``get_logger(__name__, product="x")``)."""
    # Values stay on the lazy proxy, so a module-level logger follows later configuration.
    return structlog.get_logger(name, **initial) if name else structlog.get_logger(**initial)
