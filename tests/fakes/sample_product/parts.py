"""The sample product's parts: a router, a page, a runtime, a worker, a CLI and a demo loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import typer
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ssmas.core.api import ApiKeyDep, PlatformDep
from ssmas.core.platform import Platform

RUNTIME = "sample"


@dataclass
class SampleRuntime:
    """The sample's per-process state, attached to the platform when the app starts."""

    greeting: str
    events: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.events.append("closed")


router = APIRouter(prefix="/v1/sample")
pages = APIRouter(include_in_schema=False)


@router.get("/hello")
async def hello(platform: PlatformDep, _key: ApiKeyDep) -> dict[str, str]:
    runtime = platform.runtime(RUNTIME, SampleRuntime)
    return {"greeting": runtime.greeting if runtime else "no runtime"}


@pages.get("/dashboard/sample/overview")
async def page(request: Request) -> HTMLResponse:
    return HTMLResponse("<h1>Sample</h1>")


def start(platform: Platform) -> Callable[[], None]:
    runtime = SampleRuntime(greeting=f"hello from {platform.settings.data_dir.name}")
    runtime.events.append("started")
    platform.attach(RUNTIME, runtime)
    platform.checks["sample"] = lambda: None
    return lambda: runtime.events.append("stopped")


def _mark(platform: Platform, name: str, stop: threading.Event) -> None:
    marks = Path(platform.settings.data_dir) / f"{name}.marks"
    marks.write_text("started\n")
    stop.wait()
    with marks.open("a") as f:
        f.write("stopped\n")


def run_marker(platform: Platform, stop: threading.Event) -> None:
    _mark(platform, "sample-worker", stop)


def run_demo(platform: Platform, stop: threading.Event) -> None:
    _mark(platform, "sample-demo", stop)


sample_app = typer.Typer(help="The sample product's commands.", no_args_is_help=True)


@sample_app.command()
def greet(name: str = typer.Argument("world")) -> None:
    """Print a greeting."""
    typer.echo(f"sample greets {name}")


@sample_app.command()
def shout(name: str = typer.Argument("world")) -> None:
    """Print a loud greeting (a second command keeps this a group)."""
    typer.echo(f"SAMPLE GREETS {name.upper()}")
