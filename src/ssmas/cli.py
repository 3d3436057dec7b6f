"""The ``ssmas`` command line: platform commands plus one sub-app per product.

Commands only translate arguments, call a service and print the outcome; bad input exits with
code 2 and a one-line message, never a traceback. Every sub-app is imported only when it runs
(:class:`LazyGroup`): the products' declarations (``ssmas.bootstrap``) give their names and
one-line summaries, so ``ssmas --help`` and ``ssmas version`` import no product code.
"""

from __future__ import annotations

from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from ssmas import __version__

__all__ = ["PLATFORM_COMMANDS", "LazyGroup", "app", "main"]

# (command, "module:attribute" of its Typer app, one-line help) of the platform's own commands.
PLATFORM_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("db", "ssmas.core.commands:db_app", "Database schema: upgrade, current revision."),
    ("keys", "ssmas.core.commands:keys_app", "API keys: create, list, revoke; PII key ring."),
    ("audit", "ssmas.core.security_commands:audit_app", "The audit log: list, verify."),
    ("serve", "ssmas.server:serve_app", "Serve the HTTP API (uvicorn)."),
    ("up", "ssmas.server:up_app", "Run the API and every background worker, each supervised."),
    ("worker", "ssmas.server:worker_app", "Run one product's background workers."),
    ("demo", "ssmas.demo:demo_app", "Run the platform with every product's demo scenario."),
    ("backup", "ssmas.ops.backup.commands:backup_app", "Backups: create, list, verify, restore."),
    ("dr", "ssmas.ops.backup.commands:dr_app", "Disaster recovery: the restore drill (RTO, RPO)."),
)


def lazy_commands() -> dict[str, tuple[str, str]]:
    """``name → ("module:attribute", help)`` of the platform commands and the products' CLIs."""
    from ssmas.bootstrap import all_products

    table = {name: (spec, text) for name, spec, text in PLATFORM_COMMANDS}
    for product in all_products():
        if product.cli is not None:
            table[product.name] = (product.cli, product.summary)
    return table


class LazyGroup(TyperGroup):
    """A Typer group whose sub-apps are imported when they are run, not when it is built.

    While help is being written, a sub-command is a placeholder that carries only its one-line
    help, so listing the commands imports nothing.
    """

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        own = super().list_commands(ctx)
        return [*own, *(name for name in lazy_commands() if name not in own)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        entry = lazy_commands().get(cmd_name)
        if entry is None:
            return None
        spec, text = entry
        if self._listing:
            return TyperCommand(cmd_name, help=text, short_help=text)
        from ssmas.core.product import resolve

        command = typer.main.get_command(resolve(spec))
        command.name = cmd_name
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="ssmas",
    cls=LazyGroup,
    help="SSMAS AI platform: its products on one operational core.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def callback() -> None:
    """SSMAS AI platform."""


@app.command()
def version() -> None:
    """Print the platform version."""
    typer.echo(__version__)


def main() -> None:
    """Run the ``ssmas`` command (the console script): invalid settings end it with one line
    naming the variable at fault and exit code 2, not a traceback."""
    try:
        app()
    except Exception as exc:
        from ssmas.settings import SettingsError

        if not isinstance(exc, SettingsError):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
