"""A local Prometheus + Alertmanager pair pointed at a running platform.

``ssmas ops stack``, the integration test and ``benchmarks/ops.py`` all start the two Debian
binaries through :class:`AlertStack`: it writes ``prometheus.yml`` (one scrape job per target,
the platform's rule files, Alertmanager as the alert destination) into a work directory, starts
``prometheus`` and ``alertmanager`` on loopback ports with storage in that directory, waits for
both to answer ``/-/ready`` and stops them (SIGTERM, then SIGKILL) on exit. Alertmanager runs
without clustering, so several stacks can run on one host.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import yaml

__all__ = [
    "ALERTMANAGER_BINARIES",
    "PROMETHEUS_BINARIES",
    "AlertStack",
    "StackError",
    "StackSettings",
    "find_binary",
    "free_port",
    "prometheus_config",
]

PROMETHEUS_BINARIES = ("prometheus",)
# Debian names the binary prometheus-alertmanager; upstream tarballs call it alertmanager.
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
READY_TIMEOUT_S = 30.0


class StackError(RuntimeError):
    """The stack cannot start: a binary is missing, a file is unreadable or a process died."""


def find_binary(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` found on ``PATH``, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackSettings:
    """What the stack watches and how fast: ``targets`` are ``host:port`` of platform processes."""

    targets: list[str]
    rule_files: list[Path]
    alertmanager_config: Path
    workdir: Path
    job: str = "ssmas-api"
    scrape_interval_s: float = 15.0
    evaluation_interval_s: float = 15.0
    prometheus_port: int = 0
    alertmanager_port: int = 0
    extra_scrape_jobs: dict[str, list[str]] = field(default_factory=dict)


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def prometheus_config(settings: StackSettings, alertmanager_address: str) -> dict[str, object]:
    """The ``prometheus.yml`` document for ``settings``."""
    jobs = {settings.job: settings.targets, **settings.extra_scrape_jobs}
    return {
        "global": {
            "scrape_interval": _duration(settings.scrape_interval_s),
            "scrape_timeout": _duration(min(settings.scrape_interval_s, 10.0)),
            "evaluation_interval": _duration(settings.evaluation_interval_s),
        },
        "rule_files": [str(p.resolve()) for p in settings.rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_address]}]}]},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(targets)}]}
            for job, targets in jobs.items()
        ],
    }


class AlertStack:
    """``with AlertStack(settings) as stack:`` runs Prometheus and Alertmanager until exit."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        prometheus = find_binary(PROMETHEUS_BINARIES)
        alertmanager = find_binary(ALERTMANAGER_BINARIES)
        missing = [
            name
            for name, path in (("prometheus", prometheus), ("alertmanager", alertmanager))
            if path is None
        ]
        if missing:
            raise StackError(
                f"{' and '.join(missing)} not installed "
                "(Debian: apt-get install prometheus prometheus-alertmanager)"
            )
        assert prometheus is not None and alertmanager is not None
        self._binaries = {"prometheus": prometheus, "alertmanager": alertmanager}
        for path in [*settings.rule_files, settings.alertmanager_config]:
            if not path.is_file():
                raise StackError(f"{path} does not exist")
        self.prometheus_port = settings.prometheus_port or free_port()
        self.alertmanager_port = settings.alertmanager_port or free_port()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self) -> AlertStack:
        """Write the configuration, start both processes and wait until both are ready."""
        work = self.settings.workdir
        work.mkdir(parents=True, exist_ok=True)
        config = work / "prometheus.yml"
        address = f"127.0.0.1:{self.alertmanager_port}"
        config.write_text(yaml.safe_dump(prometheus_config(self.settings, address)))
        self._spawn(
            "alertmanager",
            [
                f"--config.file={self.settings.alertmanager_config.resolve()}",
                f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address={address}",
                "--cluster.listen-address=",
            ],
        )
        self._spawn(
            "prometheus",
            [
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            ],
        )
        try:
            self._wait_ready("alertmanager", self.alertmanager_url)
            self._wait_ready("prometheus", self.prometheus_url)
        except StackError:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.settings.workdir / f"{name}.log").open("wb")
        self._processes[name] = subprocess.Popen(
            [self._binaries[name], *args], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def _wait_ready(self, name: str, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        process = self._processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"{name} exited with code {process.returncode}: {self.log(name)}")
            with contextlib.suppress(httpx.HTTPError):  # not listening yet
                if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise StackError(f"{name} not ready within {READY_TIMEOUT_S:g} s: {self.log(name)}")

    def log(self, name: str, lines: int = 2) -> str:
        """The last ``lines`` error lines of a process's log (else its last lines), on one line."""
        path = self.settings.workdir / f"{name}.log"
        if not path.exists():
            return ""
        every = path.read_text(errors="replace").strip().splitlines()
        errors = [line for line in every if "level=error" in line]
        return " | ".join((errors or every)[-lines:])

    def running(self) -> bool:
        """Both processes are alive."""
        return bool(self._processes) and all(p.poll() is None for p in self._processes.values())

    def stop(self) -> None:
        """Stop both processes: SIGTERM, then SIGKILL after 10 s."""
        for process in self._processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()

    def __enter__(self) -> AlertStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
