"""The ``ssmas`` command line: platform commands plus one sub-app per product.

Commands only translate arguments, call a service and print the outcome; bad input exits with
code 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import importlib

import typer
from rich.console import Console

from ssmas import __version__

app = typer.Typer(
    name="ssmas",
    help="SSMAS AI platform: pricing, adops, assistant and campaigns on one core.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

# (module, attribute, command name): each sub-app lives beside the code it drives.
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("ssmas.core.commands", "db_app", "db"),
    ("ssmas.core.commands", "keys_app", "keys"),
    ("ssmas.server", "serve_app", "serve"),
    ("ssmas.server", "up_app", "up"),
    ("ssmas.server", "worker_app", "worker"),
    ("ssmas.demo", "demo_app", "demo"),
    ("ssmas.assistant.commands", "assistant_app", "assistant"),
    ("ssmas.exchange.commands", "exchange_app", "exchange"),
    ("ssmas.pricing.commands", "pricing_app", "pricing"),
]


def _register_subcommands() -> None:
    for module_name, attr, name in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        app.add_typer(getattr(module, attr), name=name)


@app.callback()
def main() -> None:
    """SSMAS AI platform."""


@app.command()
def version() -> None:
    """Print the platform version."""
    typer.echo(__version__)


_register_subcommands()


if __name__ == "__main__":
    app()
