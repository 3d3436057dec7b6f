"""How every ``ssmas`` command ends on bad input: one line on stderr and exit code 2.

Shared by the platform's and the products' Typer apps, so the message shape (``error: ...``,
never wrapped, never a traceback) is the same whichever command refused.
"""

from __future__ import annotations

from typing import NoReturn

import typer

__all__ = ["fail", "first_line"]


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` on one line to stderr and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
