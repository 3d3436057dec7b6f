"""``ssmas demo``: the whole platform on the embedded default, with every product's scenario.

The demo creates (once) an API key with every scope, keeps it in ``<data_dir>/demo_api_key``
so the dashboard login stays the same across runs, prints it, then runs ``ssmas up`` with every
product's demo scenario (``Product.demo``): the live exchange, pricing (a first model, then
dynamic floors on the live exchange's auctions against an unfloored control share), the
assistant's simulated customers and a campaign sent through the local fake SMS provider.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.panel import Panel

from ssmas.bootstrap import all_products
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key, verify_api_key
from ssmas.core.security.secret_file import secret_path
from ssmas.server import run_up
from ssmas.settings import Settings, get_settings

__all__ = ["demo_app", "ensure_demo_key"]

_console = Console()


def _key_path(settings: Settings) -> Path:
    return settings.data_dir / "demo_api_key"


def ensure_demo_key(platform: Platform) -> str:
    """Return the demo's API key, creating and storing it on the first run."""
    path = _key_path(platform.settings)
    if path.exists():
        raw = path.read_text().strip()
        with platform.uow() as uow:
            if verify_api_key(uow.session, raw) is not None:
                return raw
    with platform.uow() as uow:
        raw, _record = create_api_key(uow.session, "demo", ["*"])
        uow.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(raw + "\n")
    os.chmod(path, 0o600)
    return raw


def secret_warning(settings: Settings) -> str | None:
    """One line for a demo run without ``SSMAS_SECRET_KEY`` (None when it is set)."""
    if settings.secret_key:
        return None
    return (
        f"warning: SSMAS_SECRET_KEY is not set; sessions are signed with the random secret in "
        f"{secret_path(settings)} (set SSMAS_SECRET_KEY for anything but a local demo)"
    )


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def move_graph_fake(settings: Settings, bind_port: int) -> Settings:
    """Settings whose local WhatsApp Graph API fake (served by the assistant's scenario) is not
    on the dashboard's port; the fake's default, 8765, moves to a free port when they clash."""
    graph = urlparse(settings.whatsapp.graph_url)
    if graph.hostname not in ("127.0.0.1", "localhost") or graph.port != bind_port:
        return settings
    url = graph._replace(netloc=f"{graph.hostname}:{_free_port(graph.hostname)}").geturl()
    whatsapp = settings.whatsapp.model_copy(update={"graph_url": url})
    return settings.model_copy(update={"whatsapp": whatsapp})


def campaigns_for_demo(settings: Settings, bind_host: str, bind_port: int) -> Settings:
    """Settings for the campaigns demo: receipts come back to the bound address (unless
    ``SSMAS_CAMPAIGNS_PUBLIC_URL`` is set), the local fake SMS provider leaves the dashboard's
    port, and quiet hours are off unless ``SSMAS_CAMPAIGNS_QUIET_*`` set them, so the demo's
    campaign goes out whatever the hour in Mexico."""
    section = settings.campaigns
    given = section.model_fields_set
    update: dict[str, object] = {}
    if "public_url" not in given:
        host = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host
        update["public_url"] = f"http://{host}:{bind_port}"
    provider = urlparse(section.provider_url)
    if provider.hostname in ("127.0.0.1", "localhost") and provider.port == bind_port:
        netloc = f"{provider.hostname}:{_free_port(provider.hostname)}"
        update["provider_url"] = provider._replace(netloc=netloc).geturl()
    if not {"quiet_start_hour", "quiet_end_hour"} & given:
        update["quiet_start_hour"] = update["quiet_end_hour"] = 0  # equal hours: never quiet
    campaigns = section.model_copy(update=update)
    return settings.model_copy(update={"campaigns": campaigns})


def adops_for_demo(settings: Settings) -> Settings:
    """Settings for the AdOps demo: the agents act (unless ``SSMAS_INCIDENTS_AGENT_MODE`` is
    set) and the demo's own key, named ``demo``, is one of the approvers."""
    section = settings.incidents
    update: dict[str, object] = {}
    if "agent_mode" not in section.model_fields_set:
        update["agent_mode"] = "active"
    if "demo" not in section.agent_approvers:
        update["agent_approvers"] = [*section.agent_approvers, "demo"]
    return settings.model_copy(update={"incidents": section.model_copy(update=update)})


demo_app = typer.Typer(
    name="demo", help="Run the platform with every product's demo scenario.", add_completion=False
)


@demo_app.callback(invoke_without_command=True)
def demo_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to bind.")] = None,
) -> None:
    """Run the platform with every product's demo scenario; the dashboard on port 8000."""
    base = get_settings()
    bind_host = host or base.host
    bind_port = port or base.port
    # Scenarios find the API through platform.settings, so it carries the bound address.
    settings = base.model_copy(update={"host": bind_host, "port": bind_port})
    settings = move_graph_fake(settings, bind_port)
    settings = campaigns_for_demo(settings, bind_host, bind_port)
    settings = adops_for_demo(settings)
    settings.ensure_dirs()
    warning = secret_warning(settings)
    if warning:
        _console.print(warning, style="yellow", soft_wrap=True, highlight=False)
    scenarios = [p.name for p in all_products() if p.demo is not None]

    def announce(platform: Platform) -> None:
        key = ensure_demo_key(platform)
        _console.print(
            Panel.fit(
                f"Dashboard: [bold]http://{bind_host}:{bind_port}/[/bold]\n"
                f"API key (log in with it; also in {_key_path(settings)}):\n[bold]{key}[/bold]\n"
                f"Scenarios: {', '.join(scenarios) or 'platform only'}\n"
                "Stop with Ctrl-C.",
                title="SSMAS demo",
            )
        )

    run_up(settings, host=host, port=port, demo=True, on_ready=announce)
