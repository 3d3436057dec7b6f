"""``ssmas ops heal``: an operator's hand on the self-healing supervisor of ``ssmas up``.

The supervisor lives in the ``ssmas up`` process, so ``reset`` asks that process through its API
(``POST /ops/healing/{worker}/reset``, an ``ops:admin`` key as the audited actor) rather than
guessing its state from outside. A refusal (unknown worker, breaker not open, no key, no server)
is one line and exit code 2.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console

from ssmas.core.cli_errors import fail, first_line

__all__ = ["heal_app"]

heal_app = typer.Typer(
    name="heal",
    help="The worker supervisor of `ssmas up`: reset a worker's open circuit breaker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
TIMEOUT_S = 30.0


def _server_url(option: str | None) -> str:
    if option:
        return option.rstrip("/")
    from ssmas.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        fail(str(exc))
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _refusal(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return f"{body['message']} ({body.get('error', response.status_code)})"
    return f"the server answered {response.status_code}"


@heal_app.command("reset")
def reset(
    worker: str = typer.Argument(..., help="PRODUCT.WORKER, as GET /ops/healing names it."),
    url: str | None = typer.Option(
        None, "--url", help="The `ssmas up` server (default: http://<settings host>:<port>)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="SSMAS_API_KEY", help="An ops:admin API key (or SSMAS_API_KEY)."
    ),
) -> None:
    """Close a worker's open circuit breaker and restart it now (journalled and audited)."""
    if not api_key:
        fail("a reset needs an ops:admin --api-key (or SSMAS_API_KEY)")
    base = _server_url(url)
    try:
        response = httpx.post(
            f"{base}/ops/healing/{quote(worker, safe='')}/reset",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        fail(f"no answer from {base}: {first_line(exc)} (is `ssmas up` running?)")
    if response.status_code != 200:
        fail(_refusal(response))
    body = response.json()
    pids = ", ".join(str(r["pid"]) for r in body["replicas"] if r.get("pid") is not None)
    out.print(
        f"breaker of {body['worker']} closed by {body['actor']}; "
        + (f"running as pid {pids}" if pids else "restart pending"),
        highlight=False,
    )
