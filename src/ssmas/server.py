"""Process entry points: ``serve`` runs the API under uvicorn; ``run_up`` adds background workers
(``ssmas up``: each a process under the self-healing supervisor of ``ssmas.ops.healing``);
``ssmas worker NAME`` runs one product's workers without HTTP.

``create_app_from_env`` is the uvicorn app factory (``uvicorn ssmas.server:create_app_from_env
--factory``): settings from the environment, logging configured, platform built at start-up.
The workers are the products' (``Product.workers`` of ``ssmas.bootstrap.all_products()``): each a
callable ``run(platform, stop)`` that returns soon after the ``threading.Event`` ``stop`` is set.
These entry points, and only they, tune the process (``ssmas.core.tuning``).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import structlog
import typer
from prometheus_client import start_http_server

from ssmas.bootstrap import all_products, create_app, find_product
from ssmas.core.bus.maintenance import BacklogCollector, Janitor
from ssmas.core.leases import LeaseStore
from ssmas.core.logging import configure_logging
from ssmas.core.metrics import REGISTRY
from ssmas.core.platform import Platform, build_platform
from ssmas.core.product import Product, ProductError, WorkerSpec, resolve
from ssmas.core.tuning import freeze_heap
from ssmas.core.worker import HEARTBEAT
from ssmas.settings import (
    PROMETHEUS_MULTIPROC_DIR,
    Settings,
    child_environment,
    export_environment,
    get_settings,
    supervisor_pid,
)

__all__ = [
    "create_app_from_env",
    "product_workers",
    "run_up",
    "serve",
    "serve_app",
    "serve_command",
    "start_workers",
    "up_app",
    "up_command",
    "worker_app",
]

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

WorkerLoop = Callable[[Platform, threading.Event], None]

_log = structlog.get_logger(__name__)
_WORKER_JOIN_S = 10.0
WORKER_CRASHED_EXIT = 70  # EX_SOFTWARE: `ssmas worker` ends with it when one of its loops crashed
WORKER_HEALTHCHECK_S = 120


def create_app_from_env() -> FastAPI:
    """The uvicorn factory: environment settings, JSON logging, the full app."""
    settings = get_settings()
    configure_logging(settings)
    return create_app(settings=settings, tune_process=True)


def _config(app: FastAPI, settings: Settings, host: str | None, port: int | None) -> uvicorn.Config:
    import uvicorn

    from ssmas.core.api.head_guard import server_limits

    # Our request middleware logs each request, so uvicorn's access log stays off. Request
    # heads are bounded in size, header count and time (ssmas.core.api.head_guard).
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
        server_header=False,
        **server_limits(),
    )


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, workers: int = 1
) -> None:
    """Serve the API until interrupted; ``workers > 1`` forks uvicorn worker processes."""
    import uvicorn

    from ssmas.core.api.head_guard import server_limits

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    configure_logging(settings)
    if workers == 1:
        app = create_app(settings=settings, tune_process=True)
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
        # A child answers the parent's health pings only once its imports and start-up are
        # done; on a busy host that takes longer than uvicorn's 5 s, and the child was killed.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        **server_limits(),
    )


def product_workers(products: Sequence[Product], *, demo: bool = False) -> list[tuple[str, str]]:
    """``(label, "module:function")`` of every worker of ``products``, then (``demo=True``)
    their demo scenarios."""
    specs = [(f"{p.name}.{w.name}", w.target) for p in products for w in p.workers]
    if demo:
        specs += [(f"{p.name}.demo", p.demo) for p in products if p.demo is not None]
    return specs


def start_workers(
    platform: Platform,
    stop: threading.Event,
    specs: Sequence[tuple[str, str]],
    *,
    crashed: threading.Event | None = None,
) -> list[threading.Thread]:
    """Start one daemon thread per ``(label, "module:function")`` loop; a crash is logged, not
    raised, and sets ``crashed`` when given."""
    threads = []
    for label, target in specs:
        loop: WorkerLoop = resolve(target)

        def guarded(loop: WorkerLoop = loop, name: str = label) -> None:
            try:
                loop(platform, stop)
            except Exception:
                _log.exception("worker_crashed", worker=name)
                if crashed is not None:
                    crashed.set()

        thread = threading.Thread(target=guarded, name=f"ssmas-{label}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def run_up(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    products: Sequence[Product] | None = None,
    demo: bool = False,
    on_ready: Callable[[Platform], None] | None = None,
    supervise: bool = False,
) -> None:
    """The whole platform: the API plus every product's workers.

    ``products`` defaults to the platform's; ``demo=True`` adds their demo scenarios;
    ``on_ready`` runs once the platform is built, before the server starts (the demo prints its
    login key there). ``supervise=True`` (``ssmas up``) runs each worker as a process of its own
    under the self-healing supervisor (``ssmas.ops.healing``); otherwise, and for the demo
    scenarios always, they are threads of this process.
    """
    import uvicorn

    chosen = all_products() if products is None else products
    configure_logging(settings)
    platform = build_platform(settings)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    previous: dict[signal.Signals, object] = {}
    try:
        app = create_app(platform, products=chosen, tune_process=True)
        server = uvicorn.Server(_config(app, settings, host, port))

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            _log.info("shutdown_signal", signal=signal.Signals(signum).name)
            server.should_exit = True

        # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; this handler receives
        # it, so the workers are stopped and the platform closed instead of dying mid-way.
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        if on_ready is not None:
            on_ready(platform)
        if supervise:
            threads = [start_supervisor(platform, stop, chosen, app.state.load_shed)]
            scenarios = [(f"{p.name}.demo", p.demo) for p in chosen if demo and p.demo]
            threads += start_workers(platform, stop, scenarios)
        else:
            threads = start_workers(platform, stop, product_workers(chosen, demo=demo))
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        stop.set()
        for thread in threads:
            thread.join(_WORKER_JOIN_S)
        platform.close()


def start_supervisor(
    platform: Platform, stop: threading.Event, products: Sequence[Product], shed: Any
) -> threading.Thread:
    """Start ``products``' workers as supervised processes (``ssmas.ops.healing``) with this
    process's settings; the supervisor is attached to ``platform`` for ``GET /ops/healing``
    and stops its children when ``stop`` is set."""
    from ssmas.core.notify import notifier_from_urls
    from ssmas.ops.healing.api import RUNTIME
    from ssmas.ops.healing.journal import journal_for
    from ssmas.ops.healing.supervisor import HealingPolicy, Supervisor, product_units

    settings = platform.settings
    supervisor = Supervisor(
        product_units(products, sys.executable),
        HealingPolicy.from_settings(settings.ops),
        journal=journal_for(platform),
        notifier=notifier_from_urls(settings.ops.heal_alert_urls),
        env=child_environment(settings),
        host=settings.host,
        shed=shed,
    )
    platform.attach(RUNTIME, supervisor)
    return supervisor.start(stop)


HostOption = Annotated[str | None, typer.Option(help="Interface to bind (default: settings).")]
PortOption = Annotated[
    int | None, typer.Option(min=1, max=65535, help="Port to bind (default: settings).")
]


serve_app = typer.Typer(name="serve", help="Serve the HTTP API (uvicorn).", add_completion=False)
up_app = typer.Typer(
    name="up",
    help="Run the API and every background worker, each worker a supervised process.",
    add_completion=False,
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
def up_command(
    host: HostOption = None,
    port: PortOption = None,
    threads: Annotated[
        bool,
        typer.Option(
            "--threads",
            help="Run the workers as threads of this one process, unsupervised (the default "
            "runs each as a process of its own and heals it: docs/ops.md).",
        ),
    ] = False,
) -> None:
    """Run the API and every background worker, each worker a supervised process."""
    run_up(get_settings(), host=host, port=port, supervise=not threads)


worker_app = typer.Typer(
    name="worker", help="Run one product's background workers.", add_completion=False
)


@worker_app.command()
def worker_command(
    product: Annotated[str, typer.Argument(help="The product whose workers to run.")],
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this worker of the product (repeatable)."),
    ] = None,
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="Lower this process's CPU priority by N, so on a shared host the API's "
            "answers get the CPU first and a burst waits in the queue.",
        ),
    ] = 0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port of this process's /metrics (default: SSMAS_WORKER_METRICS_PORT; 0: none).",
        ),
    ] = None,
) -> None:
    """Run one product's background workers until interrupted (no HTTP server)."""
    try:
        chosen = find_product(product)
        specs = [chosen.worker(name) for name in only] if only else list(chosen.workers)
    except ProductError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not specs:
        typer.echo(f"error: {product} has no background workers", err=True)
        raise typer.Exit(2)
    run_workers(get_settings(), chosen, specs, nice=nice, metrics_port=metrics_port)


