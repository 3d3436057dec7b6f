"""Process entry points: ``serve`` runs the API under uvicorn; ``run_up`` adds background workers.

``create_app_from_env`` is the uvicorn app factory (``uvicorn ssmas.server:create_app_from_env
--factory``): settings from the environment, logging configured, platform built at start-up.
Products register background loops in ``WORKERS`` as ``(module, attribute)`` naming a callable
``run(platform, stop)`` that returns soon after the ``threading.Event`` ``stop`` is set.
"""

from __future__ import annotations

import importlib
import shutil
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Annotated

import structlog
import typer
import uvicorn
from fastapi import FastAPI

from ssmas.bootstrap import Platform, build_platform
from ssmas.core.api import create_app
from ssmas.core.logging import configure_logging
from ssmas.settings import PROMETHEUS_MULTIPROC_DIR, Settings, export_environment, get_settings

__all__ = [
    "WORKERS",
    "create_app_from_env",
    "run_up",
    "serve",
    "serve_app",
    "serve_command",
    "start_workers",
    "up_app",
    "up_command",
    "worker_app",
]

WorkerLoop = Callable[[Platform, threading.Event], None]

# (module, attribute) of each product's background loop, started by `ssmas up`.
WORKERS: list[tuple[str, str]] = [
    ("ssmas.assistant.workers", "run"),
    ("ssmas.pricing.retrain", "run_retrain_loop"),
]

_log = structlog.get_logger(__name__)
_WORKER_JOIN_S = 10.0


def create_app_from_env() -> FastAPI:
    """The uvicorn factory: environment settings, JSON logging, the full app."""
    settings = get_settings()
    configure_logging(settings)
    return create_app(settings=settings, freeze_gc=True)


def _config(app: FastAPI, settings: Settings, host: str | None, port: int | None) -> uvicorn.Config:
    # Our request middleware logs each request, so uvicorn's access log stays off.
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, workers: int = 1
) -> None:
    """Serve the API until interrupted; ``workers > 1`` forks uvicorn worker processes."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    configure_logging(settings)
    if workers == 1:
        app = create_app(settings=settings, freeze_gc=True)
        uvicorn.Server(_config(app, settings, host, port)).run()
        return
    # Worker processes share counters through files (prometheus_client multiprocess mode).
    metrics_dir = settings.data_dir.resolve() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    export_environment(settings, {PROMETHEUS_MULTIPROC_DIR: str(metrics_dir)})
    uvicorn.run(
        "ssmas.server:create_app_from_env",
        factory=True,
        workers=workers,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


def start_workers(
    platform: Platform, stop: threading.Event, specs: Sequence[tuple[str, str]]
) -> list[threading.Thread]:
    """Start one daemon thread per ``(module, attribute)`` loop; a crash is logged, not raised."""
    threads = []
    for module_name, attribute in specs:
        loop: WorkerLoop = getattr(importlib.import_module(module_name), attribute)

        def guarded(loop: WorkerLoop = loop, name: str = f"{module_name}.{attribute}") -> None:
            try:
                loop(platform, stop)
            except Exception:
                _log.exception("worker_crashed", worker=name)

        thread = threading.Thread(target=guarded, name=f"ssmas-{attribute}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def run_up(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    extra_workers: Sequence[tuple[str, str]] = (),
    on_ready: Callable[[Platform], None] | None = None,
) -> None:
    """The whole platform in one process: the API plus every registered ``WORKERS`` loop.

    ``extra_workers`` adds loops for this run only (the demo's scenarios); ``on_ready`` runs
    once the platform is built, before the server starts (the demo prints its login key there).
    """
    configure_logging(settings)
    platform = build_platform(settings)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    previous: dict[signal.Signals, object] = {}
    try:
        server = uvicorn.Server(_config(create_app(platform, freeze_gc=True), settings, host, port))

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            _log.info("shutdown_signal", signal=signal.Signals(signum).name)
            server.should_exit = True

        # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; this handler receives
        # it, so the workers are stopped and the platform closed instead of dying mid-way.
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        if on_ready is not None:
            on_ready(platform)
        threads = start_workers(platform, stop, [*WORKERS, *extra_workers])
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        stop.set()
        for thread in threads:
            thread.join(_WORKER_JOIN_S)
        platform.close()


HostOption = Annotated[str | None, typer.Option(help="Interface to bind (default: settings).")]
PortOption = Annotated[
    int | None, typer.Option(min=1, max=65535, help="Port to bind (default: settings).")
]


serve_app = typer.Typer(name="serve", help="Serve the HTTP API (uvicorn).", add_completion=False)
up_app = typer.Typer(
    name="up", help="Run the API and every background worker in one process.", add_completion=False
)


@serve_app.callback(invoke_without_command=True)
def serve_command(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (uvicorn)."""
    serve(get_settings(), host=host, port=port, workers=workers)


@up_app.callback(invoke_without_command=True)
def up_command(host: HostOption = None, port: PortOption = None) -> None:
    """Run the API and every background worker in one process."""
    run_up(get_settings(), host=host, port=port)


worker_app = typer.Typer(
    name="worker", help="Run one product's background workers.", add_completion=False
)


def product_workers(product: str) -> list[tuple[str, str]]:
    """The ``WORKERS`` entries that belong to ``product`` (by module path)."""
    return [spec for spec in WORKERS if spec[0].split(".")[1:2] == [product]]


@worker_app.callback(invoke_without_command=True)
def worker_command(
    product: Annotated[str, typer.Argument(help="pricing, adops, assistant, campaigns or ops.")],
) -> None:
    """Run one product's background workers until interrupted (no HTTP server)."""
    specs = product_workers(product)
    if not specs:
        known = sorted({spec[0].split(".")[1] for spec in WORKERS})
        typer.echo(
            f"error: no workers registered for {product!r} (known: {', '.join(known) or 'none'})",
            err=True,
        )
        raise typer.Exit(2)
    settings = get_settings()
    configure_logging(settings)
    platform = build_platform(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: stop.set())
    threads = start_workers(platform, stop, specs)
    try:
        while not stop.is_set():
            stop.wait(0.5)  # a timed wait, so SIGINT / SIGTERM handlers run promptly
    finally:
        stop.set()
        for thread in threads:
            thread.join(_WORKER_JOIN_S)
        platform.close()