def serve_worker_metrics(platform: Platform, port: int) -> Any:
    """Serve this worker process's metrics (bus counters, backlog gauges, product metrics) on
    ``port`` of the settings' host; returns the server, or None when the port is taken."""
    REGISTRY.register(BacklogCollector(platform.bus))
    try:
        server, _thread = start_http_server(port, addr=platform.settings.host, registry=REGISTRY)
    except OSError as exc:  # a taken port must not stop the consumers
        _log.warning("worker_metrics_not_served", port=port, error=str(exc))
        return None
    _log.info("worker_metrics_serving", port=server.server_port)
    return server


def run_workers(
    settings: Settings,
    product: Product,
    specs: Sequence[WorkerSpec],
    *,
    nice: int = 0,
    metrics_port: int | None = None,
) -> None:
    """Run ``specs`` of ``product`` on a platform of their own until SIGINT / SIGTERM; serve
    their metrics on ``metrics_port`` (default: the settings'; 0: none) and clean the bus of
    consumers of processes that are gone."""
    if nice:
        os.nice(nice)
    configure_logging(settings)
    platform = build_platform(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _s, _f: stop.set())
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    metrics_server = serve_worker_metrics(platform, port) if port else None
    Janitor(platform.bus, leases=LeaseStore(platform.session_factory)).start(stop)
    labels = [(f"{product.name}.{w.name}", w.target) for w in specs]
    crashed = threading.Event()
    threads = start_workers(platform, stop, labels, crashed=crashed)
    # Everything loaded so far lives as long as the process: keep it out of the collector's
    # view, or each full collection walks it all (ssmas.core.tuning).
    freeze_heap()
    _log.info("workers_started", product=product.name, workers=[w.name for w in specs])
    parent = supervisor_pid()
    try:
        while not stop.is_set() and not crashed.is_set():
            if parent is not None and os.getppid() != parent:
                _log.warning("supervisor_gone", supervisor_pid=parent)
                break  # `ssmas up` died without stopping us: stop rather than run unsupervised
            HEARTBEAT.set_to_current_time()
            stop.wait(0.5)  # a timed wait, so SIGINT / SIGTERM handlers run promptly
    finally:
        stop.set()
        for thread in threads:
            thread.join(_WORKER_JOIN_S)
        if metrics_server is not None:
            metrics_server.shutdown()
        platform.close()
    if crashed.is_set():
        # A process whose loop died must not look alive: it ends, and its supervisor (ssmas up,
        # Kubernetes) starts a new one.
        _log.error("worker_process_exiting", product=product.name, reason="a worker crashed")
        raise SystemExit(WORKER_CRASHED_EXIT)
